"""Scale: PostgreSQL vs SQLite store, presence strategies, the load bench through HAProxy
to two replicas, and failover time when a replica is SIGKILLed mid-conversation.

1. Store: create latency (sequential creates of one project) and history write
   throughput (batches of turns, as the history writer sends them), SQLite
   (the single-process default, the "before") vs PostgreSQL, same API, same run.
2. Presence: claim+release of a user by advisory lock (what the server does) vs a
   lease row (upsert), and one heartbeat of a lease design for 500 users.
3. Load: ``--sessions`` echo sessions (default 200 and 500) through HAProxy to
   ``--replicas`` replicas sharing PostgreSQL, beside the bare websockets floor.
4. Failover: ``--failovers`` times, a conversation's replica is SIGKILLed
   mid-answer; the time until the same uuid, reconnected through HAProxy, has its
   answer flowing again on another replica; turns lost are counted from history.

Everything runs on loopback; every wait is bounded. ``python -m bench.scale``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import websockets

from bench.common import (
    TimedPeer,
    create_project,
    headers,
    print_table,
    raise_fd_limit,
    running_server,
    single_agent_config,
    summarize,
    write_results,
    ws_url,
)
from bench.load import Phase, floor_phase
from deploy.cluster import LocalCluster
from deploy.postgres import TempPostgres
from server.presence import lock_id
from server.store import HistoryEntry, SqliteStore, Store
from server.store.postgres import PostgresStore

CONFIG = {"orchestrator": {"agent_list": [{"agent_name": "A"}]}, "utility_agents": []}
TURN = [
    HistoryEntry("user", "", "what is the weather", False),
    HistoryEntry("assistant", "A", "sunny with a light breeze", False),
]


def ms(seconds: list[float]) -> list[float]:
    return [s * 1000 for s in seconds]


@dataclass(frozen=True)
class Address:
    """The load balancer, in the shape bench.common's helpers take."""

    base_url: str


# -- 1. the stores ---------------------------------------------------------------------


async def store_numbers(store: Store, creates: int, batches: int, batch: int) -> dict[str, Any]:
    await store.open()
    try:
        latencies = []
        for _ in range(creates):
            started = time.perf_counter()
            await store.create_version("bench", "proj", CONFIG)
            latencies.append(time.perf_counter() - started)
        rows = [("bench", "proj", f"user{i}", TURN) for i in range(batch)]
        started = time.perf_counter()
        for _ in range(batches):
            await store.append_history_batch(rows)
        wall = time.perf_counter() - started
        return {"create": latencies, "turns_per_s": batches * batch / wall}
    finally:
        await store.close()


# -- 2. presence strategies ----------------------------------------------------------


async def presence_numbers(url: str, users: int) -> dict[str, Any]:
    import asyncpg

    conn = await asyncpg.connect(url)
    try:
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS bench_lease (key BIGINT PRIMARY KEY, replica TEXT, "
            "expires TIMESTAMPTZ)"
        )
        advisory, lease = [], []
        for i in range(users):
            key = lock_id(("bench", "proj", f"user{i}"))
            started = time.perf_counter()
            await conn.fetchval("SELECT pg_try_advisory_lock($1)", key)
            await conn.fetchval("SELECT pg_advisory_unlock($1)", key)
            advisory.append(time.perf_counter() - started)
            started = time.perf_counter()
            await conn.fetchval(
                "INSERT INTO bench_lease VALUES ($1, 'r1', now() + interval '3 s') "
                "ON CONFLICT (key) DO UPDATE SET replica = 'r1', expires = EXCLUDED.expires "
                "WHERE bench_lease.expires < now() OR bench_lease.replica = 'r1' "
                "RETURNING replica",
                key,
            )
            await conn.execute("DELETE FROM bench_lease WHERE key = $1", key)
            lease.append(time.perf_counter() - started)
        await conn.executemany(
            "INSERT INTO bench_lease VALUES ($1, 'r1', now())",
            [(lock_id(("bench", "proj", f"held{i}")),) for i in range(users)],
        )
        beats = []
        for _ in range(20):
            started = time.perf_counter()
            await conn.execute(
                "UPDATE bench_lease SET expires = now() + interval '3 s' WHERE replica = 'r1'"
            )
            beats.append(time.perf_counter() - started)
        return {"advisory": advisory, "lease": lease, "heartbeat": beats}
    finally:
        await conn.close()


# -- 4. failover -------------------------------------------------------------------------

REASKED = "a long answer that will be cut off by a crash"


@contextlib.asynccontextmanager
async def opened(url: str, timeout: float = 10.0):  # type: ignore[no-untyped-def]
    """A timed peer and the ``session.created`` it got (history_turns counts turns)."""
    async with websockets.connect(
        url, additional_headers=headers(), open_timeout=timeout, ping_interval=None
    ) as ws:
        peer = TimedPeer(ws)
        _, created = await peer.recv(timeout)
        if created.get("type") != "session.created":
            raise RuntimeError(f"refused: {created}")
        yield peer, created["session"]["history_turns"]


async def one_failover(cluster: LocalCluster, uuid: str) -> tuple[float, int]:
    """Seconds from SIGKILL to the re-asked answer's first delta; turns lost from history."""
    url = ws_url(Address(cluster.base_url), "bench-slow", uuid)  # type: ignore[arg-type]
    async with opened(url) as (peer, before):
        await peer.send({"type": "input_text", "text": "first question"})
        await peer.until("response.done", 30)
        serving = await asyncio.to_thread(_serving, cluster)
        await peer.send({"type": "input_text", "text": REASKED})
        await peer.until("response.text.delta", 30)
        killed_at = time.monotonic()
        await asyncio.to_thread(cluster.kill, serving)
    deadline = killed_at + 30
    while True:  # reconnect as a client would: same uuid, through the load balancer
        try:
            async with opened(url, 5) as (again, after):
                await again.send({"type": "input_text", "text": REASKED})
                await again.until("response.text.delta", 30)
                usable = time.monotonic() - killed_at
                await again.until("response.done", 60)
            break
        except (OSError, RuntimeError, websockets.WebSocketException, TimeoutError):
            if time.monotonic() > deadline:
                raise
            await asyncio.sleep(0.05)
    await asyncio.to_thread(cluster.restart, serving)
    return usable, (before + 2) - after  # the finished exchange must be there, once


def _serving(cluster: LocalCluster) -> int:
    for i, replica in enumerate(cluster.replicas):
        if httpx.get(f"{replica.base_url}/healthz", timeout=5).json()["sessions"]:
            return i
    raise RuntimeError("no replica holds the session")


# -- the run -------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--sessions", default="200,500", help="load levels through HAProxy")
    parser.add_argument("--turns", type=int, default=3, help="turns per session")
    parser.add_argument("--connect-burst", type=int, default=50)
    parser.add_argument("--creates", type=int, default=300)
    parser.add_argument("--batches", type=int, default=40, help="history batches of 50 turns")
    parser.add_argument("--failovers", type=int, default=10)
    args = parser.parse_args(argv)
    raise_fd_limit()
    results: dict[str, Any] = {"replicas": args.replicas}

    with TempPostgres() as pg:
        sqlite = asyncio.run(
            store_numbers(
                SqliteStore(Path(tempfile.mkdtemp(prefix="rd-scale-"))),
                args.creates,
                args.batches,
                50,
            )
        )
        postgres = asyncio.run(
            store_numbers(
                PostgresStore(pg.create_database("scale")), args.creates, args.batches, 50
            )
        )
        presence = asyncio.run(presence_numbers(pg.url("scale"), 500))
    print_table(
        "store: one create (sequential)",
        {
            "SQLite (the single-process default)": ms(sqlite["create"]),
            "PostgreSQL (asyncpg, loopback)": ms(postgres["create"]),
        },
        unit="ms",
    )
    print(
        f"history writes, batches of 50 turns: SQLite {sqlite['turns_per_s']:.0f} turns/s, "
        f"PostgreSQL {postgres['turns_per_s']:.0f} turns/s"
    )
    print_table(
        "presence: one user claimed and released (500 users)",
        {
            "advisory lock + unlock (used)": ms(presence["advisory"]),
            "lease upsert + delete (not used)": ms(presence["lease"]),
            "lease heartbeat, 500 rows (per beat)": ms(presence["heartbeat"]),
        },
        unit="ms",
    )
    results["store"] = {
        "sqlite": {"create": summarize(sqlite["create"]), "turns_per_s": sqlite["turns_per_s"]},
        "postgres": {
            "create": summarize(postgres["create"]),
            "turns_per_s": postgres["turns_per_s"],
        },
    }
    results["presence"] = {k: summarize(v) for k, v in presence.items()}

    levels = [int(x) for x in args.sessions.split(",") if x]
    phases: list[dict[str, Any]] = []
    with running_server(provider="echo", speech=False, wait_for=()) as single:
        # Before: one process, SQLite, no load balancer, at the same levels.
        create_project(single, "bench-load", single_agent_config(provider="echo", tts=False))
        for n in levels:
            urls = [ws_url(single, "bench-load") for _ in range(n)]
            label = f"before: 1 process, SQLite, n={n}"
            phases.append(
                asyncio.run(Phase(label, urls, args.turns, args.connect_burst, "deflate").run(None))
            )
    failovers: list[float] = []
    lost = 0
    with LocalCluster(args.replicas, replica_args=["--no-speech"]) as cluster:
        front = Address(cluster.base_url)
        create_project(
            front,
            "bench-load",  # type: ignore[arg-type]
            single_agent_config(provider="echo", tts=False),
        )
        create_project(
            front,
            "bench-slow",  # type: ignore[arg-type]
            single_agent_config(provider="echo", tts=False, word_delay_ms=100),
        )
        for n in levels:
            urls = [ws_url(front, "bench-load") for _ in range(n)]  # type: ignore[arg-type]
            label = f"HAProxy -> {args.replicas} replicas, n={n}"
            phases.append(
                asyncio.run(Phase(label, urls, args.turns, args.connect_burst, "deflate").run(None))
            )
            phases.append(floor_phase(n, args.turns, args.connect_burst, "deflate"))
        for i in range(args.failovers):
            usable, missing = asyncio.run(one_failover(cluster, f"failover{i}"))
            failovers.append(usable)
            lost += missing
    print(f"\nload through HAProxy: {args.turns} turns per session (first text delta, s)")
    print(f"{'phase':<40}{'ok':>6}{'err':>5}{'p50':>9}{'p99':>9}{'max':>8}{'fps':>8}")
    for p in phases:
        ft = p["first_text"]
        print(
            f"{p['label']:<40}{p['done']['n']:>6}{p['errors']:>5}{ft['p50']:>9.3f}"
            f"{ft['p99']:>9.3f}{ft['max']:>8.3f}{p['frames_per_s']:>8.0f}"
        )
    cluster_phases = [p for p in phases if p["label"].startswith("HAProxy")]
    for p in cluster_phases:
        floor = next(
            f
            for f in phases
            if f["label"].endswith(f"n={p['sessions']}") and f["label"].startswith("floor")
        )
        print(
            f"ratio n={p['sessions']}: p99 {p['first_text']['p99']:.3f} / floor "
            f"{floor['first_text']['p99']:.3f} = "
            f"{p['first_text']['p99'] / floor['first_text']['p99']:.1f}"
        )
    print_table(
        "failover: replica SIGKILLed mid-answer -> answer flowing on another",
        {
            "kill -> reconnected, re-asked, first delta": failovers,
        },
    )
    results.update(phases=phases, failover=summarize(failovers), lost=lost)
    write_results("scale", results)
    worst = max(cluster_phases, key=lambda p: p["sessions"])
    errors = sum(p["errors"] for p in cluster_phases)
    print(
        f"scale replicas={args.replicas} sessions={worst['sessions']} "
        f"p99={worst['first_text']['p99']:.3f} failover_p50={summarize(failovers)['p50']:.3f} "
        f"lost={lost} errors={errors}"
    )


if __name__ == "__main__":
    main()
