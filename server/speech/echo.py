"""The engine knows its own voice: cancel the assistant's echo in a client's microphone.

A client without echo cancellation (the published SDK's `listen_and_respond`
sends its raw microphone) sends back, a few tens of milliseconds later, what
the engine just made it play. The engine knows exactly what it sent and when,
so it can run an echo canceller itself: the far-end reference is the audio it
sent, laid on its own clock where the client plays it (sent audio starts
playing on arrival, or right after what is already queued: the same model
the response's pacing uses), moved to the client's `playback.started` when the
client reports it, and cut at `playback.stopped` or when the client drops
queued audio. The microphone is laid on the same clock by arrival time. The
residual offset (device buffers, network) is left to WebRTC's AEC3 delay
estimator, which follows up to about half a second.

AEC3 (`pywebrtc-audio`, as on the client, see audio/echo.py) needs 10 ms
frames at 8/16/32/48 kHz; other session rates are resampled. All of it is
blocking work, done in the session's audio worker thread, never on the loop.
Until the engine first sends audio the microphone passes through untouched.

AEC3's suppressor also takes out a user who talks over a loud echo, so barge-in
gets a second opinion that never suppresses (`DoubleTalk`: speexdsp's linear
canceller, aligned by the lag `EchoPresence` measures, and a VAD on what it
leaves). This module is over 400 lines because its four parts (the reference,
the presence check, the double-talk check and the canceller) run on one clock
and one stream of frames, and mean nothing apart.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from typing import Any

import numpy as np

from server.speech.pcm import check_sample_rate

log = logging.getLogger(__name__)

AEC_RATES = (8000, 16000, 32000, 48000)
_RESYNC_S = 0.25  # a microphone arriving this much later than its clock says paused: set anew
_AHEAD_MAX_S = 1.0  # audio may arrive faster than real time (buffered) by this much
_STARTED_SHIFT_MAX_S = 1.0  # a playback.started this late still moves the current run
_KEEP_S = 5.0  # reference kept behind the microphone clock
SWITCH_ENV = "DISTILLER_SERVER_AEC"
"""Set to 0 to turn the server's canceller off (the word-filter-only baseline of bench.room)."""


class SentAudio:
    """What the client plays, on the server's clock (PCM16 at the session rate).

    Loop thread: `sent`, `playback_started`, `playback_stopped`, `dropped`.
    Worker thread: `window`. A lock guards the chunk list between them.
    """

    def __init__(self, sample_rate: int) -> None:
        self.rate = sample_rate
        self._chunks: deque[tuple[float, np.ndarray]] = deque()  # (play start, samples)
        self._play_end = 0.0
        self._run_start = 0.0  # where the current uninterrupted run of playback began
        self._started_seen = False
        self._lock = threading.Lock()

    def sent(self, pcm: bytes, now: float | None = None) -> None:
        """The engine sent this audio to the client: it plays after what is queued."""
        now = time.monotonic() if now is None else now
        samples = np.frombuffer(pcm, dtype="<i2")
        with self._lock:
            if self._play_end <= now:  # the speaker had run dry: a new run starts now
                self._run_start, self._started_seen = now, False
            start = max(self._play_end, now)
            self._chunks.append((start, samples))
            self._play_end = start + len(samples) / self.rate

    def playback_started(self, now: float | None = None) -> None:
        """The client says its speaker started now: the current run starts here, not earlier."""
        now = time.monotonic() if now is None else now
        with self._lock:
            late = now - self._run_start
            if self._started_seen or not 0 < late <= _STARTED_SHIFT_MAX_S:
                return
            self._started_seen = True
            self._chunks = deque(
                (start + late if start >= self._run_start else start, samples)
                for start, samples in self._chunks
            )
            self._play_end += late
            self._run_start = now

    def playback_stopped(self, now: float | None = None) -> None:
        """The client's speaker went quiet (ran out, or dropped its queue)."""
        self.dropped(now)

    def dropped(self, now: float | None = None) -> None:
        """Nothing sent so far plays after `now` (a skip, an interruption)."""
        now = time.monotonic() if now is None else now
        with self._lock:
            kept: deque[tuple[float, np.ndarray]] = deque()
            for start, samples in self._chunks:
                if start >= now:
                    continue
                playable = int((now - start) * self.rate)
                kept.append((start, samples[:playable]))
            self._chunks = kept
            self._play_end = min(self._play_end, now)

    @property
    def play_end(self) -> float:
        return self._play_end

    def window(self, start: float, count: int) -> np.ndarray:
        """The `count` samples the client plays from time `start` on (silence where none)."""
        out = np.zeros(count, dtype=np.int16)
        end = start + count / self.rate
        with self._lock:
            while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) / self.rate < (
                start - _KEEP_S
            ):
                self._chunks.popleft()
            chunks = list(self._chunks)
        for chunk_start, samples in chunks:
            chunk_end = chunk_start + len(samples) / self.rate
            if chunk_end <= start or chunk_start >= end:
                continue
            offset = round((chunk_start - start) * self.rate)
            lo, hi = max(0, offset), min(count, offset + len(samples))
            if lo < hi:
                out[lo:hi] = samples[lo - offset : hi - offset]
        return out


def _load_processor(rate: int) -> Any:
    from pywebrtc_audio import AudioProcessor

    return AudioProcessor(sample_rate=rate, echo_cancellation=True, high_pass_filter=True)


class EchoPresence:
    """Is the engine's voice in this microphone at all? (Normalised cross-correlation.)

    AEC3 cannot know that a microphone holds no echo (a client that cancels
    its own, a headset) until it has learnt so, and meanwhile suppresses the
    user talking over the answer. So its output is used only while the
    microphone is seen to correlate with what was played, at some lag up to
    `MAX_LAG_S`, over the last half second; the raw microphone otherwise.
    """

    WINDOW_S = 0.5
    MAX_LAG_S = 0.6  # AEC3 follows about 0.5 s; the server's alignment keeps it within that
    EVERY_S = 0.2
    THRESHOLD = 0.45  # measured: echo 0.55-0.93, none 0.03-0.30 (a same-voice user included)
    HOLD_S = 4.0  # echo seen once counts for this long of playback (double talk hides it)
    FIRST_VERDICT_S = 0.8  # playback without echo before a new session's mic is trusted raw
    MIN_LEVEL_DB = -40.0
    """Echo this far below what was played is no echo: a client that cancels its own (ours,
    ~37-43 dB) leaves a residue that still correlates, and cancelling it again made AEC3
    suppress the user talking over the answer. The room's echo is -25..+3 dB."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self.present = True
        """Until measured otherwise, assume echo: a raw microphone must not barge in at once."""
        self.correlation = 0.0
        """The last measured peak correlation (0..1)."""
        self._window = int(self.WINDOW_S * rate)
        self._lag = int(self.MAX_LAG_S * rate)
        self._near = np.zeros(0, dtype=np.float64)
        self._far = np.zeros(0, dtype=np.float64)
        self._since_check = 0
        self._unseen_s = self.HOLD_S - self.FIRST_VERDICT_S  # playback heard without our echo
        self.seen = False
        """Our echo was measured in this microphone at least once."""
        self.lag: int | None = None
        """Samples from playing to hearing, at the last correlation that showed our echo."""

    def add(self, near: np.ndarray, far: np.ndarray) -> bool:
        """Samples heard and played at the same times; returns whether echo is present."""
        keep = self._window + self._lag
        self._near = np.concatenate((self._near, near))[-self._window :]
        self._far = np.concatenate((self._far, far))[-keep:]
        if not self._far[-self._window :].any():
            return self.present  # nothing played lately: nothing to learn
        self._since_check += len(near)
        self._unseen_s += len(near) / self.rate
        full = len(self._near) == self._window and len(self._far) >= self._window
        if self._since_check >= self.EVERY_S * self.rate and full:
            self._since_check = 0
            self.correlation, level_db, lag = self._peak_correlation()
            if self.correlation >= self.THRESHOLD and level_db >= self.MIN_LEVEL_DB:
                self._unseen_s = 0.0
                self.seen = True
                self.lag = lag
        self.present = self._unseen_s <= self.HOLD_S
        return self.present

    def _peak_correlation(self) -> tuple[float, float, int]:
        """(peak correlation, its level relative to what was played in dB, its lag in samples)."""
        from scipy.signal import correlate

        near, far = self._near, self._far
        near_energy = float(np.dot(near, near))
        if near_energy <= 0 or not far.any():
            return 0.0, -120.0, 0
        products = correlate(far, near, mode="valid", method="fft")  # one per lag
        squares = np.cumsum(np.concatenate(([0.0], far * far)))
        far_energy = np.maximum(squares[self._window :] - squares[: -self._window], 1e-9)
        correlations = np.abs(products) / np.sqrt(far_energy * near_energy)
        lag = int(np.argmax(correlations))
        peak = float(correlations[lag])
        echo_energy = peak * peak * near_energy  # the part of the mic that is the far end
        level_db = float(10 * np.log10(max(echo_energy, 1e-9) / far_energy[lag]))
        return peak, level_db, len(far) - len(near) - lag  # index 0: the oldest far window


class DoubleTalk:
    """Is the user talking over our echo? Decided past AEC3's suppressor, for barge-in only.

    With our echo as loud as the user (0 dB), AEC3's nonlinear suppressor takes
    the user out during double talk for 0.7-1.5 s, so a VAD on its output hears
    no interruption. A linear echo canceller (speexdsp's, from `speexaec`)
    never suppresses: its residual keeps the user whole and our echo 15-25 dB
    down once its filter has converged, which takes about a second when the
    reference is delayed by the lag `EchoPresence` measured (the filter then
    spans only the room's reverberation). Speech the VAD hears in that residual
    counts as the user's only in chunks the filter could not explain as our
    echo (it removed less than `ECHO_DB`), and only once it has shown it
    converged. The recogniser still hears AEC3's output; this only decides.
    """

    TAIL_S = 0.128  # echo after the measured lag that the filter models (reverberation)
    LEAD_S = 0.0025  # the reference starts this much before the measured lag
    MOVED_S = 0.04  # the measured lag moved this much: a new filter on the new alignment
    ECHO_DB = 8.0  # the filter took this much out of a chunk: it was our echo, not the user
    CONVERGED_DB = 10.0  # average removal over chunks that held our echo, before it is trusted
    ACTIVE_DBFS = -50.0  # a reference chunk this loud puts echo into the microphone
    LOST_S = 2.0  # "the user talks" this long without a break: the filter lost our echo

    def __init__(self, rate: int, vad: Any) -> None:
        from server.speech.turns import TurnDetector

        self.rate = rate
        self.user_speaking = False
        """In the last chunk, speech that was not our echo (never before the filter converged)."""
        self._vad = TurnDetector(vad, rate, silence_ms=300, min_speech_ms=32)
        self._filter: Any = None
        self._delay = 0
        self._history = np.zeros(0, dtype=np.int16)  # the reference, for the delay
        self._removal_db = 0.0  # running average over chunks that held our echo
        self._talk_s = 0.0  # how long chunks with our echo expected held more than it
        self.failure: str | None = None

    def hear(self, near: np.ndarray, far: np.ndarray, lag: int | None) -> bool:
        """Whole 10 ms frames of microphone and reference: is the user speaking in them?"""
        self.user_speaking = False
        if self.failure is not None or lag is None or not len(near):
            return False
        delay = max(0, lag - int(self.LEAD_S * self.rate))
        if self._filter is None or abs(delay - self._delay) > self.MOVED_S * self.rate:
            self._restart(delay)
            if self.failure is not None:
                return False
        history = np.concatenate((self._history, far))
        delayed = history[len(history) - self._delay - len(far) : len(history) - self._delay]
        self._history = history[-(self._delay + len(far)) :]
        if len(delayed) < len(far):
            delayed = np.concatenate((np.zeros(len(far) - len(delayed), np.int16), delayed))
        frame = self.rate // 100
        residual = np.concatenate(
            [
                self._filter.process(near[i : i + frame], delayed[i : i + frame])
                for i in range(0, len(near), frame)
            ]
        )
        removed = _removed_db(near, residual)
        echo_expected = _level_dbfs(delayed) >= self.ACTIVE_DBFS
        converged = self._removal_db >= self.CONVERGED_DB
        talking = echo_expected and removed < self.ECHO_DB
        self._talk_s = self._talk_s + len(near) / self.rate if talking else 0.0
        # Double talk must not count against convergence (it would disarm this during the
        # very interruption it is for), unless it lasts too long to be anything but a
        # filter that lost the echo path.
        if echo_expected and (not converged or not talking or self._talk_s > self.LOST_S):
            self._removal_db += 0.1 * (removed - self._removal_db)
        update = self._vad.feed(residual.astype("<i2").tobytes())
        if update.ended:
            self._vad.reset()
        # Where nothing was played the microphone holds no echo and AEC3 passes it as it is.
        self.user_speaking = converged and talking and update.speech_active
        return self.user_speaking

    def _restart(self, delay: int) -> None:
        try:
            from speexaec import EchoCanceller
        except ImportError as exc:
            self.failure = f"the linear echo canceller is not installed ({exc})"
            log.warning("%s: barge-in over a loud echo waits for AEC3", self.failure)
            return
        frame = self.rate // 100
        self._filter = EchoCanceller(frame, int(self.TAIL_S * self.rate), self.rate)
        self._delay = delay
        self._removal_db = 0.0


def _level_dbfs(samples: np.ndarray) -> float:
    power = float(np.mean(samples.astype(np.float64) ** 2)) if len(samples) else 0.0
    return 10 * np.log10(max(power, 1e-12) / 32768**2)


class ServerEchoCanceller:
    """Cleans one session's microphone of the audio the engine sent it.

    `arrived` (loop thread, as each chunk arrives) stamps the chunk on the
    server's clock; `clean` (worker thread, same order) returns it cleaned
    (whole 10 ms frames; a few ms may be held back until the next chunk). Until
    the engine has sent any audio the microphone passes through untouched. If
    the canceller cannot load or fails, `failure` says why and audio passes
    through unchanged from then on.
    """

    def __init__(
        self, sample_rate: int, reference: SentAudio | None = None, vad: Any = None
    ) -> None:
        self.rate = check_sample_rate(sample_rate)
        self.reference = reference if reference is not None else SentAudio(self.rate)
        self.failure: str | None = None
        if os.environ.get(SWITCH_ENV) == "0":
            self.failure = f"turned off ({SWITCH_ENV}=0)"
        self.removed_db = 0.0
        """How much of the last chunk the canceller took out (0 when it passed it through)."""
        self.frames = 0
        """10 ms frames cleaned so far."""
        self._aec_rate = next((r for r in AEC_RATES if r >= self.rate), AEC_RATES[-1])
        self._frame = self._aec_rate // 100
        self._processor: Any = None
        self._stamps: deque[float] = deque()
        self._mic_clock = 0.0  # server time of the next microphone sample
        self._near = np.zeros(0, dtype=np.int16)  # at the canceller's rate, not yet a frame
        self._far = np.zeros(0, dtype=np.int16)
        self._resamplers: tuple[Any, Any, Any] | None = None  # near in, far in, cleaned out
        self.presence = EchoPresence(self._aec_rate)
        self.double_talk = DoubleTalk(self._aec_rate, vad) if vad is not None else None
        """Without a VAD to give it, barge-in over a loud echo waits for AEC3's output."""

    # loop thread ------------------------------------------------------------------

    def arrived(self, pcm: bytes, now: float | None = None) -> None:
        """A microphone chunk arrived now: it was captured during the time just before."""
        now = time.monotonic() if now is None else now
        duration = len(pcm) / 2 / self.rate
        start = now - duration
        late = start - self._mic_clock
        # Later than the clock: the client paused its microphone (or this is the first
        # chunk). Earlier: it sends buffered audio faster than real time, which was
        # captured back to back, so the clock keeps counting samples (re-stamping each
        # burst by arrival made the echo path jump and AEC3 lose it).
        if late > _RESYNC_S or late < -_AHEAD_MAX_S:
            self._mic_clock = start
        self._stamps.append(self._mic_clock)
        self._mic_clock += duration

    # worker thread ----------------------------------------------------------------

    @property
    def user_speaking(self) -> bool:
        """In the last chunk, speech that the linear canceller found was not our echo."""
        return self.double_talk is not None and self.double_talk.user_speaking

    def clean(self, pcm: bytes) -> bytes:
        """The chunk without the engine's own voice."""
        start = self._stamps.popleft() if self._stamps else self._mic_clock
        self.removed_db = 0.0
        if self.double_talk is not None:
            self.double_talk.user_speaking = False
        if self.failure is not None or (self.frames == 0 and self.reference.play_end == 0):
            return pcm
        samples = np.frombuffer(pcm, dtype="<i2")
        far = self.reference.window(start, len(samples))
        try:
            return self._cancel(samples, far).astype("<i2").tobytes()
        except Exception as exc:
            self.failure = f"the server's echo canceller failed: {exc}"
            log.warning("%s; the microphone is used as it is", self.failure)
            return pcm

    def _cancel(self, near: np.ndarray, far: np.ndarray) -> np.ndarray:
        if self._processor is None:
            self._processor = _load_processor(self._aec_rate)
            if self._aec_rate != self.rate:
                import soxr

                self._resamplers = (
                    soxr.ResampleStream(self.rate, self._aec_rate, 1, dtype="int16"),
                    soxr.ResampleStream(self.rate, self._aec_rate, 1, dtype="int16"),
                    soxr.ResampleStream(self._aec_rate, self.rate, 1, dtype="int16"),
                )
        if self._resamplers is not None:
            near = self._resamplers[0].resample_chunk(near)
            far = self._resamplers[1].resample_chunk(far)
        near = np.concatenate((self._near, near))
        far = np.concatenate((self._far, far))
        whole = min(len(near), len(far))
        whole -= whole % self._frame
        cleaned = [
            self._processor.process(near[i : i + self._frame], far[i : i + self._frame])
            for i in range(0, whole, self._frame)
        ]
        self.frames += len(cleaned)
        echo_present = self.presence.add(near[:whole], far[:whole])
        if self.double_talk is not None:
            lag = self.presence.lag if echo_present else None
            self.double_talk.hear(near[:whole], far[:whole], lag)
        out = np.concatenate(cleaned) if echo_present and cleaned else near[:whole]
        if echo_present and cleaned:
            self.removed_db = _removed_db(near[:whole], out)
        self._near, self._far = near[whole:], far[whole:]
        if self._resamplers is not None:
            out = self._resamplers[2].resample_chunk(out)
        return out


def _removed_db(before: np.ndarray, after: np.ndarray) -> float:
    """How much quieter `after` is than `before`, in dB (0 for silence in)."""
    energy_in = float(np.dot(before.astype(np.float64), before.astype(np.float64)))
    if energy_in <= 0:
        return 0.0
    energy_out = float(np.dot(after.astype(np.float64), after.astype(np.float64)))
    return 10 * np.log10(energy_in / max(energy_out, 1e-3))
