"""What every HTTP route needs: the JSON error, the caller's account, a JSON body, names.

The project routes (`server.http_api`) and the conversation routes
(`server.conversations_api`) share these, so a request is checked one way.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse

from protocol.names import name_problem
from server.auth import account_for
from server.store import Store


class ApiError(Exception):
    """An HTTP error with a JSON body ``{"error": {"message": ...}}``."""

    def __init__(self, status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.extra = extra

    def response(self) -> JSONResponse:
        return JSONResponse({"error": {"message": self.message, **self.extra}}, self.status)


def store_of(request: Request) -> Store:
    return request.app.state.store


def account_of(request: Request) -> str:
    account = account_for(request.app.state.settings, request.headers.get("authorization"))
    if account is None:
        raise ApiError(401, "missing or invalid API key (send 'Authorization: Bearer <key>')")
    return account


async def json_body(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw:
        raise ApiError(400, "request body is empty; expected a JSON object")
    try:
        body = json.loads(raw, parse_constant=_refuse_constant)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as exc:
        raise ApiError(400, f"request body is not valid JSON ({exc})") from None
    if not isinstance(body, dict):
        raise ApiError(400, "request body must be a JSON object")
    return body


def _refuse_constant(name: str) -> Any:
    """NaN and Infinity are Python's JSON extensions, not JSON: no config may hold them."""
    raise json.JSONDecodeError(f"{name} is not JSON", name, 0)


def project_name(value: Any) -> str:
    problem = name_problem(value, "project")
    if problem:
        raise ApiError(400, problem)
    return value
