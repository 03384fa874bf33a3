"""The audio actor on the null backend and on a stand-in sound card.

The stand-in (`FixedRateCard`) replaces only the hardware: it runs at 48 kHz
like many real cards, records what it is given and plays a prepared signal as
its microphone. Everything above it is the real actor.
"""

from __future__ import annotations

import asyncio
import math
from pathlib import Path

import numpy as np
import pytest

from audio import (
    AudioActor,
    AudioBackend,
    AudioFileError,
    InputSink,
    NullBackend,
    OpenedStream,
    OutputSource,
    StreamFormat,
    open_backend,
)
from audio.levels import FLOOR_DBFS
from audio.paced import PacedThread, input_clock, output_clock
from tests.conftest import wait_until

RATE = 16000


def sine_bytes(seconds: float, freq: float = 1000.0, amplitude: float = 0.5, rate: int = RATE):
    t = np.arange(round(seconds * rate)) / rate
    return np.round(amplitude * 32767 * np.sin(2 * math.pi * freq * t)).astype("<i2").tobytes()


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


class FixedRateCard(AudioBackend):
    """A fake sound card that only runs at `rate`; records output, plays `mic` as input."""

    def __init__(self, rate: int = 48000, mic: np.ndarray | None = None) -> None:
        self.rate = rate
        self.mic = mic
        self.played: list[np.ndarray] = []
        self._threads: dict[str, PacedThread] = {}

    @property
    def description(self) -> str:
        return f"fake card @ {self.rate} Hz"

    def open_output(self, fmt: StreamFormat, source: OutputSource) -> OpenedStream:
        block = fmt.block_samples(self.rate)
        record = self.played.append
        step = output_clock(
            source.pull, block, fmt.frame_ms / 1000, False, lambda b: record(b.copy())
        )
        self._threads["out"] = PacedThread("fake-out", step)
        self._threads["out"].start()
        return OpenedStream(self.rate)

    def close_output(self) -> None:
        self._threads.pop("out").stop()

    def open_input(self, fmt: StreamFormat, sink: InputSink) -> OpenedStream:
        block = fmt.block_samples(self.rate)
        mic = self.mic if self.mic is not None else np.zeros(0, dtype=np.int16)
        blocks = iter([mic[i : i + block] for i in range(0, len(mic), block)])
        period = fmt.frame_ms / 1000
        step = input_clock(
            lambda: next(blocks, None), sink.push, sink.backlog, sink.end, period, False
        )
        self._threads["in"] = PacedThread("fake-in", step)
        self._threads["in"].start()
        return OpenedStream(self.rate)

    def close_input(self) -> None:
        self._threads.pop("in").stop()


class DeadMic(FixedRateCard):
    """A card whose microphone never delivers anything (a stalled device)."""

    def open_input(self, fmt: StreamFormat, sink: InputSink) -> OpenedStream:
        return OpenedStream(self.rate)

    def close_input(self) -> None:
        pass


# playback ----------------------------------------------------------------------


async def test_wait_played_returns_after_every_queued_sample_was_played() -> None:
    audio = sine_bytes(0.5)
    async with AudioActor(NullBackend(realtime=False)) as actor:
        actor.play(audio[: len(audio) // 2])
        actor.play(audio[len(audio) // 2 :])
        assert actor.is_playing
        await asyncio.wait_for(actor.wait_played(), 5)
        assert actor.samples_played == len(audio) // 2
        assert not actor.is_playing


async def test_playback_state_reports_start_then_stop_in_real_time() -> None:
    states: list[bool] = []
    async with AudioActor(NullBackend(), on_playback_state=states.append) as actor:
        loop = asyncio.get_running_loop()
        started = loop.time()
        actor.play(sine_bytes(0.3))
        await wait_until(lambda: states == [True], 5, lambda: f"[True], saw {states}")
        await actor.wait_played()
        assert loop.time() - started >= 0.25  # a real-time speaker takes as long as the audio
        await wait_until(lambda: states == [True, False], 5, lambda: f"[True, False], saw {states}")


async def test_drop_playback_empties_the_queue_at_once() -> None:
    audio = sine_bytes(3.0)
    states: list[bool] = []
    async with AudioActor(NullBackend(), on_playback_state=states.append) as actor:
        actor.play(audio)
        await wait_until(lambda: actor.samples_played > 0, 5, "the speaker to start playing")
        dropped = actor.drop_playback()
        assert not actor.is_playing
        played_at_drop = actor.samples_played
        assert dropped > len(audio) // 2
        assert dropped + 2 * played_at_drop == len(audio)
        await asyncio.wait_for(actor.wait_played(), 0.5)
        await asyncio.sleep(0.1)
        assert actor.samples_played == played_at_drop  # nothing more came out
        await wait_until(lambda: states == [True, False], 5, lambda: f"[True, False], saw {states}")
        assert actor.drop_playback() == 0


async def test_output_levels_follow_the_audio_being_played() -> None:
    async with AudioActor(NullBackend()) as actor:
        assert not actor.output_levels.snapshot().active
        actor.play(sine_bytes(1.0, amplitude=0.5))
        await wait_until(
            lambda: actor.output_levels.snapshot().rms_dbfs > FLOOR_DBFS,
            5,
            "the tone to reach the output meter",
        )
        snap = actor.output_levels.snapshot()
        assert snap.active
        assert snap.rms_dbfs == pytest.approx(-9.03, abs=1.0)
        assert max(snap.waveform) > 0.8
        actor.drop_playback()
        await wait_until(
            lambda: not actor.output_levels.snapshot().active, 5, "the output meter to go idle"
        )


async def test_play_rejects_what_is_not_pcm16() -> None:
    async with AudioActor(NullBackend(realtime=False)) as actor:
        with pytest.raises(ValueError, match="odd length"):
            actor.play(b"\x00\x01\x02")
        with pytest.raises(TypeError, match="PCM16 bytes"):
            actor.play("hello")  # type: ignore[arg-type]
        actor.play(b"")
        assert not actor.is_playing


async def test_using_the_actor_before_opening_it_says_how() -> None:
    actor = AudioActor(NullBackend())
    with pytest.raises(RuntimeError, match="async with"):
        actor.play(sine_bytes(0.1))
    with pytest.raises(RuntimeError, match="not open"):
        await actor.start_capture()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate": 0}, "sample_rate must be between"),
        ({"sample_rate": 16000.0}, "sample_rate must be an int"),
        ({"frame_ms": 1000}, "frame_ms must be between"),
        ({"capture_buffer_s": 0}, "capture_buffer_s"),
    ],
)
def test_bad_settings_are_named(kwargs: dict, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        AudioActor(NullBackend(), **kwargs)


# capture -------------------------------------------------------------------------


async def test_null_mic_captures_silence_in_frame_sized_chunks() -> None:
    async with AudioActor(NullBackend(), frame_ms=20) as actor:
        await actor.start_capture()
        assert actor.is_capturing
        chunks = [await asyncio.wait_for(actor.read(), 1) for _ in range(3)]
        assert [len(c) for c in chunks] == [640, 640, 640]
        assert all(c == bytes(640) for c in chunks)
        snap = actor.input_levels.snapshot()
        assert snap.active
        assert snap.rms_dbfs == FLOOR_DBFS
        await actor.stop_capture()
        assert not actor.input_levels.snapshot().active


async def test_stop_capture_releases_a_waiting_reader() -> None:
    async with AudioActor(DeadMic()) as actor:
        await actor.start_capture()
        reader = asyncio.create_task(actor.read())
        await asyncio.sleep(0.05)
        assert not reader.done()
        await actor.stop_capture()
        assert await asyncio.wait_for(reader, 1) == b""


async def test_read_without_capture_returns_empty_instead_of_hanging() -> None:
    async with AudioActor(NullBackend()) as actor:
        assert await asyncio.wait_for(actor.read(), 1) == b""


async def test_a_reader_that_falls_behind_loses_the_oldest_audio_not_memory() -> None:
    async with AudioActor(NullBackend(), capture_buffer_s=0.1) as actor:
        await actor.start_capture()
        await wait_until(lambda: actor.capture_overruns > 0, 5, "the unread capture to overrun")
        await actor.stop_capture()
        kept = [chunk async for chunk in actor.frames()]
        assert 1 <= len(kept) <= 5  # 0.1 s of 20 ms frames


# a card that does not run at the session rate ---------------------------------------


async def test_playback_is_resampled_to_the_cards_rate() -> None:
    card = FixedRateCard(48000)
    async with AudioActor(card, sample_rate=RATE) as actor:
        actor.play(sine_bytes(1.0, freq=440.0))
        await asyncio.wait_for(actor.wait_played(), 5)
        assert actor.samples_played == pytest.approx(RATE, abs=RATE * 0.01)
    heard = np.concatenate(card.played)
    assert len(heard) == pytest.approx(48000, abs=480)
    assert dominant_frequency(heard, 48000) == pytest.approx(440.0, abs=2.0)


async def test_capture_is_resampled_to_the_session_rate() -> None:
    t = np.arange(24000) / 48000
    mic = np.round(0.5 * 32767 * np.sin(2 * math.pi * 300.0 * t)).astype(np.int16)
    async with AudioActor(FixedRateCard(48000, mic=mic), sample_rate=RATE) as actor:
        await actor.start_capture()
        data = b"".join([chunk async for chunk in actor.frames()])
    samples = np.frombuffer(data, dtype="<i2")
    assert len(samples) == pytest.approx(8000, abs=80)
    assert dominant_frequency(samples, RATE) == pytest.approx(300.0, abs=3.0)


# choosing a backend ------------------------------------------------------------------


def test_open_backend_builds_the_requested_backend(tmp_path: Path) -> None:
    assert open_backend("null").description == "null"
    assert open_backend("null", realtime=False).description == "null (fast)"
    out = tmp_path / "out.wav"
    assert open_backend(speaker_file=out).description == "file: (silence) -> out.wav"


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        (("speakers",), {}, "unknown audio backend 'speakers'"),
        (("file",), {}, "needs a mic file"),
        (("null",), {"speaker_file": "x.wav"}, "only apply to the 'file' backend"),
        (("null",), {"input_device": 1}, "takes no input/output device"),
        (("file",), {"speaker_file": "x.wav", "output_device": 1}, "cannot be combined"),
    ],
)
def test_open_backend_rejects_contradictory_settings(
    args: tuple, kwargs: dict, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        open_backend(*args, **kwargs)


def test_open_backend_checks_the_mic_file_up_front(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="mic file not found"):
        open_backend("file", mic_file=tmp_path / "missing.wav")
