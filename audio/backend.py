"""The contract between the audio actor and whatever moves samples (sound card, file, nothing).

A backend owns device threads; the actor owns the queues. Backends call
`InputSink.push` / `OutputSource.pull` from their own thread (PortAudio's
callback thread, or a paced thread for files), and those calls never block.
`open_*`/`close_*` may block (devices take time to open), so the actor runs
them off the event loop.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Protocol

import numpy as np


@dataclass(frozen=True, slots=True)
class StreamFormat:
    """What the actor asks for: PCM16 mono at `sample_rate`, in blocks of `frame_ms`."""

    sample_rate: int
    frame_ms: int

    def block_samples(self, rate: int | None = None) -> int:
        """Samples per block at `rate` (default: the requested rate)."""
        return max(1, (rate or self.sample_rate) * self.frame_ms // 1000)


@dataclass(frozen=True, slots=True)
class OpenedStream:
    """What the backend actually opened; the actor resamples if the rate differs."""

    sample_rate: int
    latency_s: float = 0.0
    """Time from handing a sample to the device until it is heard (0 for files)."""


class InputSink(Protocol):
    """Where captured audio goes. Implemented by the actor."""

    def push(self, pcm: np.ndarray) -> None:
        """One block of int16 mono samples; the sink copies what it keeps."""

    def backlog(self) -> int:
        """Blocks captured but not read yet, so fast file sources can wait for the reader."""

    def end(self) -> None:
        """The source has no more audio (a microphone file reached its end)."""


class OutputSource(Protocol):
    """Where audio to play comes from. Implemented by the actor."""

    def pull(self, out: np.ndarray) -> int:
        """Fill `out` (int16 mono); returns how many leading samples are real audio.

        The rest of `out` is set to silence.
        """


class AudioBackend(ABC):
    """Opens and closes the microphone and speaker streams."""

    @property
    @abstractmethod
    def description(self) -> str:
        """Short human label, e.g. "default (ALSA)", "null", "file: q.wav -> out.wav"."""

    @property
    def no_echo_reason(self) -> str | None:
        """None if the speaker can reach the microphone (echo cancellation applies), else why not.

        Real devices (and simulated rooms) keep the default; backends without a
        live microphone or without a speaker say so, for the status bar.
        """
        return None

    @abstractmethod
    def open_output(self, fmt: StreamFormat, source: OutputSource) -> OpenedStream:
        """Start pulling audio for the speaker. Blocking; raises AudioUnavailable."""

    @abstractmethod
    def close_output(self) -> None:
        """Stop the speaker stream; nothing is pulled after this returns."""

    @abstractmethod
    def open_input(self, fmt: StreamFormat, sink: InputSink) -> OpenedStream:
        """Start pushing captured audio. Blocking; raises AudioUnavailable."""

    @abstractmethod
    def close_input(self) -> None:
        """Stop the microphone stream; nothing is pushed after this returns."""
