"""Text turn latency: input_text -> first text, first audio, done; beside the model floor.

Runs the real server (embedded LLM + Piper) on a free loopback port, asks N
questions (each in a fresh session, so no history grows), then in the same run
times the floor: the same prompt through the LLM alone to its first sentence,
plus Piper on that sentence, called directly in this process while the server
idles. ``python -m bench.text_turn [--turns N]``
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

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
    summarize,
    summary_line,
    write_results,
    ws_url,
)

PROJECT = "bench-text"


async def one_turn(url: str, question: str) -> dict[str, Any]:
    async with TimedPeer.open(url) as peer:
        sent = await peer.send({"type": "input_text", "text": question})
        frames = await peer.until("response.done")
    text = "".join(f.get("content", "") for _, f in frames if f["type"] == "response.text.delta")
    audio_frames = [f for _, f in frames if f["type"] == "response.audio.delta"]
    done = frames[-1][1]
    return {
        "question": question,
        "answer": text,
        "first_text_s": _since(sent, first_at(frames, "response.text.delta")),
        "first_audio_s": _since(sent, first_at(frames, "response.audio.delta")),
        "done_s": frames[-1][0] - sent,
        "audio_frames": len(audio_frames),
        "server_timings": done.get("metadata", {}).get("timings"),
    }


def _since(start: float, at: float | None) -> float | None:
    return None if at is None else at - start


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=16, help="measured turns (default 16)")
    args = parser.parse_args(argv)
    questions = [QUESTIONS[i % len(QUESTIONS)] for i in range(args.turns)]

    with running_server(provider="embedded") as server:
        create_project(server, PROJECT, single_agent_config())
        # The floor in the same run, with the models the server assembled (no re-assembly).
        speech_floor.use_models_dir(Path(server.data_dir) / "models")
        speech_floor.registry().preload(["tts", "llm"])
        asyncio.run(one_turn(ws_url(server, PROJECT), questions[0]))  # warm-up
        speech_floor.text_turn_floor(questions[0], instructions=AGENT_DESCRIPTION)
        turns, floors = [], []
        for question in questions:  # interleaved, so background load hits both alike
            turns.append(asyncio.run(one_turn(ws_url(server, PROJECT), question)))
            floors.append(speech_floor.text_turn_floor(question, instructions=AGENT_DESCRIPTION))

    rows = {
        "input_text -> first response.text.delta": [t["first_text_s"] for t in turns],
        "input_text -> first response.audio.delta": [t["first_audio_s"] for t in turns],
        "input_text -> response.done": [t["done_s"] for t in turns],
        "floor: LLM to first sentence": [f["llm_s"] for f in floors],
        "floor: Piper on that sentence": [f["tts_s"] for f in floors],
        "floor: first audio (LLM + Piper)": [f["total_s"] for f in floors],
    }
    rows = measured(rows)
    print_table(f"text_turn: {len(turns)} turns, embedded LLM + Piper", rows)
    first_audio = rows["input_text -> first response.audio.delta"]
    floor = rows["floor: first audio (LLM + Piper)"]
    p50, floor_p50 = percentile(first_audio, 50), percentile(floor, 50)
    print(
        f"targets: first audio p50 <= 0.5 s: {'met' if p50 <= 0.5 else 'MISSED'}; "
        f"<= 1.3 x floor: {'met' if p50 <= 1.3 * floor_p50 else 'MISSED'}"
    )
    write_results(
        "text_turn",
        {"summary": {k: summarize(v) for k, v in rows.items()}, "turns": turns, "floors": floors},
    )
    summary_line("text_turn", p50, floor_p50)


if __name__ == "__main__":
    main()
