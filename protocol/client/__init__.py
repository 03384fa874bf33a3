"""The Realtime Distiller client SDK.

``AsyncDistillerClient`` mirrors the API document's ``AsyncAIRefinery``: its
``realtime_distiller`` attribute creates and downloads projects and opens
realtime sessions. Voice methods load ``audio`` only when they run.
"""

from __future__ import annotations

from protocol.client import keypress as realtime_helper
from protocol.client.client import DEFAULT_BASE_URL, AsyncDistillerClient, RealtimeDistiller
from protocol.client.errors import (
    AuthenticationError,
    ConnectionLostError,
    DistillerError,
    ProjectCreationError,
    ProjectNotFoundError,
    ServerError,
    ServerUnreachableError,
    UserAlreadyConnectedError,
)
from protocol.client.keypress import CancelOnKeypress
from protocol.client.session import RealtimeSession
from protocol.projects import ProjectSummary, ProjectVersion

__all__ = [
    "DEFAULT_BASE_URL",
    "AsyncDistillerClient",
    "AuthenticationError",
    "CancelOnKeypress",
    "ConnectionLostError",
    "DistillerError",
    "ProjectCreationError",
    "ProjectNotFoundError",
    "ProjectSummary",
    "ProjectVersion",
    "RealtimeDistiller",
    "RealtimeSession",
    "ServerError",
    "ServerUnreachableError",
    "UserAlreadyConnectedError",
    "realtime_helper",
]
