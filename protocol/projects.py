"""Typed answers of the project-listing endpoints (ours, not in the hosted API).

The app's project browser shows these; dataclasses rather than dicts so a
renamed or missing field fails here, loudly, instead of deep inside a widget.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "ConversationSummary",
    "ProjectSummary",
    "ProjectVersion",
    "SaidEntry",
    "parse_conversation",
    "parse_conversation_list",
    "parse_project_list",
    "parse_version_list",
]


@dataclass(frozen=True, slots=True)
class ProjectSummary:
    """One project of the account: its newest version and how many there are."""

    name: str
    latest_version: int
    version_count: int
    last_created_at: datetime


@dataclass(frozen=True, slots=True)
class ProjectVersion:
    """One stored version of a project."""

    version: int
    created_at: datetime
    agents: tuple[str, ...]
    speech: bool
    flows: tuple[tuple[str, tuple[str, ...]], ...] = ()
    """Each super agent with its steps in run order (ours; empty from other servers)."""

    @property
    def workers(self) -> tuple[str, ...]:
        """The agents that are not super agents."""
        supers = {name for name, _ in self.flows}
        return tuple(a for a in self.agents if a not in supers)


@dataclass(frozen=True, slots=True)
class ConversationSummary:
    """One past conversation with a project (ours): reopen it by its uuid."""

    uuid: str
    title: str
    created_at: datetime
    updated_at: datetime
    questions: int


@dataclass(frozen=True, slots=True)
class SaidEntry:
    """One thing said in a conversation: the user's question or one agent's answer.

    ``cut`` marks an answer the user skipped or interrupted (its heard part).
    """

    role: str
    agent: str
    text: str
    cut: bool


class MalformedAnswer(ValueError):
    """The server's answer does not have the documented shape."""


def _field(obj: Any, key: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or key not in obj:
        raise MalformedAnswer(f"{where}: missing field '{key}'")
    value = obj[key]
    if (isinstance(value, bool) and kind is int) or not isinstance(value, kind):
        raise MalformedAnswer(f"{where}: field '{key}' has the wrong type ({type(value).__name__})")
    return value


def _timestamp(obj: Any, key: str, where: str) -> datetime:
    text = _field(obj, key, str, where)
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedAnswer(f"{where}: field '{key}' is not an ISO-8601 time: {text!r}") from None


def parse_project_list(body: Any) -> list[ProjectSummary]:
    """``GET /distiller/projects`` body -> summaries, in the server's order."""
    items = _field(body, "projects", list, "project list")
    return [
        ProjectSummary(
            name=_field(item, "name", str, f"projects[{i}]"),
            latest_version=_field(item, "latest_version", int, f"projects[{i}]"),
            version_count=_field(item, "version_count", int, f"projects[{i}]"),
            last_created_at=_timestamp(item, "last_created_at", f"projects[{i}]"),
        )
        for i, item in enumerate(items)
    ]


def parse_version_list(body: Any) -> list[ProjectVersion]:
    """``GET /distiller/projects/{name}`` body -> its versions, in the server's order."""
    items = _field(body, "versions", list, "version list")
    versions = []
    for i, item in enumerate(items):
        where = f"versions[{i}]"
        agents = _field(item, "agents", list, where)
        if not all(isinstance(a, str) for a in agents):
            raise MalformedAnswer(f"{where}: field 'agents' must list strings")
        versions.append(
            ProjectVersion(
                version=_field(item, "version", int, where),
                created_at=_timestamp(item, "created_at", where),
                agents=tuple(agents),
                speech=_field(item, "speech", bool, where),
                flows=_flows(item.get("flows"), where),
            )
        )
    return versions


def _flows(value: Any, where: str) -> tuple[tuple[str, tuple[str, ...]], ...]:
    if value is None:
        return ()
    if not isinstance(value, dict) or not all(
        isinstance(steps, list) and all(isinstance(s, str) for s in steps)
        for steps in value.values()
    ):
        raise MalformedAnswer(f"{where}: field 'flows' must map names to lists of agent names")
    return tuple((str(name), tuple(steps)) for name, steps in value.items())


def parse_conversation_list(body: Any) -> tuple[list[ConversationSummary], int | None]:
    """``GET /distiller/conversations/{project}`` body -> (a page, the next page's offset)."""
    items = _field(body, "conversations", list, "conversation list")
    next_offset = body.get("next_offset")
    if next_offset is not None and not isinstance(next_offset, int):
        raise MalformedAnswer("conversation list: field 'next_offset' must be a number or null")
    return [
        ConversationSummary(
            uuid=_field(item, "uuid", str, f"conversations[{i}]"),
            title=_field(item, "title", str, f"conversations[{i}]"),
            created_at=_timestamp(item, "created_at", f"conversations[{i}]"),
            updated_at=_timestamp(item, "updated_at", f"conversations[{i}]"),
            questions=_field(item, "questions", int, f"conversations[{i}]"),
        )
        for i, item in enumerate(items)
    ], next_offset


def parse_conversation(body: Any) -> list[SaidEntry]:
    """``GET /distiller/conversations/{project}/{uuid}`` body -> what was said, in order."""
    items = _field(body, "history", list, "conversation")
    return [
        SaidEntry(
            role=_field(item, "role", str, f"history[{i}]"),
            agent=_field(item, "agent", str, f"history[{i}]"),
            text=_field(item, "text", str, f"history[{i}]"),
            cut=_field(item, "cut", bool, f"history[{i}]"),
        )
        for i, item in enumerate(items)
    ]
