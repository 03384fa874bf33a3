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

from protocol.conversation import (
    Action,
    AgentEnded,
    AgentStarted,
    AgentText,
    AnswerState,
    ErrorReported,
    ResponseEnded,
    ResponseStarted,
    TranscriptChanged,
    TurnOpened,
    TurnResent,
)
from widgets.role_colors import role_class
from widgets.timings import agent_timings, format_agent_timings

_STATE_BADGES: dict[str, str] = {
    "skipped": "skipped",
    "interrupted": "interrupted",
    "cut off": "cut off (connection lost)",
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
            self.set_class(name == state, f"-{name.replace(' ', '-')}")

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

    async def start_answer(self, role: str) -> AgentAnswer:
        """A new block for the agent that starts speaking now."""
        answer = AgentAnswer(role)
        self._answers.append(answer)
        await self.mount(answer)
        return answer

    def latest_for(self, role: str) -> AgentAnswer | None:
        """The newest block of ``role`` (a resent question may have an older, cut-off one)."""
        return next((a for a in reversed(self._answers) if a.role == role), None)

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
        self._by_id: dict[int, TurnView] = {}
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
        self._by_id.clear()
        await self.query(".turn, .notice, .inline-error").remove()

    def begin_conversation(self) -> None:
        """Later turn ids belong to a new conversation; the turns shown stay."""
        self._by_id.clear()

    @property
    def answering(self) -> bool:
        """A response is streaming into some turn."""
        return any(turn.has_class("-answering") for turn in self._turns)

    async def apply(self, action: Action) -> None:
        """Show one change of the conversation (protocol/conversation.py decides; this draws)."""
        if isinstance(action, TurnOpened):
            self._by_id[action.turn_id] = await self.start_turn(action.query, voice=action.voice)
            if not action.voice:
                self.scroll_end(animate=False)
                self.anchor()  # a question asked while scrolled up is shown, with its answer
            return
        turn_id = getattr(action, "turn_id", None)
        turn = self._by_id.get(turn_id) if turn_id is not None else None
        if isinstance(action, ErrorReported) and turn is None:
            await self.add_notice(action.message, error=True)
        elif turn is None:
            return
        elif isinstance(action, TranscriptChanged):
            turn.user.show_transcript(action.text, final=action.final)
        elif isinstance(action, TurnResent):
            await self.add_notice(f"Asking again after reconnecting: {action.query}")
        elif isinstance(action, ResponseStarted):
            turn.add_class("-answering")
        elif isinstance(action, AgentStarted):
            await turn.start_answer(action.role)
        elif isinstance(action, AgentText):
            answer = turn.latest_for(action.role)
            if answer is not None:
                await answer.append(action.content)
        elif isinstance(action, AgentEnded):
            await self._end_answer(turn, action.role, action.state)
        elif isinstance(action, ResponseEnded):
            await self._end_response(turn, action)
        elif isinstance(action, ErrorReported):
            await turn.add_error(action.message)

    @staticmethod
    async def _end_answer(turn: TurnView, role: str, state: AnswerState) -> None:
        answer = turn.latest_for(role)
        if answer is None:
            return
        if state != "done":
            answer.mark(state)
        await answer.finish()

    @staticmethod
    async def _end_response(turn: TurnView, ended: ResponseEnded) -> None:
        turn.remove_class("-answering")
        for answer in turn.answers:
            if ended.metadata and answer.state != "cut off":
                answer.show_timings(
                    format_agent_timings(ended.metadata, answer.role),
                    agent_timings(ended.metadata, answer.role),
                )
        await turn.finish()
        errors = ended.metadata.get("errors")
        if isinstance(errors, dict):
            for role, problem in errors.items():
                await turn.add_error(f"{role}: {problem}")
