"""The input bar: type a query, toggle the microphone, skip the current agent."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Button, Input


class InputBar(Horizontal):
    """Query input plus the mic toggle and the skip-agent button."""

    class QuerySubmitted(Message):
        """The user pressed Enter on a non-empty query."""

        def __init__(self, text: str) -> None:
            super().__init__()
            self.text = text

    class MicToggled(Message):
        """The mic button was clicked."""

    class SkipRequested(Message):
        """The skip-agent button was clicked."""

    def compose(self) -> ComposeResult:
        yield Input(placeholder="Type a question and press Enter…", id="query")
        yield Button("🎤 Mic", id="mic", disabled=True)
        yield Button("⏭ Skip", id="skip", disabled=True, tooltip="Skip the current agent (space)")

    @property
    def input(self) -> Input:
        return self.query_one("#query", Input)

    def set_skip_enabled(self, enabled: bool) -> None:
        self.query_one("#skip", Button).disabled = not enabled

    @property
    def skip_enabled(self) -> bool:
        return not self.query_one("#skip", Button).disabled

    def set_mic(self, *, available: bool, recording: bool, hands_free: bool = False) -> None:
        button = self.query_one("#mic", Button)
        button.disabled = not available
        stop = "⏹ Hang up" if hands_free else "⏹ Stop mic"  # hands-free is a call
        button.label = stop if recording else "🎤 Mic"
        button.set_class(recording, "-recording")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        text = event.value.strip()
        if text:
            self.post_message(self.QuerySubmitted(text))

    def clear(self) -> None:
        self.input.value = ""

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "mic":
            self.post_message(self.MicToggled())
        elif event.button.id == "skip":
            self.post_message(self.SkipRequested())
