"""Opening the realtime WebSocket, and naming why it closed, as the SDK's error types."""

from __future__ import annotations

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from protocol.client.errors import (
    AuthenticationError,
    ConnectionLostError,
    ProjectNotFoundError,
    ServerError,
    ServerUnreachableError,
    UserAlreadyConnectedError,
)

MAX_FRAME_BYTES = 167_772_160  # what the published SDK accepts


async def open_connection(
    url: str,
    headers: dict[str, str],
    open_timeout: float,
    base_url: str,
    project: str,
    version: str | None,
) -> ClientConnection:
    """Connect like the published SDK; a refusal becomes the error that says why."""
    try:
        return await connect(
            url,
            additional_headers=headers,
            max_size=MAX_FRAME_BYTES,
            ping_interval=None,  # the server PINGs in JSON; no protocol-level pings
            open_timeout=open_timeout,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        body = exc.response.body.decode("utf-8", "replace").strip() if exc.response.body else ""
        if status in (401, 403):
            raise AuthenticationError(base_url, body) from None
        if status == 404:
            raise ProjectNotFoundError(project, version, body) from None
        raise ServerError(f"the realtime connection was refused ({status}): {body}") from None
    except InvalidHandshake as exc:
        raise ServerError(f"the realtime handshake failed: {exc}") from None
    except (OSError, TimeoutError) as exc:
        raise ServerUnreachableError(base_url, str(exc) or type(exc).__name__) from None


def closed_error(exc: ConnectionClosed, project: str, uuid: str) -> ConnectionLostError:
    """The typed error for a connection the server (or the network) ended."""
    close = exc.rcvd or exc.sent
    code = close.code if close is not None else None
    reason = close.reason if close is not None else ""
    if code == 1011 and "already connected" in reason.lower():
        return UserAlreadyConnectedError(project, uuid, reason)
    return ConnectionLostError(code, reason)
