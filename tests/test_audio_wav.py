"""The WAV-file backend: a file as the microphone, played audio recorded to a file."""

from __future__ import annotations

import math
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from audio import AudioActor, AudioFileError, WavFileBackend, open_backend
from tests.conftest import wait_until

RATE = 16000


def tone(seconds: float, freq: float = 1000.0, amplitude: float = 0.5, rate: int = RATE):
    t = np.arange(round(seconds * rate)) / rate
    return np.round(amplitude * 32767 * np.sin(2 * math.pi * freq * t)).astype(np.int16)


def write_wav(path: Path, samples: np.ndarray, rate: int = RATE, channels: int = 1) -> Path:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(samples.astype("<i2").tobytes())
    return path


def read_wav(path: Path) -> tuple[np.ndarray, int, int]:
    with wave.open(str(path), "rb") as wav:
        data = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        return data, wav.getframerate(), wav.getnchannels()


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[np.argmax(spectrum)])


# the file as a microphone ---------------------------------------------------------


async def test_mic_file_comes_back_frame_by_frame_then_ends(tmp_path: Path) -> None:
    ramp = (np.arange(10_000) % 30_000 - 15_000).astype(np.int16)  # every sample distinct-ish
    mic = write_wav(tmp_path / "q.wav", ramp)
    async with AudioActor(open_backend("file", mic_file=mic, realtime=False)) as actor:
        await actor.start_capture()
        chunks = [chunk async for chunk in actor.frames()]
        assert await actor.read() == b""  # stays ended
    assert {len(c) for c in chunks[:-1]} == {640}
    assert b"".join(chunks) == ramp.astype("<i2").tobytes()


async def test_mic_file_at_another_rate_and_in_stereo_is_converted(tmp_path: Path) -> None:
    left = tone(0.5, freq=500.0, rate=44100)
    stereo = np.column_stack([left, left]).reshape(-1)
    mic = write_wav(tmp_path / "stereo.wav", stereo, rate=44100, channels=2)
    async with AudioActor(WavFileBackend(mic, realtime=False), sample_rate=RATE) as actor:
        await actor.start_capture()
        data = b"".join([chunk async for chunk in actor.frames()])
    samples = np.frombuffer(data, dtype="<i2")
    assert len(samples) == pytest.approx(RATE / 2, abs=RATE * 0.01)
    assert dominant_frequency(samples, RATE) == pytest.approx(500.0, abs=5.0)


async def test_mic_file_is_read_in_real_time_by_default(tmp_path: Path) -> None:
    mic = write_wav(tmp_path / "q.wav", tone(0.5))
    async with AudioActor(open_backend(mic_file=mic)) as actor:
        started = time.monotonic()
        await actor.start_capture()
        data = b"".join([chunk async for chunk in actor.frames()])
        elapsed = time.monotonic() - started
    assert len(data) == RATE  # 0.5 s of 2-byte samples
    assert elapsed >= 0.4  # a person takes as long to say it as the recording lasts


async def test_mic_file_levels_show_its_loudness(tmp_path: Path) -> None:
    mic = write_wav(tmp_path / "q.wav", tone(0.3, amplitude=0.25))
    async with AudioActor(WavFileBackend(mic, realtime=False)) as actor:
        await actor.start_capture()
        _ = [chunk async for chunk in actor.frames()]
        snap = actor.input_levels.snapshot()
    assert snap.rms_dbfs == pytest.approx(20 * math.log10(0.25 / math.sqrt(2)), abs=1.0)
    assert snap.peak_dbfs == pytest.approx(20 * math.log10(0.25), abs=1.0)


async def test_one_mic_file_serves_several_turns_in_order(tmp_path: Path) -> None:
    ramp = np.arange(32000).astype(np.int16)  # 2 s, rising: longer than the read-ahead
    mic = write_wav(tmp_path / "q.wav", ramp)
    async with AudioActor(WavFileBackend(mic, realtime=False)) as actor:
        await actor.start_capture()
        first = await actor.read()
        await actor.stop_capture()
        while await actor.read():  # whatever was captured before the stop
            pass
        await actor.start_capture()
        later = await actor.read()
    assert np.frombuffer(first, dtype="<i2")[0] == 0
    assert np.frombuffer(later, dtype="<i2")[0] > np.frombuffer(first, dtype="<i2")[-1]


# the file as a speaker --------------------------------------------------------------


async def test_played_audio_is_written_to_the_speaker_file(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    audio = tone(0.5).astype("<i2").tobytes()
    async with AudioActor(open_backend(speaker_file=out, realtime=False)) as actor:
        actor.play(audio[:3000])
        actor.play(audio[3000:])
        await actor.wait_played()
    samples, rate, channels = read_wav(out)
    assert (rate, channels) == (RATE, 1)
    assert samples.tobytes() == audio
    assert np.abs(samples).max() > 10_000


async def test_speaker_file_uses_the_session_rate(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    async with AudioActor(WavFileBackend(speaker_file=out, realtime=False), 24000) as actor:
        actor.play(tone(0.2, rate=24000).astype("<i2").tobytes())
        await actor.wait_played()
    samples, rate, _ = read_wav(out)
    assert rate == 24000
    assert len(samples) == 4800


async def test_later_sessions_on_one_backend_append_to_the_speaker_file(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    out.write_bytes(b"left over from yesterday")
    backend = WavFileBackend(speaker_file=out, realtime=False)
    first, second = tone(0.2, freq=500.0), tone(0.3, freq=700.0)
    for audio in (first, second):
        async with AudioActor(backend) as actor:
            actor.play(audio.astype("<i2").tobytes())
            await actor.wait_played()
    samples, _, _ = read_wav(out)
    assert samples.tobytes() == np.concatenate([first, second]).astype("<i2").tobytes()


async def test_dropped_audio_never_reaches_the_speaker_file(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    async with AudioActor(WavFileBackend(speaker_file=out)) as actor:
        actor.play(tone(5.0).astype("<i2").tobytes())
        await wait_until(lambda: actor.samples_played > 0, 5, "the speaker file to get audio")
        actor.drop_playback()
        await actor.wait_played()
        played = actor.samples_played
    samples, _, _ = read_wav(out)
    assert len(samples) == played
    assert len(samples) < RATE  # well under the 5 s queued


# bad files ---------------------------------------------------------------------------


def test_a_mic_file_that_is_not_wav_is_named(tmp_path: Path) -> None:
    bogus = tmp_path / "notes.wav"
    bogus.write_text("not audio")
    with pytest.raises(AudioFileError, match=r"notes\.wav is not a readable PCM WAV"):
        WavFileBackend(bogus)


def test_an_8_bit_mic_file_is_rejected_with_the_reason(tmp_path: Path) -> None:
    path = tmp_path / "u8.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(1)
        wav.setframerate(8000)
        wav.writeframes(bytes(800))
    with pytest.raises(AudioFileError, match="8-bit samples; 16-bit PCM is needed"):
        WavFileBackend(path)


def test_a_speaker_file_in_a_missing_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="does not exist"):
        WavFileBackend(speaker_file=tmp_path / "nope" / "out.wav")


def test_description_names_both_files(tmp_path: Path) -> None:
    mic = write_wav(tmp_path / "q.wav", tone(0.1))
    backend = WavFileBackend(mic, tmp_path / "out.wav", realtime=False)
    assert backend.description == "file: q.wav -> out.wav (fast)"
