"""Every error the client SDK raises on purpose, in one place.

Each says what happened in words a user can act on, and keeps the details
(project, version, close code, server message) as attributes so an app can
show them without parsing the text.
"""

from __future__ import annotations

__all__ = [
    "AuthenticationError",
    "ConnectionLostError",
    "DistillerError",
    "NotFoundError",
    "ProjectCreationError",
    "ProjectNotFoundError",
    "ServerError",
    "ServerUnreachableError",
    "UserAlreadyConnectedError",
]


class DistillerError(Exception):
    """Base class: catch this to handle any failure the SDK reports."""


class AuthenticationError(DistillerError):
    """The server refused the API key."""

    def __init__(self, base_url: str, detail: str = "") -> None:
        self.base_url = base_url
        self.detail = detail
        message = f"Authentication refused by {base_url}: the API key was not accepted"
        super().__init__(f"{message} ({detail})" if detail else message)


class ProjectNotFoundError(DistillerError):
    """The project, or the version of it that was asked for, does not exist."""

    def __init__(self, project: str, version: str | None = None, detail: str = "") -> None:
        self.project = project
        self.version = version
        self.detail = detail  # the server's own words, kept for logs
        what = f"project '{project}'"
        if version is not None:
            what += f" version {version}"
        super().__init__(f"{what} not found on the server")


class NotFoundError(DistillerError):
    """What was asked for (a conversation, …) does not exist; the server's words say which."""


class ProjectCreationError(DistillerError):
    """The server rejected a project configuration; ``reasons`` says why.

    ``problems`` lists each problem on its own (the server's ``error.errors``,
    each naming its key path), so an app can show them without parsing
    ``reasons``; a server that sends no list gives ``[reasons]``.
    """

    def __init__(
        self,
        project: str,
        reasons: str,
        status_code: int | None = None,
        problems: list[str] | None = None,
    ) -> None:
        self.project = project
        self.reasons = reasons
        self.status_code = status_code
        self.problems = list(problems) if problems else [reasons]
        super().__init__(f"project '{project}' was rejected by the server: {reasons}")


class ServerUnreachableError(DistillerError, ConnectionError):
    """Nothing answered at the base URL (server not running, wrong host or port)."""

    def __init__(self, base_url: str, detail: str) -> None:
        self.base_url = base_url
        self.detail = detail
        super().__init__(f"cannot reach the Distiller server at {base_url}: {detail}")


class ConnectionLostError(DistillerError, ConnectionError):
    """The realtime WebSocket closed while the session was in use."""

    def __init__(self, code: int | None, reason: str) -> None:
        self.code = code
        self.reason = reason
        where = f"code {code}" if code is not None else "no close frame"
        text = f": {reason}" if reason else ""
        super().__init__(f"realtime connection lost ({where}){text}")


class UserAlreadyConnectedError(ConnectionLostError):
    """Another live session uses the same account, project and uuid."""

    def __init__(self, project: str, uuid: str, reason: str = "User is already connected") -> None:
        self.project = project
        self.uuid = uuid
        super().__init__(1011, reason)
        self.args = (
            f"user '{uuid}' is already connected to project '{project}'; "
            "close the other session first or use another uuid",
        )


class ServerError(DistillerError):
    """The server sent an ``error`` frame; ``message`` is its text."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(f"the server reported an error: {message}")
