"""The client's conversation state machine: sans-I/O, the one place a response is decided.

In the style of the ``websockets`` protocol core: `Conversation` is fed the
server's events (`receive`) and the user's intents (`ask`, `skip`,
`mic_audio`, `playback_started` …) and answers each with a list of actions:
frames to `Send`, audio to `Play` or drop (`DropAudio`), and what the
conversation now looks like (`TurnOpened`, `AgentStarted`, `AgentText`,
`ResponseEnded` …). It keeps no clock, no socket and no audio device, so the
SDK session, its voice player and the app all drive the same object and cannot
disagree about which response is active, which agent is current, which turn an
answer belongs to, or which audio a skip silences.

Answers are matched to turns in the order the server answers them: the engine
queues queries and answers each with one response, so a question asked while
another is answered waits its turn instead of collecting the earlier answer.
A `Conversation` outlives a connection: after `connection_lost` and the next
``session.created``, questions that never got a whole answer are asked again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from typing import Any

from protocol.actions import (
    Action,
    AgentEnded,
    AgentStarted,
    AgentText,
    DropAudio,
    ErrorReported,
    Outcome,
    Play,
    ResponseEnded,
    ResponseStarted,
    Send,
    TranscriptChanged,
    TurnOpened,
    TurnResent,
)
from protocol.events import (
    ClientEvent,
    Error,
    InputAudioBufferAppend,
    InputAudioBufferClear,
    InputAudioBufferCommit,
    InputText,
    Ping,
    PlaybackStarted,
    PlaybackStopped,
    Pong,
    ResponseAudioDelta,
    ResponseCancel,
    ResponseCreated,
    ResponseDone,
    ResponseInterrupted,
    ResponseTextDelta,
    ServerEvent,
    SessionCreated,
    SessionUpdate,
    TranscriptDelta,
    TranscriptDone,
)
from protocol.projects import SaidEntry
from protocol.turns import Answer, AnswerState, Turn, TurnStatus

__all__ = [
    "Action",
    "AgentEnded",
    "AgentStarted",
    "AgentText",
    "Answer",
    "AnswerState",
    "Conversation",
    "DropAudio",
    "ErrorReported",
    "Play",
    "ResponseEnded",
    "ResponseStarted",
    "Send",
    "TranscriptChanged",
    "Turn",
    "TurnOpened",
    "TurnResent",
    "TurnStatus",
]

# ------------------------------------------------------------ the machine


class Conversation:
    """State of one conversation (one uuid), across connections; see the module docstring."""

    def __init__(self, *, plays_audio: bool = True) -> None:
        self.plays_audio = plays_audio
        """False for a client that cannot play sound: the engine is told not to pace for it."""
        self.turns: list[Turn] = []
        self.connected = False
        self.barge_in = False
        """The server announced barge-in (``capabilities.vad_enabled``)."""
        self.speaker_active = False
        self._waiting: deque[Turn] = deque()
        self._answering: Turn | None = None
        self._listening: Turn | None = None
        self._heard_first_audio = False

    # ----------------------------------------------------------- queries

    @property
    def answering(self) -> Turn | None:
        """The turn whose response is active, if any."""
        return self._answering

    @property
    def response_active(self) -> bool:
        return self._answering is not None

    @property
    def current_role(self) -> str | None:
        answer = self._answering.current if self._answering is not None else None
        return answer.role if answer is not None else None

    @property
    def activity(self) -> str:
        """``listening`` (a spoken turn is being heard), ``thinking`` (asked, not yet
        answered), ``answering``, or ``""`` when nothing is going on."""
        if self._listening is not None:
            return "listening"
        if self._answering is not None:
            return "answering"
        return "thinking" if self._waiting else ""

    @property
    def can_skip(self) -> bool:
        """An agent is speaking (or about to) and has not been skipped."""
        answer = self._answering.current if self._answering is not None else None
        return answer is not None and answer.state == "streaming"

    @property
    def unanswered(self) -> list[Turn]:
        """Questions asked but not (or not wholly) answered yet, oldest first."""
        return [t for t in self.turns if t.status in ("unsent", "waiting", "answering")]

    def turn(self, turn_id: int) -> Turn:
        return self.turns[turn_id]

    # ----------------------------------------------------------- user intents

    def ask(self, text: str) -> list[Action]:
        """A typed question; it is sent now, or on the next connection."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, not {type(text).__name__}")
        if not text.strip():
            raise ValueError("text query is empty")
        turn = self._open(text, voice=False)
        actions: list[Action] = [TurnOpened(turn.id, text, False)]
        if self.connected:
            actions.append(self._send_query(turn))
        return actions

    def restore(self, said: Iterable[SaidEntry]) -> list[Action]:
        """Earlier turns of a reopened conversation, from the engine's history, as done.

        They are shown and exported like any other turn; the engine keeps the
        same history, so the conversation simply continues.
        """
        actions: list[Action] = []
        restored: list[Turn] = []
        for entry in said:
            if entry.role == "user":
                restored.append(turn := self._open(entry.text, voice=False))
                turn.status, turn.asked = "done", 1
                actions.append(TurnOpened(turn.id, entry.text, False))
            elif restored:
                turn = restored[-1]
                answer = Answer(entry.agent, entry.text, "skipped" if entry.cut else "done")
                turn.answers.append(answer)
                actions += [
                    AgentStarted(turn.id, answer.role),
                    AgentText(turn.id, answer.role, answer.text),
                    AgentEnded(turn.id, answer.role, answer.state),
                ]
        actions += [ResponseEnded(turn.id, "done", {}) for turn in restored]
        return actions

    def skip(self) -> list[Action]:
        """Skip the current agent: silence it now and ask the server to move on."""
        if not self.can_skip:
            return []
        turn = self._answering
        assert turn is not None and turn.current is not None
        answer = turn.current
        answer.state = "skipped"
        return [
            AgentEnded(turn.id, answer.role, "skipped"),
            DropAudio(),
            Send(ResponseCancel()),
        ]

    def mic_audio(self, chunk: bytes) -> list[Action]:
        """Microphone audio: sent, except during an answer when the server has no barge-in.

        That rule (the published SDK's) keeps the assistant from hearing itself.
        """
        if not self.connected or (self._answering is not None and not self.barge_in):
            return []
        return [Send(InputAudioBufferAppend(audio=bytes(chunk)))]

    def commit(self) -> list[Action]:
        return self._live(InputAudioBufferCommit())

    def clear_audio(self) -> list[Action]:
        return self._live(InputAudioBufferClear())

    def playback_started(self) -> list[Action]:
        self.speaker_active = True
        return self._live(PlaybackStarted())

    def playback_stopped(self) -> list[Action]:
        self.speaker_active = False
        return self._live(PlaybackStopped())

    def _live(self, event: ClientEvent) -> list[Action]:
        """Audio-side frames mean something only on a live connection; offline they are dropped."""
        return [Send(event)] if self.connected else []

    def connection_lost(self) -> list[Action]:
        """The socket is gone: the answer in progress is cut off and will be asked again."""
        self.connected = False
        actions: list[Action] = []
        turn = self._answering
        if turn is not None:
            answer = turn.current
            if answer is not None and answer.state == "streaming":
                answer.state = "cut off"
                actions.append(AgentEnded(turn.id, answer.role, "cut off"))
            actions += [DropAudio(), ResponseEnded(turn.id, "lost", {})]
            self._answering = None
        listening, self._listening = self._listening, None
        if listening is not None:
            listening.status = "interrupted"  # its audio is gone with the connection
            actions.append(TranscriptChanged(listening.id, listening.query, True))
        for waiting in [*([turn] if turn is not None else []), *self._waiting]:
            waiting.status = "unsent" if not waiting.voice else "interrupted"
        self._waiting.clear()
        return actions

    # ---------------------------------------------------------- server events

    def receive(self, event: ServerEvent) -> list[Action]:
        """Everything a server event changes, as actions."""
        if isinstance(event, Ping):
            return [Send(Pong())]
        if isinstance(event, SessionCreated):
            return self._on_session_created(event)
        if isinstance(event, TranscriptDelta):
            return self._on_transcript(event.delta, final=False)
        if isinstance(event, TranscriptDone):
            return self._on_transcript(event.text, final=True)
        if isinstance(event, ResponseCreated):
            return self._start_response()
        if isinstance(event, ResponseTextDelta):
            return self._on_text(event)
        if isinstance(event, ResponseAudioDelta):
            return self._on_audio(event.audio)
        if isinstance(event, ResponseDone):
            return self._end_response("done", event.metadata)
        if isinstance(event, ResponseInterrupted):
            return self._end_response("interrupted", {})
        if isinstance(event, Error):
            turn = self._answering
            if turn is not None:
                turn.errors.append(event.message)
            return [ErrorReported(turn.id if turn is not None else None, event.message)]
        return []

    def _on_session_created(self, event: SessionCreated) -> list[Action]:
        self.connected = True
        self.barge_in = event.vad_enabled
        actions: list[Action] = []
        if not self.plays_audio:
            actions.append(Send(SessionUpdate(session={"output_audio": False})))
        for turn in self.turns:
            if turn.status == "unsent":
                resent = turn.asked > 0
                actions.append(self._send_query(turn))
                if resent:
                    actions.append(TurnResent(turn.id, turn.query))
        return actions

    def _on_transcript(self, text: str, *, final: bool) -> list[Action]:
        actions: list[Action] = []
        turn = self._listening
        if turn is None:
            turn = self._open(text, voice=True)
            turn.status = "listening"
            self._listening = turn
            actions.append(TurnOpened(turn.id, text, True))
        turn.query = text
        actions.append(TranscriptChanged(turn.id, text, final))
        if final:
            self._listening = None
            turn.status = "waiting"
            turn.asked += 1
            self._waiting.append(turn)
        return actions

    def _start_response(self) -> list[Action]:
        actions: list[Action] = []
        if self._answering is not None:  # a response.done went missing: close it first
            actions += self._end_response("done", {})
        if self._waiting:
            turn = self._waiting.popleft()
        else:  # an answer nobody here asked for (e.g. a voice turn with no transcript)
            turn = self._open("", voice=True)
            actions.append(TurnOpened(turn.id, "", True))
        turn.status = "answering"
        turn.response_start = len(turn.answers)
        self._answering = turn
        self._heard_first_audio = False
        actions.append(ResponseStarted(turn.id))
        return actions

    def _on_text(self, event: ResponseTextDelta) -> list[Action]:
        actions: list[Action] = []
        if self._answering is None:
            actions += self._start_response()
        turn = self._answering
        assert turn is not None
        current = turn.current
        if current is None or current.role != event.role:
            if current is not None and current.state == "streaming":
                current.state = "done"
                actions.append(AgentEnded(turn.id, current.role, "done"))
            current = Answer(event.role)
            turn.answers.append(current)
            actions.append(AgentStarted(turn.id, event.role))
        current.text += event.content
        actions.append(AgentText(turn.id, event.role, event.content))
        return actions

    def _on_audio(self, audio: bytes) -> list[Action]:
        turn = self._answering
        answer = turn.current if turn is not None else None
        if turn is None or answer is None or not self.plays_audio:
            return []
        if answer.state != "streaming":
            return []  # a skipped agent's last frames, sent before the server saw the cancel
        answer.heard = True
        first, self._heard_first_audio = not self._heard_first_audio, True
        return [Play(audio, turn.id, answer.role, first)]

    def _end_response(self, outcome: Outcome, metadata: Mapping[str, Any]) -> list[Action]:
        turn = self._answering
        if turn is None:
            return []
        self._answering = None
        actions: list[Action] = []
        skipped_roles = _skipped_roles(metadata)
        for answer in turn.answers[turn.response_start :]:
            if answer.state != "streaming":
                continue
            if outcome == "interrupted" and answer is turn.current:
                answer.state = "interrupted"
            elif answer.role in skipped_roles:
                answer.state = "skipped"
            else:
                answer.state = "done"
            actions.append(AgentEnded(turn.id, answer.role, answer.state))
        if outcome == "interrupted":
            actions.append(DropAudio())
        turn.status = "done" if outcome == "done" else "interrupted"
        turn.metadata = dict(metadata)
        actions.append(ResponseEnded(turn.id, outcome, turn.metadata))
        return actions

    # ------------------------------------------------------------- helpers

    def _open(self, query: str, *, voice: bool) -> Turn:
        turn = Turn(id=len(self.turns), query=query, voice=voice)
        self.turns.append(turn)
        return turn

    def _send_query(self, turn: Turn) -> Send:
        turn.status = "waiting"
        turn.asked += 1
        self._waiting.append(turn)
        return Send(InputText(text=turn.query))


def _skipped_roles(metadata: Mapping[str, Any]) -> set[str]:
    """Agents the engine reports as skipped in ``response.done`` metadata."""
    skipped = metadata.get("skipped")
    return {r for r in skipped if isinstance(r, str)} if isinstance(skipped, list) else set()
