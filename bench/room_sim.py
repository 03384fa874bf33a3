"""A simulated room, shared by the tests and `bench.room`: speaker -> echo path -> microphone.

What the assistant plays goes through an echo path (a delay of 20-250 ms, a gain
of -25..+3 dB relative to the played signal, and the reverberation of a room
impulse response made by `rir-generator`), background noise is added, and a
scripted user (espeak-ng, a voice the engine never uses, or Piper) talks into
the same microphone at chosen moments.

`RoomBackend` stands in for the sound card only (one clock moves the speaker
and the microphone in step, as a real duplex card does); the audio actor above
it, and everything further up, is real. It runs in real time, or as fast as the
reader keeps up (`realtime=False`) for client-only measurements.
"""

from __future__ import annotations

import io
import subprocess
import threading
import time
import wave
from dataclasses import dataclass, field

import numpy as np
from scipy.signal import lfilter

from audio.backend import AudioBackend, InputSink, OpenedStream, OutputSource, StreamFormat
from audio.paced import BACKLOG_HIGH_WATER, PacedThread
from audio.resample import resample_all

_SPEED_OF_SOUND = 343.0


@dataclass(frozen=True, slots=True)
class EchoSetting:
    """One echo path: how late, how loud (dB relative to what is played), how reverberant."""

    delay_ms: int = 120
    gain_db: float = -6.0
    rt60_s: float = 0.3
    noise_dbfs: float | None = -60.0
    """Background noise level (white noise, RMS in dB of full scale); None for none."""

    @property
    def label(self) -> str:
        return f"{self.delay_ms}ms/{self.gain_db:+.0f}dB"


def impulse_response(rate: int, setting: EchoSetting, seed: int = 0) -> np.ndarray:
    """Speaker-to-microphone response: a pure delay, then a room's reverberation, scaled.

    The room (5 x 4 x 3 m, speaker and microphone 0.4 m apart, as on a laptop)
    comes from `rir-generator` (image method); its direct path is moved to
    `delay_ms` (device latency plus air), and its energy is set to `gain_db`.
    """
    import rir_generator

    rng = np.random.default_rng(seed)
    mic = [2.0 + rng.uniform(-0.5, 0.5), 1.5 + rng.uniform(-0.5, 0.5), 1.0]
    speaker = [mic[0] + 0.4, mic[1], mic[2]]
    room = rir_generator.generate(
        c=_SPEED_OF_SOUND,
        fs=rate,
        r=[mic],
        s=speaker,
        L=[5.0, 4.0, 3.0],
        reverberation_time=setting.rt60_s,
        nsample=int(rate * max(0.05, setting.rt60_s)),
    )[:, 0]
    first = int(np.argmax(np.abs(room) > 0.1 * np.abs(room).max()))
    room = room[first:]
    room *= 10 ** (setting.gain_db / 20) / np.sqrt(np.sum(room**2))
    return np.concatenate((np.zeros(int(rate * setting.delay_ms / 1000)), room))


class EchoPath:
    """Streams audio through an impulse response, block by block, keeping the filter state."""

    def __init__(self, response: np.ndarray) -> None:
        self._h = response
        self._state = np.zeros(len(response) - 1)

    def __call__(self, played: np.ndarray) -> np.ndarray:
        out, self._state = lfilter(self._h, [1.0], played.astype(np.float64), zi=self._state)
        return out


def apply_echo(played: np.ndarray, response: np.ndarray) -> np.ndarray:
    """The echo of a whole signal (float, same length)."""
    from scipy.signal import fftconvolve

    return fftconvolve(played.astype(np.float64), response)[: len(played)]


# voices ---------------------------------------------------------------------------------


def espeak(text: str, rate: int, voice: str = "en-us", words_per_minute: int = 150) -> np.ndarray:
    """Speech by espeak-ng (a voice the engine never uses), int16 at `rate`."""
    wav = subprocess.run(
        ["espeak-ng", "--stdout", "-v", voice, "-s", str(words_per_minute), text],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(wav)) as reader:
        native = reader.getframerate()
        samples = np.frombuffer(reader.readframes(reader.getnframes()), dtype="<i2")
    return trim(resample_all(samples, native, rate))


def piper(text: str, rate: int, speed: float = 1.0) -> np.ndarray:
    """Speech by the engine's own Piper voice (the assistant, or a user who sounds like it)."""
    return trim(np.frombuffer(_piper_voice(speed).synthesize(text, rate), dtype="<i2"))


def trim(samples: np.ndarray, threshold_dbfs: float = -45.0) -> np.ndarray:
    """Without leading and trailing silence, so a scheduled onset is the first sound."""
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 32768 * 10 ** (threshold_dbfs / 20))
    return samples[loud[0] : loud[-1] + 1] if len(loud) else samples[:0]


_VOICES: dict[float, object] = {}


def _piper_voice(speed: float):
    from server.speech.tts import load_tts

    if speed not in _VOICES:
        _VOICES[speed] = load_tts("en_US-joe-medium", speed)
    return _VOICES[speed]


def level_dbfs(samples: np.ndarray) -> float:
    power = float(np.mean(np.asarray(samples, dtype=np.float64) ** 2)) if len(samples) else 0.0
    return 10 * np.log10(max(power, 1e-12) / 32768**2)


def erle_db(echo: np.ndarray, residual: np.ndarray) -> float:
    """Echo return loss enhancement: how much quieter the echo is after cancellation."""
    echo_power = float(np.mean(np.asarray(echo, dtype=np.float64) ** 2))
    residual_power = float(np.mean(np.asarray(residual, dtype=np.float64) ** 2))
    return 10 * np.log10(max(echo_power, 1e-12) / max(residual_power, 1e-12))


# the room as a sound card ------------------------------------------------------------------


@dataclass
class _Speech:
    samples: np.ndarray
    at_sample: int  # room time (microphone samples since the room started)
    onset_at: float | None = None  # monotonic time its first sample reached the microphone


@dataclass
class RoomLog:
    """What the room's microphone heard, per component, at the session rate."""

    echo: list[np.ndarray] = field(default_factory=list)
    user: list[np.ndarray] = field(default_factory=list)


class RoomBackend(AudioBackend):
    """A duplex sound card in a room: one clock pulls the speaker and pushes the microphone.

    The microphone hears the played audio through `setting`'s echo path, plus
    noise, plus whatever `say` scheduled. Blocks are `frame_ms` long at the
    session rate (the room runs at the rate the actor asks for).
    """

    def __init__(self, setting: EchoSetting, *, realtime: bool = True, seed: int = 0) -> None:
        self.setting = setting
        self.realtime = realtime
        self.seed = seed
        self.log = RoomLog()
        self.samples = 0
        """Room time: microphone samples pushed so far."""
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self._speech: list[_Speech] = []
        self._source: OutputSource | None = None
        self._sink: InputSink | None = None
        self._thread: PacedThread | None = None
        self._fmt: StreamFormat | None = None
        self._path: EchoPath | None = None

    @property
    def description(self) -> str:
        return f"room ({self.setting.label})"

    # the scripted user --------------------------------------------------------------

    def say(self, samples: np.ndarray, after_s: float = 0.0) -> _Speech:
        """Have the user speak `samples` (at the session rate) `after_s` from now (room time)."""
        assert self._fmt is not None, "open the room before scripting the user"
        with self._lock:
            speech = _Speech(samples, self.samples + int(after_s * self._fmt.sample_rate))
            self._speech.append(speech)
        return speech

    @property
    def user_speaking(self) -> bool:
        with self._lock:
            return any(s.at_sample + len(s.samples) > self.samples for s in self._speech)

    # AudioBackend --------------------------------------------------------------------

    def open_output(self, fmt: StreamFormat, source: OutputSource) -> OpenedStream:
        self._fmt = fmt
        self._source = source
        self._path = EchoPath(impulse_response(fmt.sample_rate, self.setting, self.seed))
        self._thread = PacedThread("room", self._step)
        self._thread.start()
        return OpenedStream(fmt.sample_rate)

    def close_output(self) -> None:
        if self._thread is not None:
            self._thread.stop()
            self._thread = None
        self._source = None

    def open_input(self, fmt: StreamFormat, sink: InputSink) -> OpenedStream:
        self._sink = sink
        return OpenedStream(fmt.sample_rate)

    def close_input(self) -> None:
        self._sink = None

    def _step(self) -> float | None:
        fmt, source, path = self._fmt, self._source, self._path
        if fmt is None or source is None or path is None:
            return None
        period = fmt.frame_ms / 1000
        sink = self._sink
        if not self.realtime and (sink is None or sink.backlog() >= BACKLOG_HIGH_WATER):
            return period / 4  # fast: run only as fast as someone reads the microphone
        block = fmt.block_samples()
        played = np.zeros(block, dtype=np.int16)
        source.pull(played)
        echo = path(played)
        user = self._user_block(block)
        mic = echo + user
        if self.setting.noise_dbfs is not None:
            mic += self._rng.standard_normal(block) * 32768 * 10 ** (self.setting.noise_dbfs / 20)
        self.samples += block
        if sink is not None:
            self.log.echo.append(echo)
            self.log.user.append(user)
            sink.push(np.clip(np.round(mic), -32768, 32767).astype(np.int16))
        return period if self.realtime else 0.0

    def _user_block(self, block: int) -> np.ndarray:
        out = np.zeros(block)
        start, end = self.samples, self.samples + block
        with self._lock:
            for speech in self._speech:
                at = speech.at_sample
                lo, hi = max(start, at), min(end, at + len(speech.samples))
                if lo >= hi:
                    continue
                if speech.onset_at is None:
                    speech.onset_at = time.monotonic()
                out[lo - start : hi - start] = speech.samples[lo - at : hi - at]
            self._speech = [s for s in self._speech if s.at_sample + len(s.samples) > end]
        return out
