"""The client object users build, shaped like the API document's ``AsyncAIRefinery``.

``AsyncDistillerClient(api_key=...)`` stands in for ``AsyncAIRefinery(api_key=...)``;
everything realtime hangs off ``client.realtime_distiller`` exactly as the
document describes, so its examples run with only the import and the client
construction changed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from protocol.client.addressing import project_version_text
from protocol.client.conversations import Conversations
from protocol.client.http import DistillerHttp
from protocol.client.voice import VoiceSession
from protocol.conversation import Conversation
from protocol.names import check_name
from protocol.projects import ProjectSummary, ProjectVersion

__all__ = ["DEFAULT_BASE_URL", "AsyncDistillerClient", "RealtimeDistiller", "resolve_base_url"]

DEFAULT_BASE_URL = "http://127.0.0.1:8765"


def resolve_base_url(base_url: str | None = None) -> str:
    """``base_url``, else env ``DISTILLER_BASE_URL``, then ``AIR_BASE_URL``, then the default."""
    return (
        base_url
        or os.environ.get("DISTILLER_BASE_URL")
        or os.environ.get("AIR_BASE_URL")
        or DEFAULT_BASE_URL
    )


def load_config_file(config_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a project YAML into the JSON object the server expects."""
    path = Path(config_path)
    try:
        with path.open(encoding="utf-8") as stream:  # a named stream: errors cite the file
            config = yaml.safe_load(stream)
    except FileNotFoundError:
        raise FileNotFoundError(f"project configuration file not found: {path}") from None
    except (IsADirectoryError, PermissionError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read project configuration {path}: {exc}") from None
    except yaml.YAMLError as exc:
        raise ValueError(f"project configuration {path} is not valid YAML: {exc}") from None
    if not isinstance(config, dict):
        kind = "empty" if config is None else f"a {type(config).__name__}"
        raise ValueError(f"project configuration {path} must be a YAML mapping, but it is {kind}")
    return config


class RealtimeDistiller:
    """``client.realtime_distiller``: projects over HTTP, sessions over WebSocket."""

    def __init__(self, http: DistillerHttp, audio_backend: Any = None) -> None:
        self._http = http
        self._audio_backend = audio_backend
        self.conversations = Conversations(http)
        """Past conversations per project (ours): list, read, rename, delete."""

    def create_project(
        self,
        *,
        project: str,
        config_path: str | os.PathLike[str] | None = None,
        json_config: Mapping[str, Any] | None = None,
    ) -> bool:
        """Store a configuration (a YAML file, or a mapping) as the project's next version.

        Returns True; a rejected configuration raises `ProjectCreationError`
        carrying the server's reasons.
        """
        check_name(project, "project")
        if (config_path is None) == (json_config is None):
            raise ValueError("pass exactly one of config_path= (a YAML file) or json_config=")
        config = (
            load_config_file(config_path) if config_path is not None else dict(json_config or {})
        )
        self._http.create_project(project, config)
        return True

    def download_project(
        self, project: str, project_version: str | int | None = None
    ) -> dict[str, Any]:
        """The stored configuration of the project (latest version unless one is given)."""
        check_name(project, "project")
        return self._http.download_project(project, project_version_text(project_version))

    def list_projects(self) -> list[ProjectSummary]:
        """The account's projects with their newest version (ours, for the project browser)."""
        return self._http.list_projects()

    def list_versions(self, project: str) -> list[ProjectVersion]:
        """Every stored version of a project (ours, for the project browser)."""
        check_name(project, "project")
        return self._http.list_versions(project)

    def __call__(
        self,
        *,
        project: str,
        uuid: str,
        executor_dict: Mapping[str, Any] | None = None,
        project_version: str | int | None = None,
        conversation: Conversation | None = None,
        reconnect_within: float = 0.0,
    ) -> VoiceSession:
        """A session for ``async with``: connects on entry, closes on exit.

        Ours: ``conversation`` continues an earlier connection's conversation;
        ``reconnect_within`` (seconds) keeps a dropped session alive by
        reconnecting (behind a load balancer, to another replica), asking again
        whatever answer was cut off. 0, the default, ends the session on a drop,
        as the published SDK does.
        """
        return VoiceSession(
            self._http,
            project=project,
            uuid=uuid,
            executor_dict=executor_dict,
            project_version=project_version,
            audio_backend=self._audio_backend,
            conversation=conversation,
            reconnect_within=reconnect_within,
        )


class AsyncDistillerClient:
    """Entry point: ``AsyncDistillerClient(api_key=..., base_url=...)``.

    ``api_key`` falls back to env ``API_KEY``; ``base_url`` to env
    ``DISTILLER_BASE_URL``, then ``AIR_BASE_URL``, then ``http://127.0.0.1:8765``.
    ``audio_backend`` (a backend from ``audio.open_backend`` or a kind string
    like ``"null"`` or ``"file:mic.wav:speaker.wav"``) is what the voice
    methods play and record through; without it they honour env
    ``DISTILLER_AUDIO`` and otherwise use the sound card. Nothing touches the
    network until the first call that needs it.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        audio_backend: Any = None,
        default_headers: dict[str, str] | None = None,
        timeout: float = 30.0,
    ) -> None:
        key = api_key if api_key is not None else os.environ.get("API_KEY")
        if not isinstance(key, str) or not key.strip():
            raise ValueError("no API key: pass api_key=... or set the API_KEY environment variable")
        self.api_key = key
        self.base_url = resolve_base_url(base_url)
        self._http = DistillerHttp(
            self.base_url, key, timeout=timeout, default_headers=default_headers
        )
        self.base_url = self._http.base_url
        self.realtime_distiller = RealtimeDistiller(self._http, audio_backend)

    @property
    def account(self) -> str:
        """The account the API key belongs to (asks the server the first time)."""
        return self._http.account()

    def close(self) -> None:
        """Release the HTTP connection pool."""
        self._http.close()

    async def __aenter__(self) -> AsyncDistillerClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
