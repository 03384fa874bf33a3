"""Capacity: how many speaking sessions one box holds with first audio on time and no gaps.

Sessions arrive as a Poisson process at each load level (``--levels``: the
mean number of sessions connected at once; the arrival rate is that over a
session's expected lifetime). Each session asks ``--questions`` questions by
``input_text``, one at a time; answers are spoken by real Piper (the echo LLM
reads back the question, so every answer's length is known; ``--provider
embedded`` uses the real LLM). Each client *plays* its audio in real time:
playback starts when the first audio frame arrives, and whenever the next
frame arrives after everything received so far has played out, the listener
heard a gap (counted above ``GAP_TOLERANCE_S``, what any jitter buffer
hides). After the answer has played, the user thinks (exponential, mean
``--think``) and asks again. Reported per level: first audio p50/p99 (from
``input_text`` sent), gaps and their total seconds, refused sessions or
turns, server CPU (cores) and peak RSS, sessions connected (mean, peak).

Then the burst case: N sessions connect, all ask at once (``--burst``).

Floor, measured in the same run: Piper's real-time factor in this process
(CPU seconds per second of audio, on the very answers asked), so one session
asks for ``rtf x A / (A + think)`` cores (A = answer audio) and idle cores
voice ``cores / that`` sessions. The box is shared (other processes take
cores), so the run also measures what Piper on ``cores`` threads actually
synthesises per second at its start and end; ``floor_sessions`` (summary
line) is that over ``A / (A + think)``. ``python -m bench.capacity``
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from bench.common import (
    TimedPeer,
    create_project,
    running_server,
    single_agent_config,
    summarize,
    write_results,
    ws_url,
)
from bench.load import ResourceWatcher

RATE = 16000
GAP_TOLERANCE_S = 0.05  # shorter stalls are hidden by any client's jitter buffer
TURN_TIMEOUT_S = 120.0
FTA_TARGET_S = 1.0
ANSWERS = (  # what the echo LLM says back: two sentences, about five seconds of speech
    "Sure, the weather in Paris is mild today. Expect some clouds and a little sun later.",
    "Of course, the museum opens at nine. Tickets are cheaper if you book them online.",
    "Good question, a bicycle has two wheels. A tricycle has three and is easier to ride.",
    "Right, water freezes at zero degrees. Salt water needs it to be a little colder.",
)


@dataclass
class LevelStats:
    """What the clients of one load level heard."""

    label: str
    first_audio: list[float] = field(default_factory=list)
    gaps: list[float] = field(default_factory=list)
    turns: int = 0
    refused: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    active: int = 0
    connected: int = 0
    active_samples: list[int] = field(default_factory=list)


class Playback:
    """A listener's speaker: plays frames back to back in real time, noting every stall."""

    def __init__(self) -> None:
        self.first_at: float | None = None
        self.end = 0.0  # monotonic time the audio received so far has played out
        self.gaps: list[float] = []

    def add(self, at: float, seconds: float) -> None:
        if self.first_at is None:
            self.first_at, self.end = at, at
        elif at - self.end > GAP_TOLERANCE_S:
            self.gaps.append(at - self.end)
        self.end = max(self.end, at) + seconds


async def speaking_session(
    url: str,
    stats: LevelStats,
    rng: random.Random,
    questions: int,
    think_s: float,
    start: asyncio.Event | None = None,
) -> None:
    """One user: connect, ask, listen to the whole answer, think, ask again; then leave."""
    stats.active += 1
    try:
        async with TimedPeer.open(url, 60, None) as peer:
            stats.connected += 1
            if start is not None:
                await start.wait()
            for turn in range(questions):
                if turn and think_s:
                    await asyncio.sleep(rng.expovariate(1 / think_s))
                if not await _one_turn(peer, stats, rng.choice(ANSWERS)):
                    return
    except RuntimeError as exc:  # refused at the door: error frame instead of session.created
        stats.refused.append(str(exc)[:160])
    except Exception as exc:
        stats.failures.append(f"{type(exc).__name__}: {exc}"[:160])
    finally:
        stats.active -= 1


async def _one_turn(peer: TimedPeer, stats: LevelStats, question: str) -> bool:
    sent = await peer.send({"type": "input_text", "text": question})
    playback = Playback()
    while True:
        at, frame = await peer.recv(TURN_TIMEOUT_S)
        kind = frame.get("type")
        if kind == "error":
            stats.refused.append(str(frame.get("error_detail", frame))[:160])
            return True  # a refused turn: the session stays, the user asks again later
        if kind == "response.audio.delta":
            playback.add(at, _pcm_bytes(frame["audio"]) / 2 / RATE)
        if kind == "response.done":
            break
    stats.turns += 1
    if playback.first_at is None:
        stats.failures.append("an answer came without audio")
        return False
    stats.first_audio.append(playback.first_at - sent)
    stats.gaps.extend(playback.gaps)
    await asyncio.sleep(max(0.0, playback.end - time.monotonic()))  # listen to the end
    return True


def _pcm_bytes(audio_b64: str) -> int:
    """Decoded length of base64 audio, without decoding it: the client shares the box with
    the server, so its own work is kept to what a listener must do."""
    return len(audio_b64) * 3 // 4 - audio_b64[-2:].count("=")


async def watch_active(stats: LevelStats) -> None:
    while True:
        stats.active_samples.append(stats.active)
        await asyncio.sleep(0.25)


async def poisson_level(
    url_for: Any, level: int, args: argparse.Namespace, lifetime_s: float, pid: int | None
) -> dict[str, Any]:
    """Sessions arriving at rate level / lifetime for ``--duration`` seconds, all run out."""
    stats = LevelStats(f"poisson, {level} sessions")
    rng = random.Random(level)
    rate = level / lifetime_s
    watcher = ResourceWatcher(pid)
    tasks = [asyncio.create_task(watcher.watch()), asyncio.create_task(watch_active(stats))]
    sessions: list[asyncio.Task[None]] = []
    started = time.monotonic()
    while time.monotonic() - started < args.duration:
        await asyncio.sleep(rng.expovariate(rate))
        sessions.append(
            asyncio.create_task(
                speaking_session(
                    url_for(), stats, random.Random(rng.random()), args.questions, args.think
                )
            )
        )
    arrivals_s = time.monotonic() - started
    if sessions:
        await asyncio.wait(sessions, timeout=TURN_TIMEOUT_S * args.questions)
    return _result(
        stats, len(sessions), time.monotonic() - started, watcher, tasks, sessions, arrivals_s
    )


async def burst_level(url_for: Any, n: int, pid: int | None) -> dict[str, Any]:
    """N sessions connect, then all ask at once and listen."""
    stats = LevelStats(f"burst, {n} at once")
    start = asyncio.Event()
    sessions = [
        asyncio.create_task(speaking_session(url_for(), stats, random.Random(i), 1, 0.0, start))
        for i in range(n)
    ]
    deadline = time.monotonic() + 60
    while stats.connected + len(stats.refused) + len(stats.failures) < n:
        if time.monotonic() > deadline:
            break
        await asyncio.sleep(0.05)
    watcher = ResourceWatcher(pid)
    tasks = [asyncio.create_task(watcher.watch()), asyncio.create_task(watch_active(stats))]
    started = time.monotonic()
    start.set()
    await asyncio.wait(sessions, timeout=TURN_TIMEOUT_S)
    return _result(stats, n, time.monotonic() - started, watcher, tasks, sessions, 0.0)


def _result(
    stats: LevelStats,
    sessions: int,
    wall: float,
    watcher: ResourceWatcher,
    tasks: list[asyncio.Task[None]],
    session_tasks: list[asyncio.Task[None]],
    arrivals_s: float,
) -> dict[str, Any]:
    for task in tasks + session_tasks:
        task.cancel()
    samples = stats.active_samples or [0]
    fta = summarize(stats.first_audio)
    return {
        "label": stats.label,
        "sessions": sessions,
        "turns": stats.turns,
        "first_audio": fta,
        "gaps": len(stats.gaps),
        "gap_s": sum(stats.gaps),
        "refused": len(stats.refused),
        "refused_samples": stats.refused[:3],
        "failures": len(stats.failures),
        "failure_samples": stats.failures[:3],
        "connected_mean": sum(samples) / len(samples),
        "connected_peak": max(samples),
        "arrivals_s": arrivals_s,
        "wall_s": wall,
        **watcher.result(wall),
    }


def passes(row: dict[str, Any]) -> bool:
    fta = row["first_audio"]["p99"]
    return (
        row["turns"] > 0
        and fta <= FTA_TARGET_S
        and row["gaps"] == 0
        and row["refused"] == 0
        and row["failures"] == 0
    )


def load_voice() -> Any:
    os.environ["DISTILLER_TTS_WORKERS"] = "2"  # one onnxruntime thread per run
    from server.speech.tts import load_tts

    tts = load_tts()
    tts.synthesize(ANSWERS[0], RATE)  # warm up
    return tts


def piper_rtf(tts: Any) -> dict[str, float]:
    """Piper on the answers, one thread: CPU seconds per second of audio (other processes
    on the box cannot inflate CPU time)."""
    cpu = audio = 0.0
    for _ in range(2):
        for text in ANSWERS:
            before = time.process_time()  # the only work in this process meanwhile
            pcm = tts.synthesize(text, RATE)
            cpu += time.process_time() - before
            audio += len(pcm) / 2 / RATE
    return {"rtf": cpu / audio, "answer_audio_s": audio / (2 * len(ANSWERS))}


def piper_throughput(tts: Any, workers: int, seconds: float = 3.0) -> float:
    """Seconds of audio per second the box synthesises right now, ``workers`` runs side by
    side: what the cores give while other processes share them."""

    def work(_: int) -> float:
        audio, started, i = 0.0, time.monotonic(), 0
        while time.monotonic() - started < seconds:
            audio += len(tts.synthesize(ANSWERS[i % len(ANSWERS)], RATE)) / 2 / RATE
            i += 1
        return audio

    started = time.monotonic()
    with ThreadPoolExecutor(workers) as pool:
        audio = sum(pool.map(work, range(workers)))
    return audio / (time.monotonic() - started)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--levels", default="10,20,40,60,80", help="mean sessions connected")
    parser.add_argument("--burst", default="10,25,50", help="sessions asking at once")
    parser.add_argument("--questions", type=int, default=2, help="questions per session")
    parser.add_argument("--think", type=float, default=5.0, help="mean think time, seconds")
    parser.add_argument("--duration", type=float, default=40.0, help="arrivals per level, s")
    parser.add_argument("--provider", default="echo", choices=["echo", "embedded"])
    parser.add_argument(
        "--tts-workers",
        type=int,
        default=0,
        help="server Piper workers (0: the server's default, one per core)",
    )
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra server flag (repeatable), e.g. --server-arg=--max-speech-sessions=500",
    )
    args = parser.parse_args(argv)
    levels = [int(n) for n in args.levels.split(",") if n]
    bursts = [int(n) for n in args.burst.split(",") if n]
    cores = os.cpu_count() or 1

    voice = load_voice()
    floor = piper_rtf(voice)
    answer_s = floor["answer_audio_s"]
    share = answer_s / (answer_s + args.think)
    ideal_sessions = cores / (floor["rtf"] * share)
    floor["audio_per_s_start"] = piper_throughput(voice, cores)
    lifetime_s = args.questions * (answer_s + 0.5) + (args.questions - 1) * args.think
    print(
        f"floor: Piper rtf {floor['rtf']:.4f} CPU-s per audio-s; answers {answer_s:.2f} s; "
        f"a session listens {share:.0%} of its time; {cores} idle cores voice "
        f"{ideal_sessions:.0f} sessions; the box gives {floor['audio_per_s_start']:.1f} "
        "audio-s per s now",
        flush=True,
    )

    if args.tts_workers:
        os.environ["DISTILLER_TTS_WORKERS"] = str(args.tts_workers)
    else:
        os.environ.pop("DISTILLER_TTS_WORKERS", None)
    wait_for = ("tts", "llm") if args.provider == "embedded" else ("tts",)
    rows: list[dict[str, Any]] = []
    with running_server(
        provider=args.provider, wait_for=wait_for, extra_args=args.server_arg
    ) as server:
        pid = server.process.pid if server.process else None
        config = single_agent_config(provider=args.provider, tts=True, max_tokens=60)
        create_project(server, "bench-capacity", config)

        def url_for() -> str:
            return ws_url(server, "bench-capacity")

        phases = [poisson_level(url_for, level, args, lifetime_s, pid) for level in levels]
        phases += [burst_level(url_for, n, pid) for n in bursts]
        for phase in phases:
            rows.append(_measured(phase, f"{server.base_url}/healthz"))
            _print_row(rows[-1])

    print(
        f"\ncapacity: {args.provider} LLM + Piper, {args.questions} questions per session, "
        f"think {args.think:g} s, gaps over {GAP_TOLERANCE_S * 1000:.0f} ms counted"
    )
    print(
        f"{'load':<26}{'turns':>6}{'fta p50':>9}{'fta p99':>9}{'gaps':>6}{'gap s':>7}"
        f"{'refused':>8}{'fail':>5}{'conn':>6}{'peak':>5}{'cpu':>6}{'rss MB':>8}"
        f"{'client':>7}{'late':>6}  ok"
    )
    for r in rows:
        fta = r["first_audio"]
        print(
            f"{r['label']:<26}{r['turns']:>6}{_opt(fta['p50']):>9}{_opt(fta['p99']):>9}"
            f"{r['gaps']:>6}{r['gap_s']:>7.2f}{r['refused']:>8}{r['failures']:>5}"
            f"{r['connected_mean']:>6.1f}{r['connected_peak']:>5}"
            f"{r.get('server_cpu', 0):>6.2f}{r.get('server_peak_rss_mb', 0):>8.0f}"
            f"{r['client_cpu']:>7.2f}{r['synthesis_late']:>6}  {'yes' if passes(r) else 'no'}"
        )
    floor["audio_per_s_end"] = piper_throughput(voice, cores)
    given = (floor["audio_per_s_start"] + floor["audio_per_s_end"]) / 2
    floor_sessions = given / share
    print(
        f"floor, idle cores: {cores} / (Piper rtf {floor['rtf']:.4f} x {share:.2f} listening)"
        f" = {ideal_sessions:.0f} sessions"
    )
    print(
        f"floor, this run: Piper on {cores} threads gave {floor['audio_per_s_start']:.1f} "
        f"(start) and {floor['audio_per_s_end']:.1f} (end) audio-s per s; / {share:.2f} "
        f"listening = {floor_sessions:.0f} sessions (the box is shared)"
    )
    write_results(
        "capacity",
        {
            "args": vars(args),
            "floor": floor,
            "floor_sessions": floor_sessions,
            "ideal_sessions": ideal_sessions,
            "rows": rows,
        },
    )
    sustained = [r for r in rows if r["label"].startswith("poisson") and passes(r)]
    best = max(sustained, key=_level_of, default=None)
    if best is None:
        print(f"capacity sessions=0 fta_p99=nan gaps=0 floor_sessions={floor_sessions:.0f}")
        return
    print(
        f"capacity sessions={_level_of(best)} fta_p99={best['first_audio']['p99']:.3f} "
        f"gaps={best['gaps']} floor_sessions={floor_sessions:.0f}"
    )


def _measured(phase: Any, health_url: str) -> dict[str, Any]:
    """Run one level; add this process's CPU (the clients share the box) and how many
    syntheses the server finished after their listener needed them."""

    def synthesis() -> dict[str, Any]:
        return dict(httpx.get(health_url, timeout=10).json()["capacity"])

    before, cpu, wall = synthesis(), time.process_time(), time.monotonic()
    row: dict[str, Any] = asyncio.run(phase)
    after = synthesis()
    row["client_cpu"] = (time.process_time() - cpu) / (time.monotonic() - wall)
    for key in ("synthesis_done", "synthesis_late", "synthesis_late_s"):
        row[key] = after.get(key, 0) - before.get(key, 0)
    return row


def _level_of(row: dict[str, Any]) -> int:
    return int(row["label"].split(",")[1].split()[0])


def _opt(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}"


def _print_row(r: dict[str, Any]) -> None:
    fta = r["first_audio"]
    print(
        f"{r['label']}: {r['sessions']} sessions, {r['turns']} turns, fta p50 "
        f"{_opt(fta['p50'])} p99 {_opt(fta['p99'])}, gaps {r['gaps']} ({r['gap_s']:.2f} s), "
        f"late syntheses {r['synthesis_late']}/{r['synthesis_done']}, "
        f"refused {r['refused']} {r['refused_samples'][:1]}, failures {r['failures']} "
        f"{r['failure_samples'][:1]}, connected mean {r['connected_mean']:.1f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
