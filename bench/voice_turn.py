"""Voice turn latency: a spoken question streamed in real time; end of speech ->
final transcript -> first answer audio; beside the floor.

The "recording" is the question spoken by Piper at 16 kHz (made once, in this
process), preceded by 0.3 s of silence and followed by silence that keeps
streaming like a live microphone until the server ends the turn. End of speech
is when the last voiced sample was sent. The floor is the silence window plus
Whisper on the same audio plus the text floor (LLM to first sentence + Piper)
for the transcript. ``python -m bench.voice_turn [--turns N]``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from bench import speech_floor
from bench.common import (
    AGENT_DESCRIPTION,
    QUESTIONS,
    TimedPeer,
    create_project,
    first_at,
    measured,
    percentile,
    print_table,
    running_server,
    single_agent_config,
    stream_in_real_time,
    summarize,
    summary_line,
    write_results,
    ws_url,
)

PROJECT = "bench-voice"
RATE = 16000
CHUNK_S = 0.05  # microphone frames of 50 ms, sent in real time
SILENCE_MS = 600
LEAD_SILENCE_S = 0.3


def recording(question: str) -> tuple[bytes, float]:
    """(PCM16 of the spoken question with leading silence, seconds to the last voiced sample)."""
    speech = speech_floor.registry().tts().synthesize(question, RATE)
    samples = np.frombuffer(speech, dtype=np.int16)
    voiced = np.flatnonzero(np.abs(samples.astype(np.int32)) > 600)
    end = (int(voiced[-1]) + 1) if voiced.size else len(samples)
    lead = bytes(int(LEAD_SILENCE_S * RATE) * 2)
    return lead + samples[:end].tobytes(), LEAD_SILENCE_S + end / RATE


async def one_turn(url: str, pcm: bytes, speech_end_offset: float) -> dict[str, Any]:
    async with TimedPeer.open(url) as peer:
        step = int(CHUNK_S * RATE) * 2
        started = time.monotonic()

        def chunk_at(k: int) -> bytes:
            return pcm[k * step : (k + 1) * step].ljust(step, b"\0")  # then silence

        mic = asyncio.create_task(stream_in_real_time(peer, chunk_at, CHUNK_S, started))
        try:
            frames = await peer.until("response.audio_transcript.done", timeout=60)
            mic.cancel()  # a push-to-talk client stops sending once the turn is taken
            frames += await peer.until("response.done", timeout=120)
        finally:
            mic.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await mic
    speech_end = started + speech_end_offset
    transcript = next(f["text"] for _, f in frames if f["type"] == "response.audio_transcript.done")
    return {
        "transcript": transcript,
        "transcript_done_s": first_at(frames, "response.audio_transcript.done") - speech_end,
        "first_text_s": _since(speech_end, first_at(frames, "response.text.delta")),
        "first_audio_s": _since(speech_end, first_at(frames, "response.audio.delta")),
        "server_timings": frames[-1][1].get("metadata", {}).get("timings"),
    }


def _since(start: float, at: float | None) -> float | None:
    return None if at is None else at - start


def floor_for(pcm: bytes) -> dict[str, Any]:
    """Silence window + Whisper on the recording + the text floor for what Whisper heard."""
    asr = speech_floor.registry().asr()
    started = time.perf_counter()
    text = asr.transcribe(pcm, RATE)
    asr_s = time.perf_counter() - started
    text_floor = speech_floor.text_turn_floor(text, instructions=AGENT_DESCRIPTION)
    total = SILENCE_MS / 1000 + asr_s + float(text_floor["total_s"])
    return {"transcript": text, "asr_s": asr_s, **text_floor, "total_s": total}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=8, help="measured turns (default 8)")
    args = parser.parse_args(argv)
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.turns)]

    with running_server(provider="embedded") as server:
        create_project(server, PROJECT, single_agent_config(silence_ms=SILENCE_MS))
        speech_floor.use_models_dir(Path(server.data_dir) / "models")
        speech_floor.registry().preload(["asr", "tts", "llm"])
        recordings = {q: recording(q) for q in set(questions)}
        asyncio.run(one_turn(ws_url(server, PROJECT), *recordings[questions[0]]))  # warm-up
        floor_for(recordings[questions[0]][0])
        turns, floors = [], []
        for question in questions:  # interleaved, so background load hits both alike
            pcm, end = recordings[question]
            turns.append(asyncio.run(one_turn(ws_url(server, PROJECT), pcm, end)))
            floors.append(floor_for(pcm[int(LEAD_SILENCE_S * RATE) * 2 :]))

    rows = {
        "end of speech -> transcript.done": [t["transcript_done_s"] for t in turns],
        "end of speech -> first response.text.delta": [t["first_text_s"] for t in turns],
        "end of speech -> first response.audio.delta": [t["first_audio_s"] for t in turns],
        "floor: Whisper on the utterance": [f["asr_s"] for f in floors],
        "floor: silence + Whisper + LLM + Piper": [f["total_s"] for f in floors],
    }
    rows = measured(rows)
    print_table(f"voice_turn: {len(turns)} turns, silence window {SILENCE_MS} ms", rows)
    p50 = percentile(rows["end of speech -> first response.audio.delta"], 50)
    floor_p50 = percentile(rows["floor: silence + Whisper + LLM + Piper"], 50)
    target = SILENCE_MS / 1000 + 0.6
    print(
        f"target: first audio p50 <= silence + 0.6 s = {target:.1f} s: "
        f"{'met' if p50 <= target else 'MISSED'}"
    )
    write_results(
        "voice_turn",
        {"summary": {k: summarize(v) for k, v in rows.items()}, "turns": turns, "floors": floors},
    )
    summary_line("voice_turn", p50, floor_p50)


if __name__ == "__main__":
    main()
