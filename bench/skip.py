"""Skip latency: response.cancel sent -> last audio frame of the skipped agent,
-> the next agent's first text and audio frames.

Two agents in a flow (the second sees the first's answer): the first reads the
long question back (echo provider: several seconds of speech, deterministic),
the second is the embedded LLM. Once the first agent's speech has been
arriving for ``--after`` seconds the client sends ``response.cancel``.
Audio frames carry no role, so a frame belongs to the agent whose text delta
came last. "Audio stopped" is the arrival of the
skipped agent's last frame after the cancel (0 if none came after it). The
next agent's floor is its own text-turn floor: its prompt through the LLM to
the first sentence plus Piper, called directly in this process.
``python -m bench.skip [--turns N]``
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path
from typing import Any

from bench import speech_floor
from bench.common import (
    QUESTIONS,
    TimedPeer,
    create_project,
    measured,
    percentile,
    print_table,
    running_server,
    summarize,
    summary_line,
    write_results,
    ws_url,
)

PROJECT = "bench-skip"
FIRST, SECOND = "Reader", "Answerer"
DESCRIPTIONS = {
    FIRST: "Reads the question back to the user.",
    SECOND: "Answers the question in one short sentence.",
}
LONG_QUESTIONS = tuple(
    f"{q} I would like a short answer please, because I am in a hurry today, "
    "and I will ask a few more questions after this one, so keep it brief."
    for q in QUESTIONS
)


def config() -> dict[str, Any]:
    return {
        "orchestrator": {"agent_list": [{"agent_name": "Flow"}]},
        "utility_agents": [
            {
                "agent_class": "SearchAgent",
                "agent_name": FIRST,
                "agent_description": DESCRIPTIONS[FIRST],
                "config": {"llm_config": {"provider": "echo"}},
            },
            {
                "agent_class": "SearchAgent",
                "agent_name": SECOND,
                "agent_description": DESCRIPTIONS[SECOND],
                "config": {},
            },
        ],
        "super_agents": [
            {
                "agent_class": "FlowSuperAgent",
                "agent_name": "Flow",
                "agent_description": "history, then a summary",
                "config": {
                    "goal": "answer",
                    "agent_list": [
                        {"agent_name": FIRST, "next_step": [SECOND]},
                        {"agent_name": SECOND},
                    ],
                },
            }
        ],
        "base_config": {
            "llm_config": {"provider": "embedded", "max_tokens": 120, "temperature": 0.0}
        },
        "speech_config": {"sample_rate": 16000, "tts": {"engine": "piper"}},
    }


async def one_skip(url: str, question: str, after_s: float) -> dict[str, Any]:
    async with TimedPeer.open(url) as peer:
        await peer.send({"type": "input_text", "text": question})
        role: str | None = None
        first_audio_at: float | None = None
        cancel_at: float | None = None
        last_first_audio: float | None = None
        second_text: float | None = None
        second_audio: float | None = None
        first_frames_after_cancel = 0
        while True:
            at, frame = await peer.recv(120)
            kind = frame.get("type")
            if kind == "error":
                raise RuntimeError(f"server error: {frame}")
            if kind == "response.text.delta":
                role = frame.get("role")
                if role == SECOND and second_text is None:
                    second_text = at
            elif kind == "response.audio.delta":
                if role == FIRST:
                    first_audio_at = first_audio_at or at
                    if cancel_at is not None:
                        last_first_audio = at
                        first_frames_after_cancel += 1
                elif role == SECOND and second_audio is None:
                    second_audio = at
            elif kind == "response.done":
                break
            heard_enough = first_audio_at is not None and at - first_audio_at >= after_s
            if cancel_at is None and role == FIRST and heard_enough:
                cancel_at = await peer.send({"type": "response.cancel"})
    if cancel_at is None:
        return {"question": question, "cancelled": False}
    return {
        "question": question,
        "cancelled": True,
        "audio_stopped_s": max(0.0, (last_first_audio or cancel_at) - cancel_at),
        "frames_after_cancel": first_frames_after_cancel,
        "next_text_s": None if second_text is None else second_text - cancel_at,
        "next_audio_s": None if second_audio is None else second_audio - cancel_at,
        "skipped": frame.get("metadata", {}).get("skipped"),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--turns", type=int, default=8, help="measured skips (default 8)")
    parser.add_argument(
        "--after",
        type=float,
        default=0.5,
        help="seconds of the first agent's audio before the skip",
    )
    args = parser.parse_args(argv)
    questions = [LONG_QUESTIONS[i % len(LONG_QUESTIONS)] for i in range(args.turns)]

    with running_server(provider="embedded") as server:
        create_project(server, PROJECT, config())
        speech_floor.use_models_dir(Path(server.data_dir) / "models")
        speech_floor.registry().preload(["tts", "llm"])
        asyncio.run(one_skip(ws_url(server, PROJECT), questions[0], args.after))  # warm-up
        skips, floors = [], []
        for question in questions:
            skips.append(asyncio.run(one_skip(ws_url(server, PROJECT), question, args.after)))
            floors.append(
                speech_floor.text_turn_floor(
                    question, agent=SECOND, instructions=DESCRIPTIONS[SECOND]
                )
            )
            time.sleep(0.1)

    done = [s for s in skips if s["cancelled"]]
    rows = {
        "cancel -> skipped agent's last audio frame": [s["audio_stopped_s"] for s in done],
        "cancel -> next agent's first text": [s["next_text_s"] for s in done],
        "cancel -> next agent's first audio": [s["next_audio_s"] for s in done],
        "floor: next agent's text turn (LLM + Piper)": [f["total_s"] for f in floors],
    }
    rows = measured(rows)
    print_table(f"skip: {len(done)} of {len(skips)} responses skipped after {args.after} s", rows)
    stopped = rows["cancel -> skipped agent's last audio frame"]
    next_audio = rows["cancel -> next agent's first audio"]
    floor = rows["floor: next agent's text turn (LLM + Piper)"]
    p50, floor_p50 = percentile(next_audio, 50), percentile(floor, 50)
    print(
        f"targets: audio stops <= 50 ms (max {max(stopped, default=float('nan')):.3f} s): "
        f"{'met' if stopped and max(stopped) <= 0.05 else 'MISSED'}; next agent heard <= its "
        f"floor: {'met' if p50 <= floor_p50 else 'MISSED'}"
    )
    write_results(
        "skip",
        {"summary": {k: summarize(v) for k, v in rows.items()}, "skips": skips, "floors": floors},
    )
    summary_line("skip", p50, floor_p50)


if __name__ == "__main__":
    main()
