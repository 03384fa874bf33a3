"""A backend with no hardware: the mic hears silence, the speaker discards audio.

For headless runs and tests. It keeps real-time pacing by default so that
playback takes as long as the audio lasts (playback.started/stopped stay
meaningful); `realtime=False` runs as fast as the other side allows.
"""

from __future__ import annotations

import numpy as np

from audio.backend import AudioBackend, InputSink, OpenedStream, OutputSource, StreamFormat
from audio.paced import PacedThread, input_clock, output_clock


class NullBackend(AudioBackend):
    """Silence in, nothing out."""

    def __init__(self, *, realtime: bool = True) -> None:
        self.realtime = realtime
        self._output: PacedThread | None = None
        self._input: PacedThread | None = None

    @property
    def description(self) -> str:
        return "null" if self.realtime else "null (fast)"

    @property
    def no_echo_reason(self) -> str | None:
        return "no microphone or speaker (the null audio backend)"

    def open_output(self, fmt: StreamFormat, source: OutputSource) -> OpenedStream:
        self.close_output()
        step = output_clock(source.pull, fmt.block_samples(), fmt.frame_ms / 1000, self.realtime)
        self._output = PacedThread("audio-null-speaker", step)
        self._output.start()
        return OpenedStream(fmt.sample_rate)

    def close_output(self) -> None:
        if self._output is not None:
            self._output.stop()
            self._output = None

    def open_input(self, fmt: StreamFormat, sink: InputSink) -> OpenedStream:
        self.close_input()
        silence = np.zeros(fmt.block_samples(), dtype=np.int16)
        step = input_clock(
            lambda: silence, sink.push, sink.backlog, sink.end, fmt.frame_ms / 1000, self.realtime
        )
        self._input = PacedThread("audio-null-mic", step)
        self._input.start()
        return OpenedStream(fmt.sample_rate)

    def close_input(self) -> None:
        if self._input is not None:
            self._input.stop()
            self._input = None
