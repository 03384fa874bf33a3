"""Barge-in: when does the user's speech over an answer interrupt it?

The decision is made on the signal, never held up by the recogniser:

* **Sustained speech interrupts.** Speech the VAD hears in the *cleaned*
  microphone counts towards `SUSTAINED_MS` within the last `DENSE_WINDOW_MS`
  (longer than a backchannel: espeak-ng's "uh-huh" is ~510 ms of VAD speech,
  "mm-hmm" ~670 ms; dense, so that scattered leaks of echo never add up) -- except
  speech in chunks the server's echo canceller found to be mostly our own
  voice (it removed at least `ECHO_DOMINATED_DB` of them while the echo is
  measured in the microphone). A client that cancels its own echo (ours) or
  a headset never has such chunks; a raw microphone has them while the
  assistant talks alone, and loses them when a user talks over it.
* **Words make it sooner, and correct it.** Once `ARM_MS` of such speech is
  heard, the first words are decoded in the background (`first_words`: Whisper
  on a 5 s window, ~60-90 ms, instead of a full decode's 250-400 ms), and again
  as more speech arrives (each decode on the utterance so far). A decode with
  real words (not a backchannel, not the words the assistant is speaking)
  interrupts at once: "stop", "wait", "hold on" are told from "uh-huh",
  "okay", "yeah" from their first 0.2-0.3 s;
  one that heard our own words holds the sustained rule back until a later
  decode of more audio says otherwise (it used to rule out the utterance for
  good). Nothing waits for a decode: each chunk's decision is made as it comes.
* **No echo canceller, no trust in the signal.** Without the server's
  canceller (turned off, or it failed) a raw microphone's echo is speech to
  the VAD, so only the words decide, two of them, checked once per utterance
  (the word-filter baseline of `bench.room`).

This is LiveKit's "min interruption duration" plus Pipecat's minimum-words
strategy, made echo-aware; neither can take back an interruption on our wire
protocol (`response.interrupted` is final for the client), so the duration is
set to exclude a backchannel rather than resumed after one.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

from server.speech.words import words_of

log = logging.getLogger(__name__)

SUSTAINED_MS = 800.0  # speech (not our echo) that interrupts without waiting for words ...
DENSE_WINDOW_MS = 1200.0  # ... heard within this much audio (sparse echo leaks never add up)
ARM_MS = 160.0  # speech heard before the first decode of what was said
RECHECK_MS = 160.0  # more speech before the next decode of the utterance so far
WORDS_WINDOW_MS = 1500.0  # the recent audio decoded for words (not what opened the utterance)
ECHO_DOMINATED_DB = 10.0  # the canceller removed this much of a chunk: it was mostly echo

_BACKCHANNEL_TEXT = (
    "uh huh uh-huh mhm m mm mmm hmm mm-hmm hm ok okay yeah yep yes right sure alright cool "
    "nice great wow oh ah i see got it"
)
BACKCHANNELS = frozenset(_BACKCHANNEL_TEXT.split())


def is_backchannel(text: str) -> bool:
    """True for a short acknowledgement (or nothing at all) that should not interrupt."""
    words = set(words_of(text))  # "Okay. Okay." is one word said (or decoded) twice
    return not words or (len(words) <= 3 and words <= BACKCHANNELS)


def is_echo(heard: str, playing: str) -> bool:
    """True if most words heard (two or more) are words the assistant is speaking right now.

    A single word ("Wait." while the answer says "wait two minutes") is too
    little to call echo: it used to rule out a true interruption.
    """
    heard_words = words_of(heard)
    playing_words = set(words_of(playing))
    if len(heard_words) < 2 or not playing_words:
        return False
    overlap = sum(w in playing_words for w in heard_words)
    return overlap / len(heard_words) >= 0.6


class SpeakingResponse(Protocol):
    """The answer being played, as far as barge-in needs it."""

    def spoken_recently(self) -> str: ...

    def interrupt(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Heard:
    """What one microphone chunk told the policy (after the canceller and the VAD)."""

    speech_ms: float  # VAD speech so far in the current utterance (0 when none)
    chunk_ms: float  # how much audio this chunk held
    echo_removed_db: float  # how much of this chunk the server's canceller took out
    canceller_active: bool  # the server's canceller is running on this microphone
    speaking: bool = False  # the VAD hears speech at the end of this chunk
    double_talk: bool = False  # past a linear canceller, speech that is not our echo (echo.py)

    @property
    def echo_dominated(self) -> bool:
        """The canceller removed most of this chunk: it was our own voice."""
        return self.echo_removed_db >= ECHO_DOMINATED_DB


class BargeIn:
    """The barge-in policy for one session's microphone; all methods run on the loop.

    `heard` is called for every chunk while an answer plays; it interrupts
    through `on_interrupt` (which stops the response) when the policy says so.
    `reset` starts a new utterance.
    """

    def __init__(
        self,
        transcribe: Callable[[bytes], Awaitable[str]],
        on_interrupt: Callable[[SpeakingResponse], None],
    ) -> None:
        self._transcribe = transcribe
        self._on_interrupt = on_interrupt
        self._decode: asyncio.Task[None] | None = None
        self.reset()

    def reset(self) -> None:
        """A new utterance: forget what was heard and decoded (a running decode is dropped)."""
        if self._decode is not None and not self._decode.done():
            self._decode.cancel()
        self._decode = None
        self._last_speech_ms = 0.0
        self._user_ms = 0.0  # speech not dominated by our echo, this utterance
        self._linear_ms = 0.0  # of which heard only past the linear canceller
        self._recent: deque[tuple[float, float]] = deque()  # (chunk ms, user speech ms)
        self._recent_audio_ms = 0.0
        self._recent_user_ms = 0.0  # user speech in the last DENSE_WINDOW_MS of audio
        self._decoded_at_ms = -1.0  # _user_ms when the last decode started
        self._echo_words = False  # the last decode heard our own words
        self._fired = False
        self._echo_ms = 0.0  # speech not counted: the canceller found it was our echo

    @property
    def fired(self) -> bool:
        """This utterance has interrupted the answer."""
        return self._fired

    def close(self) -> None:
        if self._decode is not None:
            self._decode.cancel()

    def heard(
        self, chunk: Heard, response: SpeakingResponse, recent: Callable[[float], bytes]
    ) -> None:
        """One chunk of microphone while `response` plays: interrupt it, decode, or wait.

        `recent(ms)` gives the last `ms` of the utterance (taken only to decode it: an
        utterance opened by leaks of echo before the user spoke held them, and Whisper
        decoded those instead of the user's first words).
        """
        if chunk.speech_ms < self._last_speech_ms:
            self.reset()  # the detector dropped a click or ended the utterance: a new one
        self._last_speech_ms = chunk.speech_ms
        if self._fired:
            return
        # Counted in time, as the chunk's VAD state, not in the VAD's 32 ms windows: two VADs
        # (the cleaned microphone's and the linear canceller's) score windows at different
        # moments, and adding both counted the same speech 1.6 times.
        aec3_heard = chunk.speaking and not chunk.echo_dominated
        user = chunk.chunk_ms if aec3_heard or chunk.double_talk else 0.0
        if chunk.speaking and not user:
            self._echo_ms += chunk.chunk_ms
        if user and not aec3_heard:
            self._linear_ms += user  # AEC3 suppressed the user here: only the linear path heard
        self._user_ms += user
        dense = self._dense(chunk.chunk_ms, user)
        if chunk.canceller_active and not self._echo_words and dense >= SUSTAINED_MS:
            self._fire(response, f"{dense:.0f} ms of speech in {DENSE_WINDOW_MS:.0f} ms")
            return
        if self._user_ms >= ARM_MS and self._decode_due(chunk.canceller_active):
            self._decoded_at_ms = self._user_ms
            self._decode = asyncio.create_task(
                self._check_words(recent(WORDS_WINDOW_MS), response, chunk.canceller_active)
            )

    def _dense(self, chunk_ms: float, user_ms: float) -> float:
        """User speech within the last DENSE_WINDOW_MS of audio, this chunk included."""
        self._recent.append((chunk_ms, user_ms))
        self._recent_audio_ms += chunk_ms
        self._recent_user_ms += user_ms
        while len(self._recent) > 1 and self._recent_audio_ms - self._recent[0][0] >= (
            DENSE_WINDOW_MS
        ):
            old_chunk, old_user = self._recent.popleft()
            self._recent_audio_ms -= old_chunk
            self._recent_user_ms -= old_user
        return self._recent_user_ms

    def _decode_due(self, signal_trusted: bool) -> bool:
        if self._decode is not None and not self._decode.done():
            return False  # one decode at a time; the next one takes all audio so far
        if self._decoded_at_ms < 0:
            return True
        # Without a canceller every re-check of our own echo is one more chance to
        # mishear it as the user (bench.room's baseline: 74 false barge-ins in 5 min
        # with re-checks), so such a microphone gets one check per utterance.
        return signal_trusted and self._user_ms - self._decoded_at_ms >= RECHECK_MS

    async def _check_words(
        self, utterance: bytes, response: SpeakingResponse, signal_trusted: bool
    ) -> None:
        try:
            heard = await self._transcribe(utterance)
        except Exception as exc:  # the signal still decides; words are only a shortcut
            log.warning("barge-in word check failed, deciding on speech alone: %s", exc)
            return
        if self._fired:
            return
        playing = response.spoken_recently()
        self._echo_words = is_echo(heard, playing)
        enough = len(words_of(heard)) >= (1 if signal_trusted else 2)
        if enough and not is_backchannel(heard) and not self._echo_words:
            self._fire(response, f"the user said {heard!r}")
        else:
            log.debug("not a barge-in (yet): %r at %.0f ms", heard, self._user_ms)

    def _fire(self, response: SpeakingResponse, why: str) -> None:
        log.info(
            "barge-in: %s (%.0f ms of speech over the answer, %.0f ms of it heard only past"
            " the linear canceller, %.0f ms more taken for echo)",
            why,
            self._user_ms,
            self._linear_ms,
            self._echo_ms,
        )
        self._fired = True
        self._on_interrupt(response)
