"""Export a conversation to Markdown (to read) or JSON (ours, to process).

The records come from the `Conversation` (what was asked and answered, with
each answer's fate), not from the widgets, so an export says what happened
rather than what happens to be drawn.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from protocol.conversation import Conversation
from widgets.timings import agent_timings

EXPORT_FORMAT = "realtime-distiller.conversation/1"


@dataclass(frozen=True)
class AnswerRecord:
    role: str
    text: str
    state: str
    timings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class TurnRecord:
    user: str
    voice: bool
    answers: tuple[AnswerRecord, ...] = ()


@dataclass(frozen=True)
class ExportHeader:
    """Which conversation this is: project, the version actually talked to, uuid, when."""

    project: str | None
    version: int | None
    uuid: str
    exported_at: datetime

    @property
    def title(self) -> str:
        version = "—" if self.version is None else f"v{self.version}"
        return f"Conversation with {self.project or '—'} ({version})"


def records_from(conversation: Conversation) -> list[TurnRecord]:
    """Every turn that has words in it, as plain records."""
    return [
        TurnRecord(
            user=turn.query,
            voice=turn.voice,
            answers=tuple(
                AnswerRecord(a.role, a.text, a.state, agent_timings(turn.metadata, a.role))
                for a in turn.answers
            ),
        )
        for turn in conversation.turns
        if turn.query or turn.answers
    ]


def to_markdown(turns: list[TurnRecord], header: ExportHeader) -> str:
    lines = [
        f"# {header.title}",
        "",
        f"- uuid: `{header.uuid}`",
        f"- exported: {header.exported_at.isoformat(timespec='seconds')}",
        "",
    ]
    for number, turn in enumerate(turns, 1):
        who = "You (voice)" if turn.voice else "You"
        lines += [f"## Turn {number}", "", f"**{who}:** {turn.user}"]
        for answer in turn.answers:
            mark = "" if answer.state in ("done", "streaming") else f" _({answer.state})_"
            lines += ["", f"**{answer.role}**{mark}:", "", answer.text.strip() or "_(no text)_"]
        lines.append("")
    return "\n".join(lines)


def to_json(turns: list[TurnRecord], header: ExportHeader) -> str:
    document = {
        "format": EXPORT_FORMAT,
        "project": header.project,
        "version": header.version,
        "uuid": header.uuid,
        "exported_at": header.exported_at.isoformat(timespec="seconds"),
        "turns": [asdict(turn) for turn in turns],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
