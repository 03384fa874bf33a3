"""A backend on WAV files: a file plays the part of the microphone, played audio is recorded.

For headless use, demos and tests. The mic file is read in real time by
default (as a person would speak it) or as fast as the reader takes it; when
it ends, `AudioActor.read()` returns b"". Everything played is written to the
speaker file back to back (idle time is not recorded), at the session rate; a
later session on the same backend appends, unless its rate differs (then the
file starts over: one WAV has one rate).
"""

from __future__ import annotations

import threading
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np

from audio.backend import AudioBackend, InputSink, OpenedStream, OutputSource, StreamFormat
from audio.errors import AudioFileError
from audio.paced import PacedThread, input_clock, output_clock
from audio.resample import resample_all

_CONVERT_HINT = "convert it with e.g. `ffmpeg -i IN -ac 1 -ar 16000 -c:a pcm_s16le OUT.wav`"


def _check_mic_file(path: Path) -> tuple[int, int]:
    """(rate, channels) of a usable mic file, or AudioFileError naming the problem."""
    if not path.is_file():
        raise AudioFileError(f"mic file not found: {path}")
    try:
        with wave.open(str(path), "rb") as wav:
            width, rate, channels = wav.getsampwidth(), wav.getframerate(), wav.getnchannels()
    except (wave.Error, EOFError) as exc:
        raise AudioFileError(
            f"mic file {path} is not a readable PCM WAV file ({exc}); {_CONVERT_HINT}"
        ) from exc
    if width != 2:
        raise AudioFileError(
            f"mic file {path} has {8 * width}-bit samples; 16-bit PCM is needed; {_CONVERT_HINT}"
        )
    if rate <= 0 or channels <= 0:
        raise AudioFileError(f"mic file {path} has an invalid header (rate {rate}, {channels} ch)")
    return rate, channels


def _check_speaker_file(path: Path) -> None:
    if path.is_dir():
        raise AudioFileError(f"speaker file {path} is a directory; give a .wav file path")
    if not path.parent.is_dir():
        raise AudioFileError(f"speaker file {path}: folder {path.parent} does not exist")


def read_wav_mono(path: Path, sample_rate: int) -> np.ndarray:
    """Load a 16-bit WAV as int16 mono at `sample_rate` (downmixed and resampled as needed)."""
    rate, channels = _check_mic_file(path)
    with wave.open(str(path), "rb") as wav:
        raw = wav.readframes(wav.getnframes())
    samples = np.frombuffer(raw, dtype="<i2")
    if channels > 1:
        usable = len(samples) - len(samples) % channels
        samples = samples[:usable].reshape(-1, channels).mean(axis=1).astype(np.int16)
    return resample_all(samples.astype(np.int16), rate, sample_rate)


class WavFileBackend(AudioBackend):
    """Mic from `mic_file` (or silence), speaker into `speaker_file` (or discarded)."""

    def __init__(
        self,
        mic_file: str | Path | None = None,
        speaker_file: str | Path | None = None,
        *,
        realtime: bool = True,
    ) -> None:
        self.mic_file = Path(mic_file) if mic_file is not None else None
        self.speaker_file = Path(speaker_file) if speaker_file is not None else None
        self.realtime = realtime
        if self.mic_file is not None:
            _check_mic_file(self.mic_file)
        if self.speaker_file is not None:
            _check_speaker_file(self.speaker_file)
        self._mic: np.ndarray | None = None
        self._mic_rate = 0
        self._mic_pos = 0
        self._input: PacedThread | None = None
        self._output: PacedThread | None = None
        self._writer: wave.Wave_write | None = None
        self._speaker_rate = 0
        """Rate of what this backend already wrote; 0 = nothing yet (start the file over)."""
        self._writer_lock = threading.Lock()

    @property
    def description(self) -> str:
        mic = self.mic_file.name if self.mic_file is not None else "(silence)"
        speaker = self.speaker_file.name if self.speaker_file is not None else "(discarded)"
        pace = "" if self.realtime else " (fast)"
        return f"file: {mic} -> {speaker}{pace}"

    @property
    def no_echo_reason(self) -> str | None:
        if self.mic_file is None:
            return "no microphone (the file backend has no mic file)"
        return "the microphone is a WAV file, which the speaker cannot reach"

    # speaker -----------------------------------------------------------------

    def open_output(self, fmt: StreamFormat, source: OutputSource) -> OpenedStream:
        self.close_output()
        if self.speaker_file is not None:
            earlier = self._earlier_recording(fmt.sample_rate)
            writer = wave.open(str(self.speaker_file), "wb")  # noqa: SIM115 - closed in close_output
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(fmt.sample_rate)
            writer.writeframes(earlier)
            self._writer = writer
            self._speaker_rate = fmt.sample_rate
        step = output_clock(
            source.pull, fmt.block_samples(), fmt.frame_ms / 1000, self.realtime, self._record
        )
        self._output = PacedThread("audio-file-speaker", step)
        self._output.start()
        return OpenedStream(fmt.sample_rate)

    def _earlier_recording(self, rate: int) -> bytes:
        """What this backend wrote in earlier sessions at the same rate, to keep (append)."""
        if self._speaker_rate != rate or self.speaker_file is None:
            return b""
        try:
            with wave.open(str(self.speaker_file), "rb") as wav:
                return wav.readframes(wav.getnframes())
        except (OSError, wave.Error, EOFError):
            return b""

    def _record(self, samples: np.ndarray) -> None:
        # Runs on the speaker thread: file I/O here never touches the event loop.
        with self._writer_lock:
            if self._writer is not None:
                self._writer.writeframes(samples.astype("<i2").tobytes())

    def close_output(self) -> None:
        if self._output is not None:
            self._output.stop()
            self._output = None
        with self._writer_lock:
            if self._writer is not None:
                self._writer.close()
                self._writer = None

    # microphone --------------------------------------------------------------

    def open_input(self, fmt: StreamFormat, sink: InputSink) -> OpenedStream:
        self.close_input()
        block = fmt.block_samples()
        next_block = self._silence(block) if self.mic_file is None else self._file_blocks(fmt)
        step = input_clock(
            next_block, sink.push, sink.backlog, sink.end, fmt.frame_ms / 1000, self.realtime
        )
        self._input = PacedThread("audio-file-mic", step)
        self._input.start()
        return OpenedStream(fmt.sample_rate)

    @staticmethod
    def _silence(block: int) -> Callable[[], np.ndarray | None]:
        silence = np.zeros(block, dtype=np.int16)
        return lambda: silence

    def _file_blocks(self, fmt: StreamFormat) -> Callable[[], np.ndarray | None]:
        """Blocks of the mic file; the position survives stop/start (one file, many turns)."""
        assert self.mic_file is not None
        if self._mic is None or self._mic_rate != fmt.sample_rate:
            self._mic = read_wav_mono(self.mic_file, fmt.sample_rate)
            self._mic_rate = fmt.sample_rate
            self._mic_pos = 0
        samples, block = self._mic, fmt.block_samples()

        def next_block() -> np.ndarray | None:
            start = self._mic_pos
            if start >= len(samples):
                return None
            self._mic_pos = start + block
            return samples[start : start + block]

        return next_block

    def close_input(self) -> None:
        if self._input is not None:
            self._input.stop()
            self._input = None
