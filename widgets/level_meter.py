"""Live microphone / speaker level and a scrolling waveform.

The audio actor writes levels into a ring buffer from its own thread; this
widget only *reads* a snapshot on a timer (at most 30 Hz), so no Textual
message is ever posted per audio buffer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

LevelSource = Callable[[], Sequence[float]]
"""Returns recent levels in 0..1, oldest first."""

MAX_REFRESH_HZ = 30.0
_BARS = " ▁▂▃▄▅▆▇█"
_SILENCE = 0.02
_LABELS = {"idle": "idle", "mic": "mic ", "speaker": "out "}


def _bar_char(level: float) -> str:
    level = min(max(level, 0.0), 1.0)
    return _BARS[round(level * (len(_BARS) - 1))]


class LevelMeter(Widget):
    """Shows the mic level while recording, the output level while an agent speaks."""

    COMPONENT_CLASSES = {  # noqa: RUF012 - Textual reads this class attribute
        "level-meter--label",
        "level-meter--bar",
        "level-meter--empty",
        "level-meter--wave",
    }

    mode: reactive[str] = reactive("idle")
    """"idle", "mic" or "speaker"."""

    def __init__(
        self,
        *,
        input_levels: LevelSource | None = None,
        output_levels: LevelSource | None = None,
        refresh_hz: float = 20.0,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self._sources: dict[str, LevelSource | None] = {
            "mic": input_levels,
            "speaker": output_levels,
        }
        self._levels: tuple[float, ...] = ()
        self._refresh_hz = min(refresh_hz, MAX_REFRESH_HZ)

    def on_mount(self) -> None:
        self.set_interval(1.0 / self._refresh_hz, self.poll)

    def set_sources(
        self, input_levels: LevelSource | None, output_levels: LevelSource | None
    ) -> None:
        self._sources = {"mic": input_levels, "speaker": output_levels}

    def poll(self) -> None:
        """Read the active ring buffer; repaint only if something changed."""
        source = self._sources.get(self.mode)
        levels: tuple[float, ...] = tuple(source()) if source is not None else ()
        if levels != self._levels:
            self._levels = levels
            self.refresh()

    def watch_mode(self) -> None:
        self._levels = ()
        self.refresh()

    @property
    def level(self) -> float:
        """The newest level shown (0 when idle or silent)."""
        return self._levels[-1] if self._levels else 0.0

    def render(self) -> Text:
        width = max(self.size.width, 20)
        label_style = self.get_component_rich_style("level-meter--label")
        bar_style = self.get_component_rich_style("level-meter--bar")
        empty_style = self.get_component_rich_style("level-meter--empty")
        wave_style = self.get_component_rich_style("level-meter--wave")
        text = Text(no_wrap=True, overflow="crop")
        text.append(_LABELS.get(self.mode, self.mode), style=label_style)
        text.append(" ")
        bar_width = min(20, width // 4)
        level = self.level if self.mode != "idle" else 0.0
        filled = round(min(max(level, 0.0), 1.0) * bar_width)
        text.append("█" * filled, style=bar_style)
        text.append("░" * (bar_width - filled), style=empty_style)
        text.append(" ")
        wave_width = max(width - len(text), 0)
        if self.mode == "idle" or all(v < _SILENCE for v in self._levels):
            text.append("─" * wave_width, style=empty_style)
        else:
            recent = self._levels[-wave_width:]
            pad = wave_width - len(recent)
            text.append(" " * pad + "".join(_bar_char(v) for v in recent), style=wave_style)
        return text
