"""Per-turn timings from ``response.done`` metadata, as one short dimmed line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def _seconds(value: Any) -> str | None:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.2f} s"
    return None


def agent_timings(metadata: Mapping[str, Any], role: str) -> dict[str, Any]:
    """The timings the engine reported for one agent (empty if none)."""
    timings = metadata.get("timings")
    if not isinstance(timings, Mapping):
        return {}
    agents = timings.get("agents")
    entry = agents.get(role) if isinstance(agents, Mapping) else None
    return dict(entry) if isinstance(entry, Mapping) else {}


def format_agent_timings(metadata: Mapping[str, Any], role: str) -> str:
    """``first text 0.12 s · first audio 0.48 s · asr 0.20 s`` (parts that are known)."""
    entry = agent_timings(metadata, role)
    parts = []
    for key, label in (("first_text_s", "first text"), ("first_audio_s", "first audio")):
        shown = _seconds(entry.get(key))
        if shown:
            parts.append(f"{label} {shown}")
    timings = metadata.get("timings")
    if isinstance(timings, Mapping):
        asr = _seconds(timings.get("asr_s"))
        if asr:
            parts.append(f"asr {asr}")
    return " · ".join(parts)
