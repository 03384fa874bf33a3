"""Client echo cancellation in a simulated room (bench/room_sim.py).

The room replaces only the sound card: the assistant's audio goes out through
the real audio actor, through an echo path with reverberation and noise, and
comes back into the actor's microphone, which the canceller must clean.
"""

from __future__ import annotations

import asyncio

import jiwer
import numpy as np
import pytest

from audio import AudioActor, NullBackend
from audio.echo import EchoCanceller
from bench.room_sim import EchoSetting, RoomBackend, erle_db, piper
from server.speech.asr import load_asr
from tests.speech_helpers import words

ANSWER = (
    "The quarterly report shows revenue grew by twelve percent while costs stayed flat. "
    "We expect the trend to continue into next year, with new markets opening in Asia."
)
USER = "Stop, what is the weather like in Paris tomorrow?"
DOUBLE_TALK_ECHO_DB = -12.0  # at -6 dB whisper tiny.en misses 0.3-0.35 of words (docs/bench.md)
DOUBLE_TALK = (
    USER,
    "Hold on, how long does the train to Berlin take?",
    "No, I asked about the price of the blue car.",
    "Actually, can you book a table for four at seven?",
    "Sorry, I meant the report from last March.",
)
CONVERGED_S = 2.0


async def play_in_room(
    room: RoomBackend,
    rate: int,
    assistant: np.ndarray,
    *,
    user: np.ndarray | None = None,
    user_after_s: float = 0.0,
    aec: bool = True,
) -> tuple[np.ndarray, AudioActor]:
    """Play `assistant` into the room while capturing; the microphone as the app reads it."""
    async with AudioActor(room, rate, echo_cancellation=aec) as actor:
        await actor.start_capture()
        actor.play(assistant.tobytes())
        if user is not None:
            room.say(user, after_s=user_after_s)
        heard: list[bytes] = []
        wanted = 2 * (len(assistant) + rate // 2)
        while sum(map(len, heard)) < wanted:
            heard.append(await actor.read())
        await actor.stop_capture()
    return np.frombuffer(b"".join(heard), dtype="<i2"), actor


@pytest.fixture(scope="module")
def asr():
    return load_asr()


@pytest.mark.parametrize(
    ("rate", "delay_ms", "gain_db"),
    [
        (16000, 120, -6.0),
        (16000, 250, 0.0),
        (16000, 40, 3.0),
        (8000, 20, -12.0),
        (24000, 80, -12.0),
        (44100, 200, 0.0),
    ],
)
async def test_the_speakers_echo_is_removed_from_the_microphone(
    rate: int, delay_ms: int, gain_db: float
) -> None:
    room = RoomBackend(EchoSetting(delay_ms, gain_db, noise_dbfs=None), realtime=False)
    cleaned, actor = await play_in_room(room, rate, piper(ANSWER, rate))
    echo = np.concatenate(room.log.echo)
    settled = int(CONVERGED_S * rate)
    end = min(len(cleaned), len(echo))
    assert erle_db(echo[settled:end], cleaned[settled:end]) >= 25.0
    assert actor.aec_status == "off: the microphone is not open"  # capture stopped


async def test_without_aec_the_echo_reaches_the_microphone_unchanged() -> None:
    room = RoomBackend(EchoSetting(120, -6.0, noise_dbfs=None), realtime=False)
    raw, actor = await play_in_room(room, 16000, piper(ANSWER, 16000), aec=False)
    echo = np.concatenate(room.log.echo)
    end = min(len(raw), len(echo))
    assert abs(erle_db(echo[:end], raw[:end])) < 0.5
    assert actor.aec_status.startswith("off: turned off")


async def transcript_over_answer(asr, user: np.ndarray, *, answer: bool, aec: bool) -> str:
    rate = 16000
    room = RoomBackend(EchoSetting(120, DOUBLE_TALK_ECHO_DB), realtime=False)
    assistant = piper(ANSWER, rate) if answer else np.zeros(8 * rate, np.int16)
    heard, _ = await play_in_room(room, rate, assistant, user=user, user_after_s=3.0, aec=aec)
    return await asyncio.to_thread(asr.transcribe, heard.tobytes(), rate)


async def test_the_user_talking_over_the_assistant_is_still_understood(asr) -> None:
    """Double talk: mean word error over five sentences within 0.25 of the same words alone."""
    alone, over, raw = [], [], []
    for sentence in DOUBLE_TALK:
        user = piper(sentence, 16000, speed=0.9)
        reference = words(sentence)
        for errors, answer, aec in ((alone, False, True), (over, True, True), (raw, True, False)):
            text = await transcript_over_answer(asr, user, answer=answer, aec=aec)
            errors.append(jiwer.wer(reference, words(text)))
    assert np.mean(over) <= np.mean(alone) + 0.25, (alone, over)
    assert np.mean(raw) > np.mean(over)  # without the canceller the echo garbles it


async def test_aec_is_off_with_the_reason_when_there_is_no_echo_path() -> None:
    async with AudioActor(NullBackend(realtime=False)) as actor:
        assert not actor.aec_active
        await actor.start_capture()
        assert not actor.aec_active
        assert actor.aec_status == "off: no microphone or speaker (the null audio backend)"
        assert len(await actor.read()) > 0  # the microphone still delivers


async def test_a_canceller_that_cannot_load_leaves_the_raw_microphone(monkeypatch) -> None:
    import audio.echo

    def broken(rate: int, noise_suppression: bool) -> None:
        raise RuntimeError("the echo canceller is not installed (pip install pywebrtc-audio)")

    monkeypatch.setattr(audio.echo, "load_processor", broken)
    room = RoomBackend(EchoSetting(120, -6.0, noise_dbfs=None), realtime=False)
    async with AudioActor(room, 16000) as actor:
        await actor.start_capture()
        assert not actor.aec_active
        assert actor.aec_status == (
            "off: the echo canceller is not installed (pip install pywebrtc-audio)"
        )
        actor.play(piper("Hello there.", 16000).tobytes())
        heard = b"".join([await actor.read() for _ in range(40)])
        assert np.abs(np.frombuffer(heard, dtype="<i2")).max() > 100  # the echo, uncleaned
    assert audio.echo.INSTALL_HINT in actor.aec_status


async def test_a_canceller_that_fails_midway_passes_the_microphone_on(monkeypatch) -> None:
    calls = {"n": 0}
    original = EchoCanceller._take_far

    def failing(self: EchoCanceller) -> np.ndarray:
        calls["n"] += 1
        if calls["n"] > 50:
            raise ValueError("frame size mismatch")
        return original(self)

    monkeypatch.setattr(EchoCanceller, "_take_far", failing)
    room = RoomBackend(EchoSetting(120, -6.0, noise_dbfs=None), realtime=False)
    async with AudioActor(room, 16000) as actor:
        await actor.start_capture()
        actor.play(piper(ANSWER, 16000).tobytes())
        heard = b"".join([await actor.read() for _ in range(100)])
        assert len(heard) >= 2 * 16000 * 100 * 20 // 1000 - 2 * 160  # nothing was lost
        assert not actor.aec_active
        assert actor.aec_status == "off: the echo canceller failed: frame size mismatch"


def test_without_the_linear_stage_aec3_alone_still_cleans(monkeypatch) -> None:
    """speexaec missing: the linear stage stands down with the reason, AEC3 goes on alone."""
    import sys

    from audio.echo import load_processor
    from bench.room_sim import apply_echo, impulse_response

    monkeypatch.setitem(sys.modules, "speexaec", None)  # its import fails
    rate = 16000
    played = piper(ANSWER, rate)
    echo = apply_echo(played, impulse_response(rate, EchoSetting(200, 0.0)))
    mic = np.clip(np.round(echo), -32768, 32767).astype(np.int16)
    canceller = EchoCanceller(load_processor(rate, False), rate, rate, rate, 0.04)
    block = rate // 50
    cleaned = []
    for i in range(0, len(mic) - block + 1, block):
        canceller.far(played[i : i + block])
        cleaned.append(canceller.near(mic[i : i + block]))
    out = np.concatenate(cleaned).astype(np.float64)
    assert canceller.failure is None
    assert "unavailable" in (canceller.linear.failure or "")
    assert erle_db(echo[2 * rate : len(out)], out[2 * rate :]) >= 25.0
