"""The Realtime Distiller wire protocol: events (sans-I/O) and the client SDK.

``protocol.events`` has no I/O and is what the server builds on. The client
SDK (``AsyncDistillerClient``, ``CancelOnKeypress``, the error types) is
imported lazily so the server never pulls in httpx or websockets through
this package.
"""

from __future__ import annotations

from typing import Any

from protocol import events
from protocol.events import ProtocolError, parse, serialize

# Names served from protocol.client on first use.
_CLIENT_EXPORTS = frozenset(
    {
        "AsyncDistillerClient",
        "AuthenticationError",
        "CancelOnKeypress",
        "ConnectionLostError",
        "DistillerError",
        "ProjectCreationError",
        "ProjectNotFoundError",
        "ProjectSummary",
        "ProjectVersion",
        "RealtimeSession",
        "ServerError",
        "ServerUnreachableError",
        "UserAlreadyConnectedError",
        "realtime_helper",
    }
)

__all__ = ["ProtocolError", "events", "parse", "serialize", *sorted(_CLIENT_EXPORTS)]


def __getattr__(name: str) -> Any:
    if name in _CLIENT_EXPORTS:
        from protocol import client

        return getattr(client, name)
    raise AttributeError(f"module 'protocol' has no attribute {name!r}")
