"""The end-of-turn decisions alone, on the turn set, without a server or a clock.

`bench.turns` streams in real time through a server, so what it measures depends
on how fast the drafts come back (a slow draft is dropped when speech resumes,
and the pause is waited out by luck). This replays each recording through the
engine's own `TurnDetector` (Silero VAD) and, at every pause the engine would
judge, computes what the engine computes there: the Whisper draft of the audio
so far and Smart Turn's probability, then `decide`. Every draft is taken as
ready in time, the worst case for cut-offs (a quiet, fast machine).

Reported: paused utterances the verdict would cut off at their pause, complete
ones it would end at once (the rest wait for ``silence_ms``), per reason.
``python -m bench.turn_verdicts [--limit N] [--show]``
"""

from __future__ import annotations

import argparse
import collections
from dataclasses import dataclass

from bench.turn_set import RATE, Utterance, build, room_noise
from server.model_loading import speech_threads
from server.speech.asr import load_asr
from server.speech.end_of_turn import Verdict, decide, load_end_of_turn
from server.speech.pcm import float_to_pcm16, pcm16_to_float
from server.speech.turns import TurnDetector
from server.speech.vad import load_vad
from server.voice_input import DRAFT_TAIL_MS, PROBE_MS

CHUNK_S = 0.05


@dataclass(frozen=True, slots=True)
class Pause:
    """One judged pause: when it came (s into the recording), the draft, the verdict."""

    at_s: float
    draft: str
    avg_logprob: float
    verdict: Verdict


def judged_pauses(utterance: Utterance, vad, asr, model) -> list[Pause]:  # type: ignore[no-untyped-def]
    """Every pause the engine would put to the detector, until the first that ends the turn.

    As in `server.voice_input`: the verdict is taken ``DRAFT_TAIL_MS`` into a
    pause, and ends the turn only if the pause then lasts ``PROBE_MS``.
    """
    detector = TurnDetector(vad, RATE, silence_ms=10_000, tail_ms=DRAFT_TAIL_MS)
    step = int(CHUNK_S * RATE) * 2
    pauses: list[Pause] = []
    judged = -1
    ending: Pause | None = None
    room = room_noise(RATE, len(utterance.pcm) // 2)  # the room goes on after the speech
    pcm = utterance.pcm + float_to_pcm16(room)
    for k in range(0, len(pcm), step):
        update = detector.feed(pcm[k : k + step])
        if update.speech_active or not detector.has_speech:
            ending = None  # speech resumed before the pause was long enough
            continue
        if ending is not None and detector.quiet_ms >= PROBE_MS:
            pauses.append(ending)
            break
        audio = detector.pending_utterance()
        if audio is None or len(audio) == judged:
            continue
        judged = len(audio)
        draft = asr.transcribe_scored(audio, RATE)
        probability = model.probability(pcm16_to_float(audio))
        verdict = decide(probability, draft.text, draft.avg_logprob)
        pause = Pause((k + step) / 2 / RATE, draft.text, draft.avg_logprob, verdict)
        if verdict.complete:
            ending = pause
        else:
            pauses.append(pause)
    return pauses


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N utterances")
    parser.add_argument("--show", action="store_true", help="one line per utterance")
    args = parser.parse_args()
    vad, asr, model = load_vad(), load_asr(cpu_threads=speech_threads()), load_end_of_turn()
    utterances = build()
    if args.limit:
        utterances = utterances[: args.limit]
    cut: list[str] = []
    quick: list[str] = []
    reasons: collections.Counter[str] = collections.Counter()
    paused = complete = 0
    for utterance in utterances:
        pauses = judged_pauses(utterance, vad, asr, model)
        ended = next((p for p in pauses if p.verdict.complete), None)
        if utterance.pause_ms:
            paused += 1
            pause_end = utterance.resume_s
            if ended is not None and ended.at_s < pause_end:
                cut.append(utterance.name)
                reasons[f"cut by {ended.verdict.reason}"] += 1
        else:
            complete += 1
            if ended is not None and ended.at_s < utterance.speech_end_s + 0.6:
                quick.append(utterance.name)
                reasons[f"ended by {ended.verdict.reason}"] += 1
        if args.show:
            for p in pauses:
                v = p.verdict
                print(
                    f"{utterance.name:18s} {p.at_s:5.2f}s p={v.probability:.2f} "
                    f"lp={p.avg_logprob:5.2f} "
                    f"{'END ' if v.complete else 'wait'} {v.reason:12s} {p.draft!r}"
                )
    print()
    print("| what | count | rate |")
    print("|---|---|---|")
    print(f"| paused utterances cut off at their pause | {len(cut)} / {paused} "
          f"| {len(cut) / max(paused, 1):.1%} |")  # fmt: skip
    print(f"| complete utterances ended at the first pause | {len(quick)} / {complete} "
          f"| {len(quick) / max(complete, 1):.1%} |")  # fmt: skip
    for reason, count in sorted(reasons.items()):
        print(f"| {reason} | {count} | |")
    print(f"cut off: {', '.join(cut) or '-'}")
    slow = [u.name for u in utterances if not u.pause_ms and u.name not in quick]
    print(f"complete but waited out: {', '.join(slow) or '-'}")


if __name__ == "__main__":
    main()
