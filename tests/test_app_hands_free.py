"""Pilot test of hands-free mode against the real speech engine.

The microphone is a WAV file read in real time (these machines have no sound
card): a spoken question, a pause long enough for the answer to start, then a
second question spoken over it. In hands-free mode nothing is pressed between
them: the engine ends the first turn by itself, and the second question
interrupts the answer (the project has barge-in) and is answered in turn.
"""

from __future__ import annotations

import wave
from pathlib import Path

from app.engine import EngineProcess
from app.main import DistillerApp
from bench.common import create_project
from bench.room_call import RATE, voice_project
from server.speech.tts import load_tts
from tests.speech_helpers import silence
from tests.test_app_session import SIZE, app_for, connection_text, wait_for
from tests.test_app_speech import _wait_for_tts

FIRST = (
    "Please read me a long story about a lighthouse keeper who lived on a small island "
    "and counted the ships that passed by every single night of the year."
)
SECOND = "Stop please, what time is it in Tokyo?"


def _write_mic(path: Path) -> None:
    tts = load_tts(varied=False)
    pcm = (
        silence(500, RATE)
        + tts.synthesize(FIRST, RATE)
        + silence(4500, RATE)  # the first turn ends, its answer starts playing
        + tts.synthesize(SECOND, RATE)
        + silence(30_000, RATE)
    )
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm)


def _turns(app: DistillerApp) -> list[tuple[str, list[str]]]:
    return [(t.user.text.lower(), [a.state for a in t.answers]) for t in app.conversation.turns]


async def test_hands_free_keeps_listening_and_speaking_over_the_answer_interrupts_it(
    speech_server: EngineProcess, tmp_path: Path
) -> None:
    await _wait_for_tts(speech_server)
    create_project(speech_server, "hands-free", voice_project(barge_in=True))
    mic = tmp_path / "mic.wav"
    _write_mic(mic)
    audio = f"file:{mic}:{tmp_path / 'speaker.wav'}"
    app = app_for(speech_server, "pilot-hands-free", project="hands-free", audio=audio)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "connected" in connection_text(app), timeout=60)
        assert "hands-free" not in app.status.field_text("audio")

        await pilot.press("f4")
        await wait_for(pilot, lambda: app.talk.mic is not None and app.talk.mic.recording)
        assert app.talk.hands_free
        # Files hold no echo, so there is nothing to cancel: the bar says so, and why.
        await wait_for(
            pilot, lambda: app.status.field_text("audio") == "audio · no AEC · hands-free"
        )
        assert "echo cancellation off: " in app.status.audio_detail
        assert app.talk.meter.mode == "mic"

        # Nothing pressed from here: the first turn is heard and answered aloud, then
        # the second question, spoken over that answer, interrupts it.
        # ("Stop please," may be a turn of its own: its comma's pause can end it.)
        await wait_for(pilot, lambda: any("tokyo" in text for text, _ in _turns(app)[1:]), 180)
        (first_text, first_states), *later = _turns(app)
        assert "lighthouse" in first_text
        assert first_states == ["interrupted"]
        assert any("tokyo" in text for text, _ in later)
        assert app.talk.mic is not None and app.talk.mic.recording  # still open
        assert app.talk.meter.mode == "mic"  # the meter stays on the (cleaned) microphone

        await pilot.press("f4")  # hands-free off: the mic closes, push-to-talk as before
        await wait_for(pilot, lambda: not app.talk.mic.recording)
        assert not app.talk.hands_free
        assert "hands-free" not in app.status.field_text("audio")
