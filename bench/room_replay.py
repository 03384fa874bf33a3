"""Offline replay of the barge-in decision on the room's signals: when would it fire?

    python -m bench.room_replay [--cases 6] [--words] [--backchannel-draws 1]

The same signals as `bench.room` (Piper's answer through the simulated echo
path, espeak-ng's user 3 s into it, noise), but no server, no sockets and no
clock: the microphone goes through the client's canceller (``client_aec``) or
not (``raw_mic``), then through the server's own pipeline as
`server/voice_input.py` runs it (the server canceller fed with what was
sent, the turn detector, the barge-in policy), 20 ms chunk by chunk, as the
client sends them. Without ``--words`` the recogniser answers nothing, so
this measures the signal path alone: where double talk hides the user, and
whether our own echo or a backchannel ever fires. With ``--words`` the
policy's word checks run on the real Whisper (`first_words`, as the server
runs it), each answer arriving after the time the decode really took, on the
audio's clock; the answer's "spoken recently" text is the sentence playing
and its neighbours (the server sends a sentence or two ahead). Cheap (seconds
per case), so a rule can be tried on many cases before the live benchmark.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import statistics
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from audio.echo import EchoCanceller, load_processor
from bench.room import ANSWERS, INTERRUPTIONS, SETTINGS
from bench.room_call import RATE, USER_AFTER_S
from bench.room_sim import EchoSetting, apply_echo, espeak, impulse_response, piper
from server.barge_in import BargeIn, Heard
from server.speech.echo import ServerEchoCanceller
from server.speech.turns import TurnDetector
from server.speech.vad import load_vad
from server.speech_config import SpeechSpec

CHUNK = RATE // 50  # the client sends 20 ms chunks
BACKCHANNELS = ("uh-huh", "mm-hmm", "okay", "yeah")
START = 1000.0  # server clock when the answer starts playing


@dataclass
class _Clock:
    now: float = 0.0  # seconds of microphone replayed


@dataclass
class _Response:
    """The answer being played; records when the policy interrupted it."""

    clock: _Clock
    text: str = ""
    played_s: float = 1.0
    interrupted: bool = False

    def spoken_recently(self) -> str:
        """The sentence playing now and its neighbours (a share of time per character)."""
        if not self.text:
            return ""
        sentences = re.split(r"(?<=[.!?])\s+", self.text)
        ends = np.cumsum([len(x) for x in sentences]) / len(self.text) * self.played_s
        playing = int(np.searchsorted(ends, self.clock.now))
        return " ".join(sentences[max(0, playing - 1) : playing + 2])

    def interrupt(self) -> None:
        self.interrupted = True


@dataclass
class TimedWords:
    """Whisper's first words, each answer arriving after the time the decode took."""

    asr: Any
    clock: _Clock = field(default_factory=_Clock)
    heard: list[tuple[float, float, str]] = field(default_factory=list)  # (at, took, text)

    async def __call__(self, audio: bytes) -> str:
        asked = self.clock.now
        started = time.perf_counter()
        text = self.asr.first_words(audio, RATE)
        took = time.perf_counter() - started
        self.heard.append((asked, took, text))
        while self.clock.now < asked + took:
            await asyncio.sleep(0)
        return text


async def _nothing_heard(_: bytes) -> str:
    return ""


async def fire_time(
    mic: np.ndarray,
    far: np.ndarray,
    client_aec: bool,
    vad: object,
    words: TimedWords | None = None,
    answer: str = "",
) -> float | None:
    """Seconds into the answer when the policy interrupts it (None: it never does)."""
    if client_aec:
        client = EchoCanceller(load_processor(RATE, False), RATE, RATE, RATE, 0.04)
    server = ServerEchoCanceller(RATE, vad=vad)
    server.reference.sent(far.astype("<i2").tobytes(), now=START)
    detector = TurnDetector(vad, RATE, silence_ms=600, min_speech_ms=SpeechSpec().min_speech_ms)
    clock = words.clock if words is not None else _Clock()
    response = _Response(clock, answer, len(far) / RATE)
    policy = BargeIn(words or _nothing_heard, lambda r: r.interrupt())

    def recent(ms: float) -> bytes:  # as server/voice_input.py's _recent_speech
        return detector.utterance()[-2 * round(ms * RATE / 1000) :]

    pending = np.zeros(0, dtype=np.int16)
    for i in range(0, len(mic) - CHUNK + 1, CHUNK):
        clock.now = (i + CHUNK) / RATE
        block = mic[i : i + CHUNK]
        if client_aec:
            client.far(far[i : i + CHUNK])
            pending = np.concatenate((pending, client.near(block)))
            block, pending = pending[:CHUNK], pending[CHUNK:]
            if len(block) == 0:
                continue
        pcm = block.astype("<i2").tobytes()
        server.arrived(pcm, now=START + (i + CHUNK) / RATE)
        update = detector.feed(server.clean(pcm))
        if update.ended:
            policy.reset()
            detector.reset()
            continue
        heard = Heard(
            update.speech_ms,
            20.0,
            server.removed_db,
            server.failure is None,
            update.speech_active,
            server.user_speaking,
        )
        policy.heard(heard, response, recent)
        await asyncio.sleep(0)
        if response.interrupted:
            return (i + CHUNK) / RATE
    policy.close()
    return None


def _int16(x: np.ndarray) -> np.ndarray:
    return np.clip(np.round(x), -32768, 32767).astype(np.int16)


def room_signals(
    setting: EchoSetting, case: int, user: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(microphone, played) for one case: an answer, its echo, noise, the user at 3 s."""
    far = piper(ANSWERS[case % len(ANSWERS)], RATE)
    mic = apply_echo(far, impulse_response(RATE, setting, seed=200 + case))
    rng = np.random.default_rng(case)
    mic += rng.standard_normal(len(far)) * 32768 * 10 ** ((setting.noise_dbfs or -120) / 20)
    if user is not None:
        at = int(USER_AFTER_S * RATE)
        mic[at : at + len(user)] += user[: len(far) - at]
    return _int16(mic), far


async def run(cases: int, with_words: bool, draws: int, verbose: bool) -> None:
    vad = load_vad()
    asr = None
    if with_words:
        from server.speech.asr import load_asr

        asr = load_asr()
    users = [espeak(text, RATE) for text in INTERRUPTIONS]
    backchannels = [espeak(text, RATE) for text in BACKCHANNELS]
    summary = []

    async def replay(kind: str, setting: EchoSetting, case: int, user: Any, aec: bool) -> Any:
        mic, far = room_signals(setting, case, user)
        words = TimedWords(asr) if asr is not None else None
        fired = await fire_time(mic, far, aec, vad, words, ANSWERS[case % len(ANSWERS)])
        if verbose and words is not None:
            heard = ", ".join(
                f"{at - USER_AFTER_S:+.2f}s ({took * 1000:.0f} ms) {text!r}"
                for at, took, text in words.heard
            )
            at = "never" if fired is None else f"{fired - USER_AFTER_S:+.2f} s"
            print(f"  {kind} case {case}: fired {at}; heard {heard}", flush=True)
        return fired

    for mode, client_aec in (("client_aec", True), ("raw_mic", False)):
        for setting in SETTINGS:
            onsets, false_fires, missed = [], 0, 0
            backchannel_fires: list[str] = []
            for case in range(cases):
                false_fires += await replay("echo", setting, case, None, client_aec) is not None
                user = users[case % len(users)]
                fired = await replay("interrupt", setting, case, user, client_aec)
                if fired is None or fired < USER_AFTER_S:
                    missed += 1
                else:
                    onsets.append(fired - USER_AFTER_S)
            for draw in range(draws):
                for case, (text, word) in enumerate(zip(BACKCHANNELS, backchannels, strict=True)):
                    at = case + draw * len(BACKCHANNELS)
                    if await replay(text, setting, at, word, client_aec) is not None:
                        backchannel_fires.append(text)
            p50 = statistics.median(onsets) if onsets else float("nan")
            line = (
                f"{mode} {setting.label}: detected {len(onsets)}/{cases}, "
                f"onset p50 {p50:.2f} s ({', '.join(f'{o:.2f}' for o in sorted(onsets))}), "
                f"echo fired {false_fires}/{cases}, "
                f"backchannels fired {len(backchannel_fires)}/{len(backchannels) * draws} "
                f"{' '.join(backchannel_fires)}"
            )
            print(line, flush=True)
            summary.append((len(onsets), cases, onsets, false_fires, len(backchannel_fires)))
    detected = sum(s[0] for s in summary)
    total = sum(s[1] for s in summary)
    onsets = [o for s in summary for o in s[2]]
    print(
        f"room_replay true_detected={detected / total:.2f} "
        f"onset_p50={statistics.median(onsets) if onsets else float('nan'):.2f} "
        f"echo_fired={sum(s[3] for s in summary)} backchannels_fired={sum(s[4] for s in summary)}"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=6, help="answers per echo setting and mode")
    parser.add_argument("--words", action="store_true", help="word checks on the real Whisper")
    parser.add_argument(
        "--backchannel-draws", type=int, default=1, help="answers each backchannel is said over"
    )
    parser.add_argument("--verbose", action="store_true", help="print every decode (--words)")
    args = parser.parse_args(argv)
    if args.verbose:
        logging.basicConfig(level=logging.INFO, format="  %(message)s")
    asyncio.run(run(args.cases, args.words, args.backchannel_draws, args.verbose))


if __name__ == "__main__":
    main()
