"""The engine's own voice, cancelled on the server with what it sent as the reference.

The microphone here is made in the simulated room (bench/room_sim.py): the
audio the engine sent, played a little later than the engine's pacing model
expects (a client's buffers), through an echo path with reverberation.
"""

from __future__ import annotations

import numpy as np
import pytest

import server.speech.echo as server_echo
from bench.room_sim import EchoSetting, apply_echo, erle_db, impulse_response, piper
from server.speech.echo import SentAudio, ServerEchoCanceller

ANSWER = (
    "The quarterly report shows revenue grew by twelve percent while costs stayed flat. "
    "We expect the trend to continue into next year, with new markets opening in Asia."
)
T0 = 1000.0  # server clock when the answer was sent


def microphone(rate: int, setting: EchoSetting, late_s: float) -> tuple[np.ndarray, np.ndarray]:
    """(sent answer, echo in the mic) where the client started playing `late_s` after sending."""
    sent = piper(ANSWER, rate)
    echo = apply_echo(sent, impulse_response(rate, setting))
    lead = int(late_s * rate)
    mic_echo = np.concatenate((np.zeros(lead), echo))
    return sent, mic_echo


def run_server_canceller(
    canceller: ServerEchoCanceller, mic: np.ndarray, chunk_ms: int = 20
) -> np.ndarray:
    """Feed the mic as a client would, each chunk arriving as it was captured."""
    rate = canceller.rate
    step = rate * chunk_ms // 1000
    pcm = np.clip(np.round(mic), -32768, 32767).astype("<i2")
    out = []
    for start in range(0, len(pcm) - step + 1, step):
        chunk = pcm[start : start + step].tobytes()
        canceller.arrived(chunk, now=T0 + (start + step) / rate)
        out.append(np.frombuffer(canceller.clean(chunk), dtype="<i2"))
    return np.concatenate(out).astype(np.float64)


@pytest.mark.parametrize(
    ("rate", "delay_ms", "gain_db", "late_s"),
    [(16000, 120, -6.0, 0.0), (16000, 40, 0.0, 0.25), (22050, 200, -12.0, 0.1)],
)
def test_the_engines_own_voice_is_removed_from_a_raw_microphone(
    rate: int, delay_ms: int, gain_db: float, late_s: float
) -> None:
    sent, echo = microphone(rate, EchoSetting(delay_ms, gain_db), late_s)
    canceller = ServerEchoCanceller(rate)
    canceller.reference.sent(sent.tobytes(), now=T0)
    cleaned = run_server_canceller(canceller, echo)
    settled, end = 2 * rate, min(len(cleaned), len(echo)) - rate // 10
    assert erle_db(echo[settled:end], cleaned[settled:end]) >= 20.0
    assert canceller.failure is None


def test_playback_started_moves_the_reference_to_when_the_client_really_played() -> None:
    reference = SentAudio(16000)
    tone = np.full(1600, 1000, dtype="<i2")  # 0.1 s
    reference.sent(tone.tobytes(), now=10.0)
    reference.sent(tone.tobytes(), now=10.05)  # queued behind the first: plays 10.1-10.2
    reference.playback_started(now=10.3)  # the client's buffers held it 0.3 s
    assert not reference.window(10.0, 4800).any()  # 10.0-10.3: nothing played yet
    assert reference.window(10.3, 3200).all()  # 10.3-10.5: both chunks
    assert reference.play_end == pytest.approx(10.5)


def test_a_drop_ends_the_reference_at_once() -> None:
    reference = SentAudio(16000)
    reference.sent(np.full(16000, 1000, dtype="<i2").tobytes(), now=5.0)
    reference.dropped(now=5.25)
    assert reference.window(5.0, 4000).all()
    assert not reference.window(5.25, 8000).any()


def test_before_the_engine_speaks_the_microphone_passes_untouched() -> None:
    canceller = ServerEchoCanceller(16000)
    chunk = np.random.default_rng(0).integers(-3000, 3000, 320).astype("<i2").tobytes()
    canceller.arrived(chunk, now=1.0)
    assert canceller.clean(chunk) == chunk
    assert canceller.frames == 0


def test_a_canceller_that_cannot_load_passes_the_microphone_on(monkeypatch) -> None:
    def missing(rate: int) -> None:
        raise ImportError("No module named 'pywebrtc_audio'")

    monkeypatch.setattr(server_echo, "_load_processor", missing)
    canceller = ServerEchoCanceller(16000)
    canceller.reference.sent(np.full(3200, 500, dtype="<i2").tobytes(), now=T0)
    chunk = np.full(320, 700, dtype="<i2").tobytes()
    canceller.arrived(chunk, now=T0 + 0.02)
    assert canceller.clean(chunk) == chunk
    assert canceller.failure == (
        "the server's echo canceller failed: No module named 'pywebrtc_audio'"
    )


def test_the_server_canceller_is_on_by_default_and_an_environment_switch_turns_it_off(
    monkeypatch,
) -> None:
    sent, echo = microphone(16000, EchoSetting(120, -6.0), 0.0)
    chunk = np.clip(echo[16000:16320], -32768, 32767).astype("<i2").tobytes()
    assert ServerEchoCanceller(16000).failure is None
    monkeypatch.setenv(server_echo.SWITCH_ENV, "0")
    canceller = ServerEchoCanceller(16000)
    canceller.reference.sent(sent.tobytes(), now=T0)
    canceller.arrived(chunk, now=T0 + 1.02)
    assert canceller.clean(chunk) == chunk
    assert canceller.failure == f"turned off ({server_echo.SWITCH_ENV}=0)"


def test_a_microphone_already_cleaned_by_its_client_is_left_alone() -> None:
    """What a client's own canceller leaves (-45 dB, still correlated) is not echo to cancel:
    cancelling it again made AEC3 suppress a user talking over the answer."""
    rate = 16000
    sent, echo = microphone(rate, EchoSetting(120, -45.0), 0.0)
    user = piper("Hold on, can you book a table for four at seven?", rate).astype(np.float64)
    mic = echo.copy()
    mic[3 * rate : 3 * rate + len(user)] += user
    canceller = ServerEchoCanceller(rate)
    canceller.reference.sent(sent.tobytes(), now=T0)
    cleaned = run_server_canceller(canceller, mic)
    assert not canceller.presence.seen
    span = slice(3 * rate, 3 * rate + len(user))
    assert np.array_equal(cleaned[span], np.round(mic[span]))  # the user, untouched


def test_a_client_sending_faster_than_real_time_keeps_one_echo_path() -> None:
    """Buffered microphone audio arriving in a burst was captured back to back: its clock
    keeps counting samples instead of jumping to each chunk's arrival."""
    canceller = ServerEchoCanceller(16000)
    chunk = bytes(3200)  # 0.1 s
    stamps = []
    for i in range(10):
        canceller.arrived(chunk, now=T0 + 0.05 * i)  # twice real time
        stamps.append(canceller._stamps[-1])
    assert np.allclose(np.diff(stamps), 0.1)


def test_without_the_linear_canceller_the_double_talk_check_stands_down(monkeypatch) -> None:
    """speexaec missing: the reason is given, nothing counts as the user, AEC3 still cleans."""
    import sys

    from server.speech.vad import load_vad

    monkeypatch.setitem(sys.modules, "speexaec", None)  # its import fails
    rate = 16000
    sent, mic = microphone(rate, EchoSetting(120, -6.0), 0.0)
    canceller = ServerEchoCanceller(rate, SentAudio(rate), vad=load_vad())
    canceller.reference.sent(sent.tobytes(), now=T0)
    cleaned = run_server_canceller(canceller, mic)
    assert canceller.double_talk is not None
    assert "not installed" in (canceller.double_talk.failure or "")
    assert not canceller.user_speaking
    assert erle_db(mic[2 * rate : len(cleaned)], cleaned[2 * rate :]) > 15
