"""The conversation pane: one block per turn, one tagged block per agent.

Answer text streams in through ``Markdown.get_stream()``, which coalesces
appends when tokens arrive faster than the widget can render, so a long answer
is never re-rendered whole for each token.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical, VerticalScroll
from textual.widgets import Label, Markdown, Static
from textual.widgets.markdown import MarkdownStream

from widgets.role_colors import role_class

AnswerState = str  # "streaming" | "done" | "skipped" | "interrupted"

_STATE_BADGES: dict[str, str] = {
    "skipped": "skipped",
    "interrupted": "interrupted",
}


class UserMessage(Vertical):
    """The user's words: a growing transcript for voice, replaced by the final one."""

    def __init__(self, text: str = "", *, voice: bool = False) -> None:
        super().__init__(classes="user-message")
        self._text = text
        self.voice = voice
        if voice and not text:
            self.add_class("-listening")

    def compose(self) -> ComposeResult:
        yield Label("You (voice)" if self.voice else "You", classes="user-tag")
        yield Static(self._text or "…", classes="user-text", markup=False)

    @property
    def text(self) -> str:
        return self._text

    def show_transcript(self, text: str, *, final: bool) -> None:
        """Replace the shown words; ``final`` ends the listening look."""
        self._text = text
        self.query_one(".user-text", Static).update(text or "…")
        self.set_class(not final, "-listening")


class AgentAnswer(Vertical):
    """One agent's answer, tagged with its role in the role's stable colour."""

    def __init__(self, role: str) -> None:
        super().__init__(classes=f"agent-answer {role_class(role)}")
        self.role = role
        self.state: AnswerState = "streaming"
        self._text: list[str] = []
        self.timings: dict[str, object] = {}
        self._stream: MarkdownStream | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="agent-header"):
            yield Label(self.role or "agent", classes="role-tag")
            yield Label("", classes="state-badge")
        yield Markdown("", classes="agent-text")
        yield Static("", classes="timings", markup=False)

    @property
    def text(self) -> str:
        return "".join(self._text)

    async def append(self, fragment: str) -> None:
        """Stream more text into the answer."""
        if not fragment:
            return
        self._text.append(fragment)
        if self._stream is None:
            self._stream = Markdown.get_stream(self.query_one(".agent-text", Markdown))
        await self._stream.write(fragment)

    async def finish(self) -> None:
        """The agent's text is complete: flush the stream."""
        if self._stream is not None:
            await self._stream.stop()
            self._stream = None
        if self.state == "streaming":
            self.state = "done"
        self.remove_class("-streaming")

    def mark(self, state: AnswerState) -> None:
        """Mark the answer skipped or interrupted (shown as a badge)."""
        self.state = state
        badge = _STATE_BADGES.get(state, "")
        self.query_one(".state-badge", Label).update(badge)
        for name in _STATE_BADGES:
            self.set_class(name == state, f"-{name}")

    @property
    def timings_text(self) -> str:
        return str(self.query_one(".timings", Static).render())

    def show_timings(self, text: str, raw: dict[str, object] | None = None) -> None:
        """A dimmed line of per-turn timings under the answer."""
        self.timings = dict(raw or {})
        timings = self.query_one(".timings", Static)
        timings.update(text)
        timings.display = bool(text)


class TurnView(Vertical):
    """One exchange: the user's message and every agent's answer to it."""

    def __init__(self, user_text: str = "", *, voice: bool = False) -> None:
        super().__init__(classes="turn")
        self._user = UserMessage(user_text, voice=voice)
        self._answers: list[AgentAnswer] = []

    def compose(self) -> ComposeResult:
        yield self._user

    @property
    def user(self) -> UserMessage:
        return self._user

    @property
    def answers(self) -> list[AgentAnswer]:
        return list(self._answers)

    @property
    def current(self) -> AgentAnswer | None:
        return self._answers[-1] if self._answers else None

    async def answer_for(self, role: str) -> AgentAnswer:
        """The block for ``role``: the current one, or a new one at a boundary."""
        current = self.current
        if current is not None and current.role == role:
            return current
        if current is not None:
            await current.finish()
        answer = AgentAnswer(role)
        self._answers.append(answer)
        await self.mount(answer)
        return answer

    async def finish(self) -> None:
        for answer in self._answers:
            await answer.finish()

    async def add_error(self, message: str) -> None:
        await self.mount(Static(f"⚠ {message}", classes="inline-error", markup=False))


class ConversationView(VerticalScroll):
    """All turns; follows new text unless the user has scrolled up."""

    BORDER_TITLE = "Conversation"

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._turns: list[TurnView] = []
        self.can_focus = True

    def compose(self) -> ComposeResult:
        yield Static(
            "Pick a project on the left and press enter to talk to it.",
            id="conversation-hint",
            markup=False,
        )

    def on_mount(self) -> None:
        # Anchoring keeps the view at the bottom as content grows; Textual
        # releases the anchor when the user scrolls up, and re-anchors at the end.
        self.anchor()

    @property
    def turns(self) -> list[TurnView]:
        return list(self._turns)

    @property
    def current_turn(self) -> TurnView | None:
        return self._turns[-1] if self._turns else None

    def set_hint(self, text: str) -> None:
        hint = self.query_one("#conversation-hint", Static)
        hint.update(text)
        hint.display = bool(text)

    async def start_turn(self, user_text: str = "", *, voice: bool = False) -> TurnView:
        """Open a new turn for a typed query (or, with ``voice``, a spoken one)."""
        previous = self.current_turn
        if previous is not None:
            await previous.finish()
        turn = TurnView(user_text, voice=voice)
        self._turns.append(turn)
        self.set_hint("")
        await self.mount(turn)
        return turn

    async def add_notice(self, text: str, *, error: bool = False) -> None:
        """A line between turns: connection news, or an error shown inline."""
        classes = "inline-error" if error else "notice"
        prefix = "⚠ " if error else ""
        await self.mount(Static(f"{prefix}{text}", classes=classes, markup=False))

    async def clear_conversation(self) -> None:
        self._turns.clear()
        await self.query(".turn, .notice, .inline-error").remove()
