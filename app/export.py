"""Export a conversation to Markdown (to read) or JSON (ours, to process)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from widgets.conversation import ConversationView

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


def records_from_view(view: ConversationView) -> list[TurnRecord]:
    """What the conversation pane shows, as plain records."""
    return [
        TurnRecord(
            user=turn.user.text,
            voice=turn.user.voice,
            answers=tuple(
                AnswerRecord(a.role, a.text, a.state, dict(a.timings)) for a in turn.answers
            ),
        )
        for turn in view.turns
    ]


def to_markdown(turns: list[TurnRecord], *, title: str) -> str:
    lines = [f"# {title}", ""]
    for number, turn in enumerate(turns, 1):
        who = "You (voice)" if turn.voice else "You"
        lines += [f"## Turn {number}", "", f"**{who}:** {turn.user}"]
        for answer in turn.answers:
            mark = "" if answer.state in ("done", "streaming") else f" _({answer.state})_"
            lines += ["", f"**{answer.role}**{mark}:", "", answer.text.strip() or "_(no text)_"]
        lines.append("")
    return "\n".join(lines)


def to_json(turns: list[TurnRecord], *, project: str | None, version: int | None, uuid: str) -> str:
    document = {
        "format": EXPORT_FORMAT,
        "project": project,
        "version": version,
        "uuid": uuid,
        "turns": [asdict(turn) for turn in turns],
    }
    return json.dumps(document, indent=2, ensure_ascii=False)
