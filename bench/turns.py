"""Turn-taking: does the engine wait through a mid-sentence pause, and answer fast when done?

The turn set (`bench.turn_set`): 30 complete questions and 30 with a 400-1500 ms
pause mid-sentence, in Piper and espeak-ng voices at three speeds each, in a
simulated room (reverberation, noise). Each is streamed in real time, 50 ms
frames, with the room noise going on after it, into four projects on one
server: ``smart`` (upper limit 2000 ms) and ``silence`` at 300, 600 and 1000 ms,
interleaved so background load hits all alike. Measured:

- false cut-offs: a paused utterance whose turn ended (its transcript.done came)
  before the last word was spoken, i.e. in the pause (until 2026-11-26 this was
  judged by the words after the pause found in the transcript, which counted a
  misheard "John and" -> "Jogand" as a cut-off);
- on complete ones, end of speech (last voiced sample) -> transcript.done and
  -> first response.audio.delta;
- the detector's CPU time per decision (thread CPU time, and wall time), timed in
  this process on each complete utterance while the server synthesises the rest
  of the answer (after its first audio, so the latency above does not pay for it).

The floor beside it: silence-600 from the same run. ``python -m bench.turns [--limit N]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import threading
import time
from typing import Any

import httpx

from bench import common, speech_floor
from bench.turn_set import RATE, Utterance, build, room_noise
from server.speech.end_of_turn import load_end_of_turn
from server.speech.pcm import float_to_pcm16, pcm16_to_float, resample
from server.speech.words import words_of

CHUNK_S = 0.05
MODES = {"smart": ("smart", 2000), "silence-300": ("silence", 300)}
MODES |= {"silence-600": ("silence", 600), "silence-1000": ("silence", 1000)}
BASELINE = "silence-600"


def project_config(mode: str, silence_ms: int) -> dict[str, Any]:
    config = common.single_agent_config(silence_ms=silence_ms)
    config["speech_config"]["turn_detection"]["mode"] = mode
    return config


async def one_turn(url: str, utterance: Utterance, timer: DecisionTimer | None = None) -> dict:
    """Stream one recording (then room noise) until the first answer audio arrives."""
    async with common.TimedPeer.open(url) as peer:
        step = int(CHUNK_S * RATE) * 2
        started = time.monotonic()

        def chunk_at(k: int) -> bytes:
            chunk = utterance.pcm[k * step : (k + 1) * step]
            if len(chunk) < step:  # the room goes on after the speech
                chunk += float_to_pcm16(room_noise((step - len(chunk)) // 2, k * step // 2))
            return chunk

        mic = asyncio.create_task(common.stream_in_real_time(peer, chunk_at, CHUNK_S, started))
        timing = None
        try:
            frames = await peer.until("response.audio_transcript.done", timeout=60)
            mic.cancel()  # push-to-talk: the microphone stops once the turn is taken
            frames += await peer.until("response.audio.delta", timeout=120)
            if timer is not None and not utterance.pause_ms:
                # Decisions are timed while the rest of the answer is synthesised, not
                # before its first audio: that latency is measured, and must not pay for it.
                timing = timer.start(utterance)
                await peer.until("response.done", timeout=120)
        finally:
            mic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mic
            if timing is not None:
                timing.set()
    speech_end = started + utterance.speech_end_s
    transcript = next(f["text"] for _, f in frames if f["type"] == "response.audio_transcript.done")
    result: dict[str, Any] = {"name": utterance.name, "transcript": transcript}
    done_at = common.first_at(frames, "response.audio_transcript.done")
    if utterance.pause_ms:
        heard = set(spoken_words(transcript))
        after = spoken_words(utterance.second_part)
        found = sum(w in heard for w in after) / max(1, len(after))
        # A turn that waited the pause out can only end after the last word: one that
        # ended before it was cut off, whatever Whisper made of the words.
        cut_off = done_at is not None and done_at < speech_end
        result |= {"cut_off": cut_off, "pause_ms": utterance.pause_ms, "words_after_found": found}
    else:
        audio_at = common.first_at(frames, "response.audio.delta")
        result |= {
            "eos_to_transcript_s": None if done_at is None else done_at - speech_end,
            "eos_to_audio_s": None if audio_at is None else audio_at - speech_end,
        }
    return result


_DIGIT_NAMES = "zero one two three four five six seven eight nine"
_DIGITS = {name: str(i) for i, name in enumerate(_DIGIT_NAMES.split(" "))}


def spoken_words(text: str) -> list[str]:
    """Words, with numbers as single digits: "five five five" and "555" both give 5 5 5."""
    out: list[str] = []
    for word in words_of(text):
        out += list(word) if word.isdigit() else [_DIGITS.get(word, word)]
    return out


class DecisionTimer:
    """Times detector decisions in this process while the server is busy answering."""

    def __init__(self) -> None:
        self.model = load_end_of_turn()
        self.decisions: list[tuple[float, float]] = []  # (CPU s, wall s)

    def start(self, utterance: Utterance) -> threading.Event:
        """Decide on ``utterance`` over and over (at most 20 times) until the event is set."""
        stop = threading.Event()
        audio16k = resample(pcm16_to_float(utterance.pcm), RATE, 16000)

        def run() -> None:
            for _ in range(20):
                if stop.is_set():
                    return
                wall = time.perf_counter()
                _probability, cpu_s = self.model.timed_probability(audio16k)
                self.decisions.append((cpu_s, time.perf_counter() - wall))

        threading.Thread(target=run, name="decision-timing", daemon=True).start()
        return stop


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=0, help="only the first N utterances")
    parser.add_argument("--modes", nargs="*", default=list(MODES), choices=list(MODES))
    args = parser.parse_args(argv)
    utterances = build()
    if args.limit:
        utterances = utterances[: args.limit]
    timer = DecisionTimer()
    modes = {mode: MODES[mode] for mode in args.modes}
    results: dict[str, list[dict]] = {mode: [] for mode in modes}
    with common.running_server(
        provider="embedded", wait_for=("vad", "asr", "tts", "llm", "turn")
    ) as srv:
        for mode, (kind, silence_ms) in modes.items():
            common.create_project(srv, mode, project_config(kind, silence_ms))
        speech_floor.use_models_dir(srv.data_dir / "models")
        asyncio.run(one_turn(common.ws_url(srv, "smart"), utterances[0]))  # warm-up
        try:
            for index, utterance in enumerate(utterances):
                turns = {}
                for mode in modes:  # interleaved: background load hits every mode alike
                    turns[mode] = asyncio.run(one_turn(common.ws_url(srv, mode), utterance, timer))
                for mode, turn in turns.items():  # an utterance counts in all modes or none
                    results[mode].append(turn)
                outcome = {m: t.get("cut_off", t.get("eos_to_audio_s")) for m, t in turns.items()}
                print(f"{index + 1}/{len(utterances)} {utterance.name} {outcome}", flush=True)
        except KeyboardInterrupt:  # Ctrl-C: report the utterances measured so far
            print(f"interrupted: reporting {len(results[next(iter(modes))])} utterances")
        health = httpx.get(f"{srv.base_url}/healthz", timeout=10).json()
    for key in ("prepared_answers", "llm_prompts"):  # answering and reading ahead, all modes
        print(f"{key}: {health.get(key)}")
    report(results, timer.decisions)


def report(results: dict[str, list[dict]], decisions: list[tuple[float, float]]) -> None:
    summary = {}
    for mode, turns in results.items():
        paused = [t for t in turns if "cut_off" in t]
        complete = [t for t in turns if "cut_off" not in t]
        rows = common.measured(
            {
                "eos -> transcript.done (complete ones)": [
                    t["eos_to_transcript_s"] for t in complete
                ],
                "eos -> first audio (complete ones)": [t["eos_to_audio_s"] for t in complete],
            }
        )
        cut = sum(t["cut_off"] for t in paused) / len(paused) if paused else math.nan
        common.print_table(f"turns: {mode}: false cut-offs {cut:.1%} of {len(paused)} paused", rows)
        summary[mode] = {
            "cutoff_rate": cut,
            "eos_to_transcript_p50": common.percentile(
                rows["eos -> transcript.done (complete ones)"], 50
            ),
            "eos_to_audio_p50": common.percentile(rows["eos -> first audio (complete ones)"], 50),
            "eos_to_audio_p90": common.percentile(rows["eos -> first audio (complete ones)"], 90),
        }
    cpu = [c for c, _ in decisions]
    wall = [w for _, w in decisions]
    common.print_table(
        "detector decisions while an answer is synthesised",
        {"CPU time per decision": cpu, "wall time per decision": wall},
    )
    print(f"\n{'mode':<14}{'cut-offs':>10}{'eos->done p50':>15}{'eos->audio p50':>16}")
    for mode, s in summary.items():
        print(
            f"{mode:<14}{s['cutoff_rate']:>10.1%}{s['eos_to_transcript_p50']:>14.3f}s"
            f"{s['eos_to_audio_p50']:>15.3f}s"
        )
    smart, base = summary.get("smart"), summary.get(BASELINE)
    if smart is None or base is None:
        return
    ratio = smart["eos_to_audio_p50"] / base["eos_to_audio_p50"]
    print(f"floor ({BASELINE}, same run): eos->audio p50 {base['eos_to_audio_p50']:.3f}s; "
          f"smart/floor ratio {ratio:.2f}")  # fmt: skip
    decision_p99 = common.percentile(cpu, 99)
    common.write_results("turns", {"summary": summary, "decisions": decisions, "turns": results})
    print(
        f"turns mode=smart cutoff_rate={smart['cutoff_rate']:.3f} "
        f"eos_to_audio_p50={smart['eos_to_audio_p50']:.3f} decision_p99={decision_p99:.3f}"
    )


if __name__ == "__main__":
    main()
