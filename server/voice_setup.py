"""Wiring the speech stack into the server (filled in by the speech integration)."""

from __future__ import annotations

from typing import Any

from server.settings import Settings


def build_speech(settings: Settings, *, enabled: bool) -> tuple[Any, Any]:
    """(speech provider for sessions, model registry) — (None, None) when text only."""
    return None, None
