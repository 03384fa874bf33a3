"""What the app was asked to do at launch (CLI flags merged with settings)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class LaunchOptions:
    """Where to find an engine, what to preselect, and how to do audio.

    ``server_url`` None means: start the embedded engine on ``data_dir``.
    ``offline`` means: no engine and no network at all (canned-data tests).
    """

    server_url: str | None = None
    api_key: str | None = None
    data_dir: Path | None = None
    project: str | None = None
    version: int | None = None
    uuid: str | None = None
    engine_args: tuple[str, ...] = ()
    seed_examples: bool = True
    offline: bool = False
    audio: Any = None
    """An audio backend (or kind string) for the audio actor; None = the sound card."""
    executor_dict: dict[str, Any] = field(default_factory=dict)
    startup_timeout: float = 120.0
