"""Load: N concurrent sessions each doing M text turns; time to first text delta,
frames per second, server CPU and peak RSS; beside a bare ``websockets`` echo
server doing the same round trips in the same run.

Phases: the echo provider with ``tts.engine: none`` at each N of ``--sessions``
(default 50, 200, 500), then with Piper speaking the answers at each N of
``--tts-sessions`` (default 50). Sessions connect ``--connect-burst`` at a time,
then all start their turns together. Everything targets 127.0.0.1 and every
wait is bounded. ``python -m bench.load``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from typing import Any

import psutil

from app.engine import free_port
from bench.common import (
    TimedPeer,
    create_project,
    raise_fd_limit,
    running_server,
    single_agent_config,
    summarize,
    write_results,
    ws_url,
)

QUERY = "Hello there, what is the weather like today?"
TURN_TIMEOUT_S = 60.0


class Phase:
    """One load level: N sessions x M turns against one URL factory."""

    def __init__(
        self, label: str, urls: list[str], turns: int, burst: int, compression: str | None
    ) -> None:
        self.label = label
        self.compression = compression
        self.urls = urls
        self.turns = turns
        self.burst = asyncio.Semaphore(burst)
        self.first_text: list[float] = []
        self.first_audio: list[float] = []
        self.done: list[float] = []
        self.frames = 0
        self.errors: list[str] = []

    async def session(self, start: asyncio.Event, url: str, opened: list[int]) -> None:
        try:
            async with contextlib.AsyncExitStack() as stack:
                async with self.burst:
                    connection = TimedPeer.open(url, 60, self.compression)
                    peer = await stack.enter_async_context(connection)
                opened.append(1)
                await start.wait()
                for _ in range(self.turns):
                    sent = await peer.send({"type": "input_text", "text": QUERY})
                    first = first_audio = None
                    while True:
                        at, frame = await peer.recv(TURN_TIMEOUT_S)
                        self.frames += 1
                        kind = frame.get("type")
                        if kind == "error":
                            raise RuntimeError(str(frame)[:200])
                        if kind == "response.text.delta" and first is None:
                            first = at - sent
                            self.first_text.append(first)
                        if kind == "response.audio.delta" and first_audio is None:
                            first_audio = at - sent
                            self.first_audio.append(first_audio)
                        if kind == "response.done":
                            self.done.append(at - sent)
                            break
        except Exception as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:200])

    async def run(self, pid: int | None) -> dict[str, Any]:
        start = asyncio.Event()
        opened: list[int] = []
        tasks = [asyncio.create_task(self.session(start, u, opened)) for u in self.urls]
        connect_started = time.monotonic()
        while len(opened) + len(self.errors) < len(self.urls):
            if time.monotonic() - connect_started > 120:
                break
            await asyncio.sleep(0.05)
        connect_s = time.monotonic() - connect_started
        watcher = ResourceWatcher(pid)
        watch = asyncio.create_task(watcher.watch())
        started = time.monotonic()
        start.set()
        await asyncio.wait(tasks, timeout=TURN_TIMEOUT_S * self.turns + 30)
        wall = time.monotonic() - started
        watch.cancel()
        for task in tasks:
            task.cancel()
        return {
            "label": self.label,
            "sessions": len(self.urls),
            "turns": self.turns,
            "connected": len(opened),
            "connect_s": connect_s,
            "wall_s": wall,
            "first_text": summarize(self.first_text),
            "first_audio": summarize(self.first_audio),
            "done": summarize(self.done),
            "frames_per_s": self.frames / wall if wall else 0.0,
            "errors": len(self.errors),  # sessions that failed (error frame, timeout, refused)
            "turns_missing": len(self.urls) * self.turns - len(self.done),
            "error_samples": self.errors[:5],
            **watcher.result(wall),
        }


class ResourceWatcher:
    """Server CPU (share of one core over the phase) and peak RSS, sampled every 0.2 s."""

    def __init__(self, pid: int | None) -> None:
        self.process = psutil.Process(pid) if pid else None
        self.peak_rss = 0
        self.cpu_start = self._cpu()

    def _cpu(self) -> float:
        if self.process is None:
            return 0.0
        times = self.process.cpu_times()
        return times.user + times.system

    async def watch(self) -> None:
        while self.process is not None:
            with contextlib.suppress(psutil.Error):
                self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
            await asyncio.sleep(0.2)

    def result(self, wall: float) -> dict[str, Any]:
        if self.process is None:
            return {}
        with contextlib.suppress(psutil.Error):
            self.peak_rss = max(self.peak_rss, self.process.memory_info().rss)
        return {
            "server_cpu": (self._cpu() - self.cpu_start) / wall if wall else 0.0,
            "server_peak_rss_mb": self.peak_rss / 2**20,
        }


def floor_phase(n: int, turns: int, burst: int, compression: str | None) -> dict[str, Any]:
    port = free_port()
    child = subprocess.Popen(
        [sys.executable, "-m", "bench.echo_floor_server", str(port)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        if child.stdout.readline().strip() != "ready":
            raise RuntimeError("the floor echo server did not start")
        urls = [f"ws://127.0.0.1:{port}/floor/{i}" for i in range(n)]
        phase = Phase(f"floor: bare websockets, n={n}", urls, turns, burst, compression)
        return asyncio.run(phase.run(child.pid))
    finally:
        child.terminate()
        child.wait(timeout=10)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", default="50,200,500", help="text-only levels")
    parser.add_argument("--tts-sessions", default="50", help="levels with Piper ('' = none)")
    parser.add_argument("--turns", type=int, default=3, help="turns per session (M)")
    parser.add_argument("--connect-burst", type=int, default=50, help="handshakes at once")
    parser.add_argument(
        "--no-compression",
        action="store_true",
        help="do not offer permessage-deflate (the SDK does offer it)",
    )
    args = parser.parse_args(argv)
    raise_fd_limit()
    levels = [int(n) for n in args.sessions.split(",") if n]
    compression = None if args.no_compression else "deflate"
    tts_levels = [int(n) for n in args.tts_sessions.split(",") if n]

    phases: list[dict[str, Any]] = []
    with running_server(provider="echo", wait_for=("tts",) if tts_levels else ()) as server:
        pid = server.process.pid if server.process else None
        create_project(server, "bench-load", single_agent_config(provider="echo", tts=False))
        create_project(server, "bench-load-tts", single_agent_config(provider="echo", tts=True))
        for n in levels:
            urls = [ws_url(server, "bench-load") for _ in range(n)]
            phases.append(
                asyncio.run(
                    Phase(
                        f"echo, no TTS, n={n}", urls, args.turns, args.connect_burst, compression
                    ).run(pid)
                )
            )
            phases.append(floor_phase(n, args.turns, args.connect_burst, compression))
            _print_phase(phases[-2])
            _print_phase(phases[-1])
        for n in tts_levels:
            urls = [ws_url(server, "bench-load-tts") for _ in range(n)]
            phases.append(
                asyncio.run(
                    Phase(
                        f"echo + Piper, n={n}", urls, args.turns, args.connect_burst, compression
                    ).run(pid)
                )
            )
            _print_phase(phases[-1])

    print(f"\nload: {args.turns} turns per session, compression {compression or 'off'}")
    print(
        f"{'phase':<32}{'ok':>6}{'err':>5}{'ftd p50':>9}{'ftd p99':>9}{'max':>8}"
        f"{'fps':>8}{'cpu':>6}{'rss MB':>8}{'fta p50':>9}{'fta p99':>9}"
    )
    for p in phases:
        ft = p["first_text"]
        print(
            f"{p['label']:<32}{p['done']['n']:>6}{p['errors']:>5}{ft['p50']:>9.3f}"
            f"{ft['p99']:>9.3f}{ft['max']:>8.3f}{p['frames_per_s']:>8.0f}"
            f"{p.get('server_cpu', 0):>6.2f}{p.get('server_peak_rss_mb', 0):>8.0f}"
            f"{_opt(p['first_audio']['p50']):>9}{_opt(p['first_audio']['p99']):>9}"
        )
    write_results("load", {"compression": compression, "turns": args.turns, "phases": phases})
    engine = [p for p in phases if p["label"].startswith("echo, no TTS")]
    worst = max(engine, key=lambda p: p["sessions"]) if engine else None
    at_200 = next((p for p in engine if p["sessions"] == 200), None)
    if at_200:
        ok = at_200["first_text"]["p99"] <= 0.1 and at_200["errors"] == 0
        print(
            f"target: 200 sessions first-delta p99 <= 100 ms, no error: {'met' if ok else 'MISSED'}"
        )
    if worst:
        print(
            f"load n={worst['sessions']} p99={worst['first_text']['p99']:.3f} "
            f"errors={worst['errors']}"
        )


def _opt(value: float) -> str:
    return "-" if value != value else f"{value:.3f}"  # NaN: no audio in this phase


def _print_phase(p: dict[str, Any]) -> None:
    print(
        f"{p['label']}: connected {p['connected']}/{p['sessions']} in {p['connect_s']:.1f} s, "
        f"errors {p['errors']} {p['error_samples'][:2]}",
        flush=True,
    )


if __name__ == "__main__":
    main()
