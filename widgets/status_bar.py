"""The one-line status bar: connection, target, uuid, audio and latency."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Static

CONNECTION_STATES = (
    "offline",
    "ready",
    "starting",
    "connecting",
    "connected",
    "reconnecting",
    "lost",
)


class StatusBar(Horizontal):
    """Each field is its own Static so it can be styled and updated alone."""

    def compose(self) -> ComposeResult:
        yield Static("● offline", id="status-connection", classes="-offline", markup=False)
        yield Static("no project", id="status-target", markup=False)
        yield Static("uuid —", id="status-uuid", markup=False)
        yield Static("— Hz", id="status-rate", markup=False)
        yield Static("audio —", id="status-audio", markup=False)
        yield Static("latency —", id="status-latency", markup=False)

    def _set(self, field: str, text: str) -> None:
        self.query_one(f"#status-{field}", Static).update(text)

    def field_text(self, field: str) -> str:
        """The text a field shows now (for tests and the export header)."""
        return str(self.query_one(f"#status-{field}", Static).render())

    def set_connection(self, state: str, detail: str = "") -> None:
        widget = self.query_one("#status-connection", Static)
        for name in CONNECTION_STATES:
            widget.set_class(name == state, f"-{name}")
        widget.update(f"● {state}" + (f": {detail}" if detail else ""))

    def set_target(self, project: str | None, version: int | str | None = None) -> None:
        if project is None:
            self._set("target", "no project")
        else:
            self._set("target", f"{project}:{'latest' if version is None else version}")

    def set_uuid(self, uuid: str | None) -> None:
        self._set("uuid", f"uuid {uuid or '—'}")

    def set_sample_rate(self, rate: int | None) -> None:
        self._set("rate", f"{rate} Hz" if rate else "— Hz")

    def set_audio(self, device: str | None, *, text_only_reason: str | None = None) -> None:
        widget = self.query_one("#status-audio", Static)
        widget.set_class(text_only_reason is not None, "-text-only")
        if text_only_reason is not None:
            widget.update(f"text only: {text_only_reason}")
        else:
            widget.update(f"audio {device or '—'}")

    def set_latency(self, seconds: float | None) -> None:
        self._set("latency", "latency —" if seconds is None else f"latency {seconds:.2f} s")
