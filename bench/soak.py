"""Soak: many concurrent sessions asking the echo provider for a while; errors and server RSS.

    python -m bench.soak --sessions 200 --minutes 10

Starts its own text-only server on a free loopback port (traffic goes nowhere
else), runs every session in a loop of query -> whole response, samples the
server's RSS every few seconds, stops by itself, and prints the RSS curve.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import websockets

from app.engine import EngineProcess

PROJECT = {
    "orchestrator": {"agent_list": [{"agent_name": "Flow"}]},
    "utility_agents": [
        {"agent_class": "SearchAgent", "agent_name": n, "agent_description": n, "config": {}}
        for n in ("Researcher", "Writer")
    ],
    "super_agents": [
        {
            "agent_class": "FlowSuperAgent",
            "agent_name": "Flow",
            "agent_description": "flow",
            "config": {
                "goal": "answer",
                "agent_list": [
                    {"agent_name": "Researcher", "next_step": ["Writer"]},
                    {"agent_name": "Writer"},
                ],
            },
        }
    ],
    "base_config": {"llm_config": {"provider": "echo", "word_delay_ms": 5}},
    "speech_config": {"tts": {"engine": "none"}},
}
QUERY = "how are my investments doing this week"


@dataclass
class SoakResult:
    responses: int = 0
    errors: list[str] = field(default_factory=list)
    rss_mb: list[tuple[float, float]] = field(default_factory=list)  # (seconds, MB)


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def one_session(server: EngineProcess, index: int, until: float, result: SoakResult) -> None:
    url = server.base_url.replace("http", "ws", 1) + f"/distiller/realtime/local/soak/user{index}"
    headers = {"Authorization": f"Bearer {server.api_key}"}
    try:
        async with websockets.connect(url, additional_headers=headers, max_size=2**24) as ws:
            while time.monotonic() < until:
                await ws.send(json.dumps({"type": "input_text", "text": QUERY}))
                text = []
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
                    kind = frame.get("type")
                    if kind == "PING":
                        await ws.send('{"type": "PONG"}')
                    elif kind == "error":
                        result.errors.append(f"user{index}: {frame['error_detail']['message']}")
                    elif kind == "response.text.delta" and frame["role"] == "Writer":
                        text.append(frame["content"])
                    elif kind == "response.done":
                        break
                if "".join(text) != QUERY:
                    result.errors.append(f"user{index}: wrong answer {''.join(text)!r}")
                result.responses += 1
                await asyncio.sleep(0.5)
    except Exception as exc:  # every failure is counted, none stops the others
        result.errors.append(f"user{index}: {type(exc).__name__}: {exc}")


async def soak(sessions: int, seconds: float, sample_every: float = 5.0) -> SoakResult:
    result = SoakResult()
    with (
        tempfile.TemporaryDirectory() as data,
        EngineProcess(
            Path(data), provider="echo", extra_args=["--no-speech"], log_level="warning"
        ) as server,
    ):
        assert server.process is not None
        created = httpx.post(
            f"{server.base_url}/distiller/create",
            headers={"Authorization": f"Bearer {server.api_key}"},
            json={"project": "soak", "config": PROJECT, "sdk_version": "soak"},
        )
        created.raise_for_status()
        start = time.monotonic()
        until = start + seconds
        workers = [
            asyncio.create_task(one_session(server, i, until, result)) for i in range(sessions)
        ]
        while not all(w.done() for w in workers):
            result.rss_mb.append((time.monotonic() - start, rss_mb(server.process.pid)))
            await asyncio.wait(workers, timeout=sample_every)
        result.rss_mb.append((time.monotonic() - start, rss_mb(server.process.pid)))
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=200)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument(
        "--sample-every", type=float, default=30.0, help="seconds between RSS samples"
    )
    args = parser.parse_args()
    result = asyncio.run(soak(args.sessions, args.minutes * 60, args.sample_every))
    print(
        f"sessions={args.sessions} minutes={args.minutes:g} responses={result.responses} "
        f"errors={len(result.errors)}"
    )
    for line in result.errors[:20]:
        print("  error:", line)
    print("RSS curve (s, MB):")
    for t, mb in result.rss_mb:
        print(f"  {t:7.1f}  {mb:7.1f}")


if __name__ == "__main__":
    main()
