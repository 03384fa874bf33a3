"""The one-line status bar: connection, target, uuid, audio and latency."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.events import Click
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


ACTIVITY_TEXT = {
    "listening": "● listening",  # the engine hears speech: pausing is fine
    "thinking": "◌ thinking",  # the engine decided the turn is over
    "answering": "▶ answering",
}


class StatusBar(Horizontal):
    """Each field is its own Static so it can be styled and updated alone."""

    audio_detail = ""
    """Why audio is off (or which device is used): shown on demand, not in the bar."""
    _audio_text = "audio —"
    _hands_free = ""

    FIELDS = (  # most useful first: a narrow terminal cuts from the right
        ("connection", "● offline"),
        ("activity", ""),
        ("latency", "latency —"),
        ("target", "no project"),
        ("audio", "audio —"),
        ("uuid", "uuid —"),
        ("rate", "— Hz"),
    )

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        # Held here, not queried: a late worker message may update the bar while it unmounts.
        self._fields = {
            name: Static(text, id=f"status-{name}", markup=False) for name, text in self.FIELDS
        }
        self._fields["connection"].add_class("-offline")

    def compose(self) -> ComposeResult:
        yield from self._fields.values()

    def _field(self, name: str) -> Static:
        return self._fields[name]

    def _set(self, field: str, text: str) -> None:
        self._field(field).update(text)

    def field_text(self, field: str) -> str:
        """The text a field shows now (for tests and the export header)."""
        return str(self._field(field).render())

    def set_connection(self, state: str, detail: str = "") -> None:
        """The state in the bar; a long detail is cut there and whole in the tooltip."""
        widget = self._field("connection")
        for name in CONNECTION_STATES:
            widget.set_class(name == state, f"-{name}")
        widget.update(f"● {state}" + (f": {detail}" if detail else ""))
        widget.tooltip = detail or None

    def set_target(self, project: str | None, version: int | str | None = None) -> None:
        if project is None:
            self._set("target", "no project")
        else:
            self._set("target", f"{project}:{'latest' if version is None else version}")

    def set_uuid(self, uuid: str | None) -> None:
        self._set("uuid", f"uuid {uuid or '—'}")

    def set_sample_rate(self, rate: int | None) -> None:
        self._set("rate", f"{rate} Hz" if rate else "— Hz")

    def set_audio(
        self,
        device: str | None,
        text_only_reason: str | None = None,
        echo_cancellation: bool = False,
        echo_detail: str = "",
    ) -> None:
        """Short in the bar ("text only", "audio · AEC"); details on hover, click or the palette.

        ``echo_detail``: the canceller's own status, e.g. "off: <why it could not load>".
        """
        widget = self._field("audio")
        widget.set_class(text_only_reason is not None, "-text-only")
        if text_only_reason is not None:
            self._audio_text = "text only (?)"
            self.audio_detail = f"Text only: {text_only_reason}"
        else:
            self._audio_text = "audio · AEC" if echo_cancellation else "audio · no AEC"
            aec = echo_detail or ("on" if echo_cancellation else "off (--no-aec)")
            self.audio_detail = f"Audio: {device or 'the default device'}; echo cancellation {aec}"
        self._show_audio()

    def set_hands_free(self, on: bool, *, barge_in: bool = True) -> None:
        """Hands-free mode in the audio field; without the engine's barge-in, it says so."""
        self._hands_free = ("hands-free" if barge_in else "hands-free, no barge-in") if on else ""
        self._show_audio()

    def _show_audio(self) -> None:
        widget = self._field("audio")
        widget.update(" · ".join(t for t in (self._audio_text, self._hands_free) if t))
        widget.tooltip = self.audio_detail

    def on_click(self, event: Click) -> None:
        if event.widget is not None and event.widget.id == "status-audio" and self.audio_detail:
            self.notify(self.audio_detail)

    def set_activity(self, activity: str) -> None:
        """What the conversation is doing: listening, thinking, answering, or nothing."""
        widget = self._field("activity")
        widget.update(ACTIVITY_TEXT.get(activity, activity))
        widget.display = bool(activity)
        for name in ACTIVITY_TEXT:
            widget.set_class(name == activity, f"-{name}")

    def set_latency(self, seconds: float | None) -> None:
        self._set("latency", "latency —" if seconds is None else f"latency {seconds:.2f} s")
