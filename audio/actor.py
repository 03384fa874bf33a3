"""The one object that owns the microphone and the speaker for a session.

Device threads only touch lock-free queues and level meters; the event loop
only does cheap, non-blocking work (queueing bytes, resolving futures) and
runs the blocking open/close calls in worker threads. Wake-ups from device
threads into the loop are coalesced, and happen on state changes (audio
arrived for a waiting reader, playback started/stopped, a `wait_played`
target reached), never once per buffer for the UI.

(Over 400 lines: the speaker, microphone and echo-canceller wiring share one
threading contract, kept in one place; the canceller itself is audio/echo.py.)
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Callable
from types import TracebackType

import numpy as np

from audio.backend import AudioBackend, StreamFormat
from audio.capture import END, CaptureQueue
from audio.echo import EchoCanceller, start_canceller
from audio.levels import LevelMeter
from audio.playback import PlaybackQueue
from audio.resample import StreamResampler

PlaybackStateCallback = Callable[[bool], None]
"""Called on the event loop with True when the speaker starts sounding queued audio,
False when it runs out (drained or dropped): what `playback.started/stopped` report."""

_EMPTY = np.zeros(0, dtype=np.int16)
AEC_TURNED_OFF = "turned off (--no-aec or audio.echo_cancellation: false)"


def _check_settings(sample_rate: object, frame_ms: object, capture_buffer_s: float) -> None:
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int):
        raise TypeError(f"sample_rate must be an int (Hz), got {sample_rate!r}")
    if not 8000 <= sample_rate <= 192000:
        raise ValueError(f"sample_rate must be between 8000 and 192000 Hz, got {sample_rate}")
    if isinstance(frame_ms, bool) or not isinstance(frame_ms, int):
        raise TypeError(f"frame_ms must be an int (milliseconds), got {frame_ms!r}")
    if not 5 <= frame_ms <= 200:
        raise ValueError(f"frame_ms must be between 5 and 200 ms, got {frame_ms}")
    if not capture_buffer_s > 0:
        raise ValueError(f"capture_buffer_s must be positive, got {capture_buffer_s}")


class AudioActor:
    """Captures PCM16 mono from the mic into a queue and plays queued PCM16 on the speaker.

    Use it as `async with AudioActor(backend) as audio:`; all methods are meant to
    be called from that event loop's thread.
    """

    def __init__(
        self,
        backend: AudioBackend,
        sample_rate: int = 16000,
        frame_ms: int = 20,
        *,
        capture_buffer_s: float = 30.0,
        on_playback_state: PlaybackStateCallback | None = None,
        echo_cancellation: bool = True,
        noise_suppression: bool = False,
    ) -> None:
        _check_settings(sample_rate, frame_ms, capture_buffer_s)
        self.backend = backend
        self.echo_cancellation = echo_cancellation
        """Clean the microphone of the speaker's sound while both are open (the default)."""
        self.noise_suppression = noise_suppression
        self._canceller: EchoCanceller | None = None
        self._aec_off_reason = "the microphone is not open" if echo_cancellation else AEC_TURNED_OFF
        self.format = StreamFormat(sample_rate, frame_ms)
        self.on_playback_state = on_playback_state
        self.input_levels = LevelMeter()
        self.output_levels = LevelMeter()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open = False
        # Speaker side.
        self._playback = PlaybackQueue(
            self.format.block_samples(), self.output_levels, self._post_playback_progress
        )
        self._out_rate = sample_rate
        self._out_resampler = StreamResampler(sample_rate, sample_rate)
        self._latency_s = 0.0
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self._playback_wake_pending = False
        self._reported_starts = 0
        self._reported_sounding = False
        # Microphone side.
        max_blocks = max(1, math.ceil(capture_buffer_s * 1000 / frame_ms))
        self._capture = CaptureQueue(max_blocks, self.input_levels, self._post_capture_ready)
        self._capture_ready = asyncio.Event()
        self._reader_wake_pending = False
        self._capturing = False
        self._input_ended = False
        self._in_resampler = StreamResampler(sample_rate, sample_rate)

    # properties --------------------------------------------------------------

    @property
    def sample_rate(self) -> int:
        return self.format.sample_rate

    @property
    def frame_ms(self) -> int:
        return self.format.frame_ms

    @property
    def description(self) -> str:
        """What the audio is connected to, for a status bar."""
        return self.backend.description

    @property
    def is_playing(self) -> bool:
        """True while queued audio has not all been handed to the device yet."""
        return self._open and self._playback.outstanding > 0

    @property
    def is_capturing(self) -> bool:
        return self._capturing

    @property
    def samples_played(self) -> int:
        """Samples (at the session rate) actually handed to the speaker since opening."""
        return round(self._playback.played * self.sample_rate / self._out_rate)

    @property
    def aec_active(self) -> bool:
        """True while the microphone is being cleaned of the speaker's sound."""
        return self._canceller is not None and self._canceller.failure is None

    @property
    def aec_status(self) -> str:
        """For a status bar: "on (WebRTC AEC3, 16000 Hz)" or "off: <why>"."""
        canceller = self._canceller
        if canceller is None:
            return f"off: {self._aec_off_reason}"
        if canceller.failure is not None:
            return f"off: {canceller.failure}"
        return f"on (WebRTC AEC3, {canceller.rate} Hz)"

    @property
    def capture_overruns(self) -> int:
        """Captured blocks lost because nobody read them in time."""
        return self._capture.overruns

    # lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> AudioActor:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the speaker stream (off the loop). Raises AudioUnavailable."""
        if self._open:
            raise RuntimeError("the AudioActor is already open")
        self._loop = asyncio.get_running_loop()
        opened = await asyncio.to_thread(self.backend.open_output, self.format, self._playback)
        self._out_rate = opened.sample_rate
        self._latency_s = opened.latency_s
        self._playback.block = self.format.block_samples(opened.sample_rate)
        self._out_resampler = StreamResampler(self.sample_rate, opened.sample_rate)
        self._open = True

    async def close(self) -> None:
        """Stop capture and playback and release the devices. Safe to call twice."""
        if self._capturing:
            await self.stop_capture()
        if not self._open:
            return
        self._open = False
        await asyncio.to_thread(self.backend.close_output)
        self.output_levels.active = False
        self._release_waiters()
        self._reported_starts = self._playback.starts  # starts the loop never saw are moot now
        if self._reported_sounding:
            self._reported_sounding = False
            self._emit_playback_state(False)

    def _require_open(self) -> None:
        if not self._open:
            raise RuntimeError(
                "the AudioActor is not open; use `async with AudioActor(backend) as audio:`"
            )

    # microphone --------------------------------------------------------------

    async def start_capture(self) -> None:
        """Open the microphone and start queueing frames (earlier unread frames are dropped)."""
        self._require_open()
        if self._capturing:
            return
        self._capture.clear()
        self.input_levels.reset()
        self._input_ended = False
        canceller = await asyncio.to_thread(self._make_canceller)
        self._install_canceller(canceller)
        # Without a canceller, accept at once so a file source loses nothing; with one,
        # only once the canceller knows the rate the microphone really opened at.
        self._capture.accepting = canceller is None
        try:
            opened = await asyncio.to_thread(self.backend.open_input, self.format, self._capture)
        except BaseException:
            self._capture.accepting = False
            self._install_canceller(None)
            raise
        if canceller is not None:
            canceller.set_mic_rate(opened.sample_rate)
            self._capture.accepting = True
        in_rate = canceller.rate if canceller is not None else opened.sample_rate
        self._in_resampler = StreamResampler(in_rate, self.sample_rate)
        self._capturing = True
        self.input_levels.active = True

    async def stop_capture(self) -> None:
        """Close the microphone. Frames captured so far stay readable; then read() returns b""."""
        if not self._capturing:
            return
        self._capture.accepting = False
        try:
            await asyncio.to_thread(self.backend.close_input)
        finally:
            if self._canceller is not None:
                self._aec_off_reason = self._canceller.failure or "the microphone is not open"
            self._install_canceller(None)
            self._capturing = False
            self.input_levels.active = False
            self._capture_ready.set()

    async def read(self) -> bytes:
        """The next captured PCM16 chunk; waits for one.

        Returns b"" when there is nothing more to read: capture is stopped (or was
        never started) and the queue is empty, or the mic file has ended.
        """
        while True:
            item = self._capture.pop()
            if item is END:
                self._input_ended = True
                return self._flush_input()
            if isinstance(item, bytes):
                converted = self._convert_input(item)
                if converted:
                    return converted
                continue  # the resampler is still filling its window
            if not self._capturing or self._input_ended:
                return self._flush_input()
            self._capture_ready.clear()
            if self._capture.waiting():
                continue
            await self._capture_ready.wait()

    async def frames(self) -> AsyncIterator[bytes]:
        """Captured chunks until capture stops or the input ends."""
        while chunk := await self.read():
            yield chunk

    def _make_canceller(self) -> EchoCanceller | None:
        """The canceller for this capture, or None with the reason kept (blocking: loads it)."""
        if not self.echo_cancellation:
            self._aec_off_reason = AEC_TURNED_OFF
            return None
        out_block_s = self._playback.block / self._out_rate
        canceller, reason = start_canceller(
            self.backend.no_echo_reason,
            self.sample_rate,
            self._out_rate,
            self.format.frame_ms / 1000 + out_block_s,
            self.noise_suppression,
        )
        if reason is not None:
            self._aec_off_reason = reason
        return canceller

    def _install_canceller(self, canceller: EchoCanceller | None) -> None:
        self._canceller = canceller
        self._capture.clean = canceller
        self._playback.tap = canceller.far if canceller is not None else None

    def _convert_input(self, data: bytes) -> bytes:
        if not self._in_resampler.converts:
            return data
        samples = np.frombuffer(data, dtype="<i2")
        return self._in_resampler.process(samples).astype("<i2").tobytes()

    def _flush_input(self) -> bytes:
        if not self._in_resampler.converts:
            return b""
        return self._in_resampler.process(_EMPTY, last=True).astype("<i2").tobytes()

    def _post_capture_ready(self) -> None:
        """Device thread: wake a waiting reader, at most one pending wake-up at a time."""
        if self._reader_wake_pending or self._loop is None:
            return
        self._reader_wake_pending = True
        with contextlib.suppress(RuntimeError):  # a closed loop has no reader left to wake
            self._loop.call_soon_threadsafe(self._capture_woken)

    def _capture_woken(self) -> None:
        self._reader_wake_pending = False
        self._capture_ready.set()

    # speaker -----------------------------------------------------------------

    def play(self, pcm16: bytes | bytearray | memoryview) -> None:
        """Queue PCM16 little-endian mono audio at the session rate; returns at once."""
        self._require_open()
        if not isinstance(pcm16, bytes | bytearray | memoryview):
            raise TypeError(f"play() takes PCM16 bytes, got {type(pcm16).__name__}")
        data = bytes(pcm16)
        if len(data) % 2:
            raise ValueError(
                f"PCM16 audio has 2 bytes per sample, but got an odd length ({len(data)} bytes)"
            )
        if not data:
            return
        samples = self._out_resampler.process(np.frombuffer(data, dtype="<i2"))
        if len(samples):
            self._playback.put(samples)

    def drop_playback(self) -> int:
        """Drop everything queued, now (skip/interrupt). Returns the bytes dropped.

        Only what the device already buffered (its output latency) still sounds.
        """
        if not self._open:
            return 0
        removed = self._playback.drop()
        self._out_resampler.reset()
        self._resolve_waiters()
        return 2 * round(removed * self.sample_rate / self._out_rate)

    async def wait_played(self) -> None:
        """Wait until everything queued so far has been played (or dropped)."""
        self._require_open()
        if self._out_resampler.converts:
            tail = self._out_resampler.process(_EMPTY, last=True)
            if len(tail):
                self._playback.put(tail)
        queue = self._playback
        target = queue.enqueued
        had_audio = queue.done < target
        drops_before = queue.dropped
        if had_audio:
            assert self._loop is not None
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiters.append((target, waiter))
            self._update_notify_at()
            try:
                await waiter
            finally:
                self._waiters = [(t, w) for t, w in self._waiters if w is not waiter]
                self._update_notify_at()
        if had_audio and self._open and queue.dropped == drops_before and self._latency_s > 0:
            # The last samples are in the device's buffer; let them reach the ear.
            await asyncio.sleep(self._latency_s)

    def _post_playback_progress(self) -> None:
        """Device thread: ask the loop to look at playback state, coalescing repeats."""
        if self._playback_wake_pending or self._loop is None:
            return
        self._playback_wake_pending = True
        with contextlib.suppress(RuntimeError):  # a closed loop has no waiter left
            self._loop.call_soon_threadsafe(self._playback_progress)

    def _playback_progress(self) -> None:
        self._playback_wake_pending = False
        if not self._open:  # a wake-up that raced with close(); close() settled everything
            return
        self._resolve_waiters()
        self._report_playback_state()

    def _resolve_waiters(self) -> None:
        done = self._playback.done
        for target, waiter in self._waiters:
            if target <= done and not waiter.done():
                waiter.set_result(None)
        self._waiters = [(t, w) for t, w in self._waiters if not w.done()]
        self._update_notify_at()

    def _release_waiters(self) -> None:
        for _, waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters = []
        self._update_notify_at()

    def _update_notify_at(self) -> None:
        self._playback.notify_at = min((t for t, _ in self._waiters), default=math.inf)

    def _report_playback_state(self) -> None:
        starts, sounding = self._playback.starts, self._playback.sounding
        if starts > self._reported_starts:
            self._reported_starts = starts
            if self._reported_sounding:  # it stopped and started again between two looks
                self._emit_playback_state(False)
            self._reported_sounding = True
            self._emit_playback_state(True)
        if self._reported_sounding and not sounding:
            self._reported_sounding = False
            self._emit_playback_state(False)

    def _emit_playback_state(self, sounding: bool) -> None:
        if self.on_playback_state is not None:
            self.on_playback_state(sounding)
