"""The HTTP half of the client: authentication, projects, configurations.

Synchronous on purpose: the API document makes ``create_project`` and
``download_project`` synchronous, and the realtime session calls these
through ``asyncio.to_thread`` so the event loop never waits on the network.
"""

from __future__ import annotations

import json
import threading
from typing import Any
from urllib.parse import quote

import httpx

from protocol.client.errors import (
    AuthenticationError,
    NotFoundError,
    ProjectCreationError,
    ProjectNotFoundError,
    ServerError,
    ServerUnreachableError,
)
from protocol.projects import (
    MalformedAnswer,
    ProjectSummary,
    ProjectVersion,
    parse_project_list,
    parse_version_list,
)

__all__ = ["SDK_VERSION", "DistillerHttp", "normalize_base_url"]

SDK_VERSION = "0.1.0"


def normalize_base_url(base_url: str) -> str:
    """``http(s)://host[:port][/prefix]`` without a trailing slash, or ValueError."""
    url = base_url.strip().rstrip("/")
    parsed = httpx.URL(url) if url else None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(
            f"base_url must look like 'http://host:port' or 'https://host', not {base_url!r}"
        )
    return url


def error_message(response: httpx.Response) -> str:
    """The server's explanation of a failed request, whatever shape it came in."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return error["message"]
        if isinstance(error, str):
            return error
        detail = body.get("detail")  # FastAPI's default error shape
        if isinstance(detail, str):
            return detail
        if detail is not None:
            return json.dumps(detail)
    return json.dumps(body)


def error_problems(response: httpx.Response) -> list[str]:
    """Each problem the server listed (``error.errors``), or its one message if it sent no list."""
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    listed = error.get("errors") if isinstance(error, dict) else None
    if isinstance(listed, list) and listed and all(isinstance(p, str) for p in listed):
        return list(listed)
    return [error_message(response)]


class DistillerHttp:
    """Blocking HTTP calls to one Distiller server with one API key."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 30.0,
        default_headers: dict[str, str] | None = None,
    ) -> None:
        self.base_url = normalize_base_url(base_url)
        self._api_key = api_key
        self._default_headers = dict(default_headers or {})
        self._client = httpx.Client(timeout=timeout)
        self._account: str | None = None
        self._account_lock = threading.Lock()

    def headers(self, *, with_account: bool = False) -> dict[str, str]:
        """What every request carries; the WebSocket handshake uses them too."""
        headers = {
            **self._default_headers,
            "Authorization": f"Bearer {self._api_key}",
            "sdk_version": SDK_VERSION,
            "Content-Type": "application/json",
        }
        if with_account:
            headers["airefinery_account"] = self.account()
        return headers

    def _request(
        self, method: str, path: str, *, body: Any = None, with_account: bool = False
    ) -> httpx.Response:
        url = f"{self.base_url}/{path}"
        try:
            return self._client.request(
                method,
                url,
                headers=self.headers(with_account=with_account),
                content=None if body is None else json.dumps(body),
            )
        except httpx.TransportError as exc:
            raise ServerUnreachableError(self.base_url, str(exc) or type(exc).__name__) from exc

    def _check(self, response: httpx.Response, what: str) -> Any:
        """Map the failures every call shares; return the JSON body on success."""
        if response.status_code == 401:
            raise AuthenticationError(self.base_url, error_message(response))
        if response.is_error:
            raise ServerError(f"{what} failed ({response.status_code}): {error_message(response)}")
        try:
            return response.json()
        except ValueError:
            raise ServerError(f"{what} returned a body that is not JSON") from None

    def call(self, method: str, path: str, what: str, *, body: Any = None) -> Any:
        """One of our JSON endpoints; a 404 is `NotFoundError`, other failures as `_check`."""
        response = self._request(method, path, body=body)
        if response.status_code == 404:
            raise NotFoundError(error_message(response))
        return self._check(response, what)

    def account(self) -> str:
        """The account the API key belongs to; validated once, then remembered."""
        with self._account_lock:
            if self._account is None:
                response = self._request("POST", "authentication/validate")
                body = self._check(response, "authentication")
                account = body.get("organization_id") if isinstance(body, dict) else None
                if not isinstance(account, str) or not account:
                    raise ServerError("authentication answer has no 'organization_id'")
                self._account = account
            return self._account

    def create_project(self, project: str, config: dict[str, Any]) -> int:
        """Store ``config`` as the next version of ``project``; return that version."""
        response = self._request(
            "POST",
            "distiller/create",
            body={"project": project, "config": config, "sdk_version": SDK_VERSION},
            with_account=True,
        )
        if response.status_code == 401:
            raise AuthenticationError(self.base_url, error_message(response))
        if response.status_code != 201:
            raise ProjectCreationError(
                project, error_message(response), response.status_code, error_problems(response)
            )
        body = self._check(response, "project creation")
        version = body.get("project_version") if isinstance(body, dict) else None
        if not isinstance(version, int):
            raise ServerError("project creation answer has no integer 'project_version'")
        return version

    def download_project(self, project: str, version: str | None = None) -> dict[str, Any]:
        """The stored configuration of ``project`` (latest, or ``version``)."""
        response = self._request(
            "POST",
            "distiller/download",
            body={"project": project, "project_version": version, "sdk_version": SDK_VERSION},
            with_account=True,
        )
        if response.status_code == 404:
            raise ProjectNotFoundError(project, version, error_message(response))
        body = self._check(response, "project download")
        try:
            config = json.loads(json.loads(body["config"]))  # the server encodes it twice
        except (KeyError, TypeError, ValueError) as exc:
            raise ServerError(f"project download answer has no usable 'config' ({exc})") from None
        if not isinstance(config, dict):
            raise ServerError("downloaded configuration is not a mapping")
        return config

    def list_projects(self) -> list[ProjectSummary]:
        """Every project of the account, with its newest version."""
        body = self._check(self._request("GET", "distiller/projects"), "listing projects")
        try:
            return parse_project_list(body)
        except MalformedAnswer as exc:
            raise ServerError(f"unexpected project list: {exc}") from None

    def list_versions(self, project: str) -> list[ProjectVersion]:
        """Every stored version of ``project``."""
        response = self._request("GET", f"distiller/projects/{quote(project, safe='')}")
        if response.status_code == 404:
            raise ProjectNotFoundError(project, None, error_message(response))
        body = self._check(response, f"listing versions of '{project}'")
        try:
            return parse_version_list(body)
        except MalformedAnswer as exc:
            raise ServerError(f"unexpected version list: {exc}") from None

    def close(self) -> None:
        self._client.close()
