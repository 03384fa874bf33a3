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
(CPU seconds per second of audio, on the very answers asked), so one
connected session asks for ``rtf x share`` cores and idle cores voice
``cores / that`` sessions. ``share`` is the part of its connected time a
session listens, from the same session model the arrivals use: ``questions``
answers of A seconds in a lifetime of ``questions x (A + 0.5) + (questions -
1) x think`` (0.63 with two questions; each level also prints the share its
clients really heard). Until round 4 it was ``A / (A + think)`` (0.50), which
ignored that a session leaves after its last answer without a last think: it
overstated the floor by a quarter. The box is shared (other processes take
cores), so the run also measures what Piper on ``cores`` threads actually
synthesises per second at its start and end; ``floor_sessions`` (summary
line) is that over ``share``. ``python -m bench.capacity``
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
    audio_s: float = 0.0  # audio the listeners received
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
    stats.audio_s += playback.end - playback.first_at - sum(playback.gaps)
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
        # the part of its connected time a session listened (the floor assumes the model's)
        "listening_share": stats.audio_s / (sum(samples) / len(samples) * wall) if wall else 0.0,
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


def piper_rtf_by_piece(tts: Any) -> dict[str, float]:
    """Piper's CPU seconds per audio second by piece size (one thread): how fine the work
    of a burst could be cut before each call's fixed cost eats the cores."""
    pieces = {
        "words": [w for text in ANSWERS for w in _word_pairs(text)],
        "clauses": [part for text in ANSWERS for part in text.replace(". ", ".|").split("|")],
        "answers": list(ANSWERS),
    }
    result: dict[str, float] = {}
    for name, texts in pieces.items():
        cpu = audio = 0.0
        for text in texts:
            before = time.thread_time()
            audio += len(tts.synthesize(text, RATE)) / 2 / RATE
            cpu += time.thread_time() - before
        result[name] = cpu / audio
        result[f"{name}_audio_s"] = audio / len(texts)
    return result


def _word_pairs(text: str) -> list[str]:
    words = text.split()
    return [" ".join(words[i : i + 2]) for i in range(0, len(words), 2)]


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
    lifetime_s = args.questions * (answer_s + 0.5) + (args.questions - 1) * args.think
    share = args.questions * answer_s / lifetime_s  # what a connected session listens to
    old_share = answer_s / (answer_s + args.think)  # rounds 1-3: as if every answer had a think
    ideal_sessions = cores / (floor["rtf"] * share)
    floor["audio_per_s_start"] = piper_throughput(voice, cores)
    by_piece = piper_rtf_by_piece(voice)
    floor["rtf_by_piece"] = by_piece
    print(
        "Piper CPU-s per audio-s by piece: "
        + ", ".join(
            f"{name} ({by_piece[f'{name}_audio_s']:.2f} s of audio) {by_piece[name]:.4f}"
            for name in ("words", "clauses", "answers")
        ),
        flush=True,
    )
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
        limit = _measured_limit(f"{server.base_url}/healthz")
        print(
            f"server: {limit['max_speech_sessions']} speaking sessions at most "
            f"({limit['limit_from']})",
            flush=True,
        )

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
    print(
        f"\nwhere the server's time goes (per level): {'synth CPU/audio':>16}"
        f"{'synth wall/audio':>17}{'synth cores':>12}{'other cores':>12}{'per session ms/s':>17}"
        f"{'made audio-s/s':>15}{'listening':>10}"
    )
    for r in rows:
        per_session = 1000 * r["other_cores"] / r["connected_mean"] if r["connected_mean"] else 0
        print(
            f"{r['label']:<42}{r['synth_cpu_per_audio']:>16.4f}{r['synth_wall_per_audio']:>17.4f}"
            f"{r['synth_cores']:>12.2f}{r['other_cores']:>12.2f}{per_session:>17.1f}"
            f"{r['made_audio_per_s']:>15.1f}{r['listening_share']:>10.2f}"
        )
    for n in bursts:  # the burst target against the box, in audio seconds per second
        need = n * answer_s
        print(
            f"burst {n}: {need:.0f} audio-s; with every listener starting at the "
            f"{FTA_TARGET_S:g} s budget and audio made no sooner than it plays (pieces of no "
            f"length) the box must make {need / (FTA_TARGET_S + answer_s):.1f} audio-s per s "
            f"for {FTA_TARGET_S + answer_s:.1f} s; whole first sentences due at once need "
            f"{n * answer_s / 2 / FTA_TARGET_S:.1f} audio-s per s for the first {FTA_TARGET_S:g} s"
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
        f"listening = {floor_sessions:.0f} sessions (the box is shared); rounds 1-3 divided "
        f"by {old_share:.2f} instead: {given / old_share:.0f} sessions"
    )
    write_results(
        "capacity",
        {
            "args": vars(args),
            "floor": floor,
            "floor_sessions": floor_sessions,
            "floor_sessions_rounds_1_3": given / old_share,
            "listening_share": share,
            "ideal_sessions": ideal_sessions,
            "rows": rows,
        },
    )
    sustained = [r for r in rows if r["label"].startswith("poisson") and passes(r)]
    best = max(sustained, key=_level_of, default=None)
    if best is None:
        print(f"capacity sessions=0 fta_p99=nan gaps=0 floor_sessions={floor_sessions:.0f}")
        return
    level = _level_of(best)
    print(f"ratio: {level} / {floor_sessions:.0f} floor sessions = {level / floor_sessions:.0%}")
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
    for key in SYNTHESIS_COUNTERS:
        row[key] = after.get(key, 0) - before.get(key, 0)
    wall = row["wall_s"]
    made = row["synthesis_audio_s"]
    # where the server's time goes: Piper's CPU and wall per audio second on its workers
    # (wall minus CPU: waiting for a core, the GIL or the phonemizer lock), and the rest
    # of the server's CPU (event loop, protocol, pacing) per connected session
    row["synth_cpu_per_audio"] = row["synthesis_cpu_s"] / made if made else math.nan
    row["synth_wall_per_audio"] = row["synthesis_wall_s"] / made if made else math.nan
    row["synth_cores"] = row["synthesis_cpu_s"] / wall if wall else 0.0
    # audio per second the workers make while all of them are busy: the box's real speed
    busy = row["synthesis_wall_s"] / after.get("synthesis_workers", 1)
    row["made_audio_per_s"] = made / busy if busy else math.nan
    row["other_cores"] = max(0.0, row.get("server_cpu", 0.0) - row["synth_cores"])
    return row


SYNTHESIS_COUNTERS = (
    "synthesis_done",
    "synthesis_late",
    "synthesis_late_s",
    "synthesis_audio_s",
    "synthesis_wall_s",
    "synthesis_cpu_s",
)


def _measured_limit(health_url: str, timeout: float = 120.0) -> dict[str, Any]:
    """The server's capacity once it has measured Piper (it does after loading every model;
    until then its session limit rests on an assumed speed), or as it is after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        capacity = dict(httpx.get(health_url, timeout=10).json()["capacity"])
        if "assumed" not in capacity["limit_from"] or time.monotonic() > deadline:
            return capacity
        time.sleep(0.2)


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
