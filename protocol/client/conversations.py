"""Past conversations with a project (ours): list, read, rename, delete.

The engine keeps every user's history per (project, uuid); these calls let an
app show yesterday's conversations and continue one under its uuid. Blocking,
like the rest of the SDK's HTTP calls: run them in a thread from async code.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote, urlencode

from protocol.client.errors import ServerError
from protocol.client.http import DistillerHttp
from protocol.names import check_name
from protocol.projects import (
    ConversationSummary,
    MalformedAnswer,
    SaidEntry,
    parse_conversation,
    parse_conversation_list,
)

__all__ = ["Conversations"]

T = TypeVar("T")


class Conversations:
    """``client.realtime_distiller.conversations``."""

    def __init__(self, http: DistillerHttp) -> None:
        self._http = http

    def list(
        self, project: str, *, query: str = "", limit: int = 50, offset: int = 0
    ) -> tuple[list[ConversationSummary], int | None]:
        """A page of ``project``'s conversations, newest first, and the next page's offset."""
        params = urlencode({"query": query, "limit": limit, "offset": offset})
        body = self._http.call("GET", f"{self._path(project)}?{params}", "listing conversations")
        return self._parsed(parse_conversation_list, body)

    def read(self, project: str, uuid: str) -> list[SaidEntry]:
        """What was said in one conversation; `NotFoundError` if there is none."""
        body = self._http.call("GET", self._path(project, uuid), f"reading conversation {uuid}")
        return self._parsed(parse_conversation, body)

    def rename(self, project: str, uuid: str, title: str) -> None:
        what = f"renaming conversation {uuid}"
        self._http.call("PATCH", self._path(project, uuid), what, body={"title": title})

    def delete(self, project: str, uuid: str) -> None:
        self._http.call("DELETE", self._path(project, uuid), f"deleting conversation {uuid}")

    @staticmethod
    def _path(project: str, uuid: str | None = None) -> str:
        path = f"distiller/conversations/{quote(check_name(project, 'project'), safe='')}"
        return path if uuid is None else f"{path}/{quote(check_name(uuid, 'uuid'), safe='')}"

    @staticmethod
    def _parsed(parse: Callable[[Any], T], body: Any) -> T:
        try:
            return parse(body)
        except MalformedAnswer as exc:
            raise ServerError(f"unexpected answer: {exc}") from None
