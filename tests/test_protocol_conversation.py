"""The client's conversation state machine, without a server: tables and properties."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocol import events as ev
from protocol.conversation import (
    AgentEnded,
    AgentStarted,
    AgentText,
    Conversation,
    DropAudio,
    Play,
    ResponseEnded,
    Send,
    TurnOpened,
    TurnResent,
)


def connected(**kwargs: object) -> Conversation:
    conversation = Conversation(**kwargs)  # type: ignore[arg-type]
    conversation.receive(ev.SessionCreated())
    return conversation


def sent(actions: list[object]) -> list[str]:
    return [a.event.type for a in actions if isinstance(a, Send)]


def answer(conversation: Conversation, *parts: tuple[str, str]) -> list[object]:
    """One whole response: created, text per role, done."""
    actions = conversation.receive(ev.ResponseCreated())
    for role, text in parts:
        actions += conversation.receive(ev.ResponseTextDelta(content=text, role=role))
        actions += conversation.receive(ev.ResponseAudioDelta(audio=b"\0\0"))
    return actions + conversation.receive(ev.ResponseDone())


def test_a_question_asked_while_another_is_answered_gets_its_own_answers() -> None:
    conversation = connected()
    conversation.ask("What about bonds?")
    conversation.receive(ev.ResponseCreated())
    conversation.receive(ev.ResponseTextDelta(content="Bonds are", role="Researcher"))
    conversation.ask("And crypto?")  # asked while Researcher speaks about bonds
    conversation.receive(ev.ResponseTextDelta(content=" loans.", role="Strategist"))
    conversation.receive(ev.ResponseDone())
    answer(conversation, ("Researcher", "Crypto is"), ("Strategist", " volatile."))
    bonds, crypto = conversation.turns
    assert [(a.role, a.text) for a in bonds.answers] == [
        ("Researcher", "Bonds are"),
        ("Strategist", " loans."),
    ]
    assert [(a.role, a.text) for a in crypto.answers] == [
        ("Researcher", "Crypto is"),
        ("Strategist", " volatile."),
    ]
    assert bonds.status == crypto.status == "done"


@pytest.mark.parametrize(
    ("barge_in", "during_answer", "sent_types"),
    [
        (False, False, ["input_audio_buffer.append"]),
        (False, True, []),  # the published SDK's rule: no self-hearing without barge-in
        (True, True, ["input_audio_buffer.append"]),
        (True, False, ["input_audio_buffer.append"]),
    ],
)
def test_microphone_audio_is_sent_by_the_barge_in_rule(
    barge_in: bool, during_answer: bool, sent_types: list[str]
) -> None:
    conversation = Conversation()
    conversation.receive(ev.SessionCreated(vad_enabled=barge_in))
    if during_answer:
        conversation.ask("hi")
        conversation.receive(ev.ResponseCreated())
    assert sent(conversation.mic_audio(b"\0\0")) == sent_types


def test_skip_silences_the_agent_drops_its_late_audio_and_rearms_at_the_next() -> None:
    conversation = connected()
    conversation.ask("hi")
    conversation.receive(ev.ResponseCreated())
    conversation.receive(ev.ResponseTextDelta(content="one", role="A"))
    assert conversation.can_skip
    actions = conversation.skip()
    assert actions == [AgentEnded(0, "A", "skipped"), DropAudio(), Send(ev.ResponseCancel())]
    assert conversation.skip() == []  # a second press on the same agent sends nothing
    assert conversation.receive(ev.ResponseAudioDelta(audio=b"\0\0")) == []  # late frame
    started = conversation.receive(ev.ResponseTextDelta(content="two", role="B"))
    assert AgentStarted(0, "B") in started
    assert conversation.can_skip
    played = conversation.receive(ev.ResponseAudioDelta(audio=b"\1\1"))
    assert played == [Play(b"\1\1", 0, "B", first=True)]
    ended = conversation.receive(ev.ResponseDone(metadata={"skipped": ["A"]}))
    assert [a.state for a in conversation.turns[0].answers] == ["skipped", "done"]
    assert isinstance(ended[-1], ResponseEnded) and ended[-1].outcome == "done"


def test_idle_skip_sends_nothing() -> None:
    conversation = connected()
    assert conversation.skip() == []
    conversation.ask("hi")
    assert conversation.skip() == []  # asked, but nobody speaks yet


def test_barge_in_interrupts_the_agent_and_silences_the_speaker() -> None:
    conversation = Conversation()
    conversation.receive(ev.SessionCreated(vad_enabled=True))
    conversation.ask("tell me a story")
    conversation.receive(ev.ResponseCreated())
    conversation.receive(ev.ResponseTextDelta(content="Once", role="Teller"))
    actions = conversation.receive(ev.ResponseInterrupted())
    assert AgentEnded(0, "Teller", "interrupted") in actions
    assert DropAudio() in actions
    assert not conversation.response_active


def test_a_spoken_turn_opens_with_its_transcript_and_is_answered() -> None:
    conversation = connected()
    opened = conversation.receive(ev.TranscriptDelta(delta="what is"))
    assert opened[0] == TurnOpened(0, "what is", True)
    conversation.receive(ev.TranscriptDelta(delta="what is the time"))
    conversation.receive(ev.TranscriptDone(text="What is the time?"))
    answer(conversation, ("Clock", "Noon."))
    turn = conversation.turns[0]
    assert (turn.query, turn.voice, turn.status) == ("What is the time?", True, "done")
    assert turn.answers[0].text == "Noon."


def test_a_question_asked_offline_is_sent_when_connected() -> None:
    conversation = Conversation()
    assert sent(conversation.ask("hello")) == []
    assert sent(conversation.receive(ev.SessionCreated())) == ["input_text"]


def test_an_answer_cut_off_by_a_lost_connection_is_asked_again() -> None:
    conversation = connected()
    conversation.ask("how do bonds work")
    conversation.receive(ev.ResponseCreated())
    conversation.receive(ev.ResponseTextDelta(content="Bonds", role="Researcher"))
    lost = conversation.connection_lost()
    assert AgentEnded(0, "Researcher", "cut off") in lost
    assert ResponseEnded(0, "lost", {}) in lost
    again = conversation.receive(ev.SessionCreated())
    assert sent(again) == ["input_text"]
    assert TurnResent(0, "how do bonds work") in again
    answer(conversation, ("Researcher", "Bonds are loans."))
    turn = conversation.turns[0]
    assert [(a.text, a.state) for a in turn.answers] == [
        ("Bonds", "cut off"),
        ("Bonds are loans.", "done"),
    ]


def test_a_client_without_sound_tells_the_engine_and_plays_nothing() -> None:
    conversation = Conversation(plays_audio=False)
    actions = conversation.receive(ev.SessionCreated())
    assert actions == [Send(ev.SessionUpdate(session={"output_audio": False}))]
    conversation.ask("hi")
    conversation.receive(ev.ResponseCreated())
    conversation.receive(ev.ResponseTextDelta(content="hello", role="A"))
    assert conversation.receive(ev.ResponseAudioDelta(audio=b"\0\0")) == []


def test_ping_is_answered() -> None:
    assert Conversation().receive(ev.Ping()) == [Send(ev.Pong())]


# ----------------------------------------------------------------- properties

SERVER_EVENTS = st.one_of(
    st.builds(ev.ResponseCreated),
    st.builds(
        ev.ResponseTextDelta,
        content=st.sampled_from(["a", "b "]),
        role=st.sampled_from(["A", "B", "C"]),
    ),
    st.builds(ev.ResponseAudioDelta, audio=st.just(b"\0\0")),
    st.builds(ev.ResponseTextDone),
    st.builds(ev.ResponseAudioDone),
    st.builds(ev.ResponseDone, metadata=st.sampled_from([{}, {"skipped": ["A"]}])),
    st.builds(ev.ResponseInterrupted),
    st.builds(ev.TranscriptDelta, delta=st.just("hel")),
    st.builds(ev.TranscriptDone, text=st.just("hello")),
    st.builds(ev.Error, message=st.just("bad")),
    st.builds(ev.SessionCreated, vad_enabled=st.booleans()),
    st.builds(ev.Ping),
)
INTENTS = st.sampled_from(["ask", "skip", "mic", "lost", "playing", "quiet"])


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(SERVER_EVENTS, INTENTS), max_size=60))
def test_any_order_of_events_and_intents_leaves_the_conversation_consistent(
    steps: list[object],
) -> None:
    conversation = Conversation()
    for step in steps:
        if step == "ask":
            actions = conversation.ask("q")
        elif step == "skip":
            actions = conversation.skip()
        elif step == "mic":
            actions = conversation.mic_audio(b"\0\0")
        elif step == "lost":
            actions = conversation.connection_lost()
        elif step == "playing":
            actions = conversation.playback_started()
        elif step == "quiet":
            actions = conversation.playback_stopped()
        else:
            actions = conversation.receive(step)  # type: ignore[arg-type]
        _check(conversation, actions)


def _check(conversation: Conversation, actions: list[object]) -> None:
    answering = [t for t in conversation.turns if t.status == "answering"]
    assert len(answering) <= 1, "at most one response is active"
    assert (conversation.answering is not None) == bool(answering)
    assert sum(t.status == "listening" for t in conversation.turns) <= 1
    for turn in conversation.turns:
        streaming = [a for a in turn.answers if a.state == "streaming"]
        assert len(streaming) <= 1, "one agent speaks at a time"
        if turn.status != "answering":
            assert not streaming, "a finished turn has no agent still speaking"
    for action in actions:
        if isinstance(action, Play):
            turn = conversation.turn(action.turn_id)
            assert turn.status == "answering" and turn.current is not None
            assert turn.current.state == "streaming", "a skipped agent is never played"
        if isinstance(action, AgentText):
            assert conversation.turn(action.turn_id).status == "answering"
    if conversation.can_skip:
        assert conversation.response_active


def test_a_reopened_conversation_shows_its_earlier_turns_and_continues() -> None:
    from protocol.projects import SaidEntry

    conversation = Conversation()
    shown = conversation.restore(
        [
            SaidEntry("user", "", "how do bonds work", False),
            SaidEntry("assistant", "Researcher", "Bonds are loans", True),
            SaidEntry("assistant", "Strategist", "Hold some", False),
            SaidEntry("user", "", "and stocks", False),
        ]
    )
    assert TurnOpened(0, "how do bonds work", False) in shown
    assert AgentEnded(0, "Researcher", "skipped") in shown
    assert [t.status for t in conversation.turns] == ["done", "done"]
    assert conversation.unanswered == []
    assert sent(conversation.receive(ev.SessionCreated())) == []  # nothing asked again
    conversation.ask("and crypto")
    answer(conversation, ("Researcher", "Crypto is volatile"))
    assert conversation.turns[2].answers[0].text == "Crypto is volatile"


def test_activity_says_listening_then_thinking_then_answering() -> None:
    conversation = connected()
    assert conversation.activity == ""
    conversation.receive(ev.TranscriptDelta(delta="my number is five five five"))
    assert conversation.activity == "listening"  # the user may pause: the engine still hears
    conversation.receive(ev.TranscriptDone(text="My number is 555 1234."))
    assert conversation.activity == "thinking"  # the engine decided the turn is over
    conversation.receive(ev.ResponseCreated())
    assert conversation.activity == "answering"
    conversation.receive(ev.ResponseDone())
    assert conversation.activity == ""
