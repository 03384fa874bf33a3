"""Faults: clients vanishing, the server killed, agents and LLMs that never answer,
clients that never read, and a data dir that is full or read-only."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import websockets

from app.engine import EngineProcess, free_port
from tests.conftest import wait_until, wait_until_sync
from tests.wire import (
    Peer,
    connect,
    create,
    flow_config,
    headers,
    keep_creating,
    session,
    text_of,
)


def _health(server: EngineProcess) -> dict:
    return httpx.get(f"{server.base_url}/healthz", timeout=10).json()


def _rss_mb(server: EngineProcess) -> float:
    assert server.process is not None
    for line in Path(f"/proc/{server.process.pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


def _settled(server: EngineProcess, baseline_tasks: int, timeout: float = 20.0) -> dict:
    """Health once the server has closed every session and ended their tasks."""
    readings: list[dict] = []

    def clean() -> bool:
        readings.append(_health(server))
        return readings[-1]["sessions"] == 0 and readings[-1]["tasks"] <= baseline_tasks

    wait_until_sync(
        clean,
        timeout,
        lambda: f"no sessions and at most {baseline_tasks} tasks; last health: {readings[-1]}",
        interval=0.2,
    )
    return readings[-1]


# -- clients that leave mid-response ---------------------------------------------------------


async def test_a_thousand_mid_response_disconnects_leave_nothing_behind(tmp_path: Path) -> None:
    with EngineProcess(tmp_path, provider="echo", extra_args=["--no-speech"]) as server:
        slow = flow_config("Researcher", "Writer", word_delay_ms=20)
        assert create(server, "leaky", slow).status_code == 201
        baseline = _health(server)

        async def cycles(worker: int, count: int) -> int:
            left_mid_response = 0
            for i in range(count):
                async with connect(server, "leaky", f"w{worker}-{i % 3}") as ws:
                    peer = Peer(ws)
                    await peer.recv()  # session.created
                    await peer.send({"type": "input_text", "text": "one two three four five six"})
                    frame = await peer.until("response.text.delta")
                    left_mid_response += frame[-1]["type"] == "response.text.delta"
                # leaving the block closes the socket while the agents are still talking
            return left_mid_response

        warmup = await cycles(99, 50)
        rss_after_warmup = _rss_mb(server)
        # The worker-thread pool has grown to its working size (a fixed bound, not a leak).
        threads_after_warmup = _settled(server, baseline["tasks"])["threads"]
        counts = await asyncio.gather(*(cycles(w, 95) for w in range(10)))
        assert warmup + sum(counts) == 1000

        health = _settled(server, baseline["tasks"])
        assert health["sessions"] == 0
        assert health["tasks"] <= baseline["tasks"], health
        # Threads come only from asyncio's default worker pool, which has a fixed bound.
        pool_bound = min(32, (os.cpu_count() or 1) + 4)
        assert health["threads"] <= max(threads_after_warmup, pool_bound + 1) + 1, health
        # Generous: a leak of even 20 kB per session would show as 20 MB here.
        assert _rss_mb(server) - rss_after_warmup < 20, "memory grew with every session"
        # And the server still answers.
        async with session(server, "leaky", "after") as peer:
            await peer.send({"type": "input_text", "text": "still fine"})
            assert text_of(await peer.until("response.done"), "Writer") == "still fine"


# -- the server killed during creates ---------------------------------------------------------


def test_sigkill_during_creates_loses_no_acknowledged_version(
    tmp_path: Path, store_args: list[str]
) -> None:
    data = tmp_path / "data"
    args = ["--no-speech", *store_args]
    server = EngineProcess(data, provider="echo", extra_args=args)
    server.start()
    acknowledged: list[int] = []
    stop = threading.Event()

    with ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(keep_creating, server.base_url, "durable", stop, acknowledged)
        try:
            wait_until_sync(
                lambda: len(acknowledged) >= 40,
                20,
                lambda: f"40 acknowledged creates (got {len(acknowledged)})",
                interval=0.05,
            )
        finally:
            server.stop(kill=True)  # SIGKILL, in the middle of the creates
            stop.set()

    restarted = EngineProcess(data, provider="echo", extra_args=args)
    with restarted:
        listing = httpx.get(
            f"{restarted.base_url}/distiller/projects/durable", headers=headers()
        ).json()
        stored = [v["version"] for v in listing["versions"]]
        assert stored == list(range(len(stored))), "versions are unique and without gaps"
        assert set(acknowledged) <= set(stored), "every acknowledged version survived"
        assert len(acknowledged) == len(set(acknowledged))
        after = create(restarted, "durable", flow_config("A")).json()["project_version"]
        assert after == stored[-1] + 1


# -- agents and LLM endpoints that never answer -----------------------------------------------


@pytest.fixture(scope="module")
def impatient_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    server = EngineProcess(
        tmp_path_factory.mktemp("impatient"),
        provider="echo",
        extra_args=["--no-speech", "--executor-timeout", "1"],
    )
    server.start()
    yield server
    server.stop()


async def test_a_custom_agent_that_never_answers_becomes_an_agent_error(
    impatient_server: EngineProcess,
) -> None:
    config = flow_config("Silent", "Writer", custom=("Silent",))
    assert create(impatient_server, "silent", config).status_code == 201
    async with session(impatient_server, "silent", "waiting") as peer:
        await peer.send({"type": "input_text", "text": "anyone there"})
        frames = await peer.until("response.done", timeout=30)
        request = next(f for f in frames if f.get("status") == "wait")
        assert "did not answer within 1 s" in text_of(frames, "Silent")
        assert text_of(frames, "Writer") == "anyone there"  # the flow went on without it
        assert "Silent" in frames[-1]["metadata"]["errors"]
        # A result that arrives after the timeout is dropped quietly, and the session lives on.
        await peer.send(
            {
                "request_type": "executor",
                "request_id": request["request_id"],
                "request_args": {"content": "too late"},
            }
        )
        await peer.send({"type": "input_text", "text": "next one"})
        frames = await peer.until("response.done", timeout=30)
        assert "error" not in [f.get("type") for f in frames]


class _HangingEndpoint:
    """A TCP port that accepts connections and never answers a byte."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.accepted: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


def _openai_config(base_url: str) -> dict:
    config = flow_config("Oracle")
    config["base_config"]["llm_config"] = {
        "provider": "openai",
        "model": "m",
        "base_url": base_url,
        "timeout_s": 1,
    }
    return config


@pytest.mark.parametrize("endpoint", ["down", "hangs"])
async def test_an_llm_endpoint_that_is_down_or_hangs_gives_a_clear_agent_error(
    impatient_server: EngineProcess, endpoint: str
) -> None:
    hanging = _HangingEndpoint() if endpoint == "hangs" else None
    port = hanging.port if hanging else free_port()  # nothing listens on a fresh free port
    try:
        project = f"llm-{endpoint}"
        assert (
            create(
                impatient_server, project, _openai_config(f"http://127.0.0.1:{port}/v1")
            ).status_code
            == 201
        )
        async with session(impatient_server, project, "asker") as peer:
            await peer.send({"type": "input_text", "text": "hello"})
            frames = await peer.until("response.done", timeout=30)
    finally:
        if hanging:
            hanging.close()
    said = text_of(frames, "Oracle")
    expected = "did not answer within 1 s" if endpoint == "hangs" else "is unreachable"
    assert said.startswith("Oracle could not answer: LLM endpoint") and expected in said
    assert expected in frames[-1]["metadata"]["errors"]["Oracle"]


# -- a client that never reads ----------------------------------------------------------------


async def test_a_client_that_never_reads_is_closed_with_a_reason_and_memory_is_bounded(
    tmp_path: Path,
) -> None:
    with EngineProcess(tmp_path, provider="echo", extra_args=["--no-speech"]) as server:
        assert create(server, "firehose", flow_config("A")).status_code == 201
        rss_before = _rss_mb(server)
        url = server.base_url.replace("http", "ws", 1) + "/distiller/realtime/local/firehose/sloth"
        # max_queue=1: the client stops reading from its socket after one frame.
        async with websockets.connect(
            url, additional_headers=headers(), max_size=2**27, max_queue=1, ping_interval=None
        ) as ws:
            word = "x" * (6 * 1024 * 1024)  # echoed back as one 6 MiB delta per query

            async def flood() -> None:
                for _ in range(12):  # 72 MiB of answers, against a 32 MiB bound
                    await ws.send(json.dumps({"type": "input_text", "text": word}))

            # In the background: once the server gives up it stops reading us too,
            # and a send would then wait for ever.
            sender = asyncio.create_task(flood())
            try:
                # Wait for the server to give up on us, then read what it sent.
                await wait_until(
                    lambda: not _health(server)["sessions"],
                    30,
                    "the server to close the session",
                    interval=0.2,
                )
                peak_growth = _rss_mb(server) - rss_before
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    while True:
                        await asyncio.wait_for(ws.recv(), 30)
            finally:
                sender.cancel()
        assert _health(server)["sessions"] == 0
        assert closed.value.rcvd is not None, "the server said why it closed"
        assert closed.value.rcvd.code == 1008
        assert "not reading" in closed.value.rcvd.reason
        # Bounded by the 32 MiB queue (plus JSON copies in flight), not by 72 MiB of answers.
        assert peak_growth < 200, f"server grew by {peak_growth:.0f} MB"


# -- a full or read-only data dir --------------------------------------------------------------


class _SmallDiskServer(EngineProcess):
    """The server with a file size limit: writes past it fail as on a full disk."""

    def __init__(self, data_dir: Path, limit_bytes: int) -> None:
        super().__init__(
            data_dir,
            provider="echo",
            extra_args=["--no-speech"],
            log_path=data_dir.parent / "small-disk.log",
        )
        self.limit_bytes = limit_bytes

    def command(self) -> list[str]:
        return ["prlimit", f"--fsize={self.limit_bytes}", "--", *super().command()]


@pytest.mark.skipif(shutil.which("prlimit") is None, reason="needs util-linux prlimit")
def test_a_full_disk_at_create_is_a_clear_5xx_and_the_store_stays_intact(tmp_path: Path) -> None:
    with _SmallDiskServer(tmp_path / "data", limit_bytes=400_000) as server:
        for _ in range(3):
            assert create(server, "small", flow_config("A")).status_code == 201
        big = flow_config("A")
        big["utility_agents"][0]["agent_description"] = "y" * 600_000
        refused = create(server, "big", big)
        assert refused.status_code == 507, refused.text
        message = refused.json()["error"]["message"]
        assert message.startswith("project 'big' was not created") and "full" in message
        # Nothing half-written: the small project is whole, and numbering goes on.
        versions = httpx.get(
            f"{server.base_url}/distiller/projects/small", headers=headers()
        ).json()
        assert [v["version"] for v in versions["versions"]] == [0, 1, 2]
        listed = httpx.get(f"{server.base_url}/distiller/projects", headers=headers()).json()
        assert [p["name"] for p in listed["projects"]] == ["small"]
        assert create(server, "small", flow_config("A")).json()["project_version"] == 3


@pytest.mark.skipif(shutil.which("chattr") is None, reason="needs chattr")
def test_a_read_only_data_dir_serves_projects_and_refuses_creates_clearly(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with EngineProcess(
        data, provider="echo", extra_args=["--no-speech"], log_path=tmp_path / "ro.log"
    ) as server:
        assert create(server, "kept", flow_config("A")).status_code == 201
    # Immutable even for root: as good as a read-only mount.
    subprocess.run(["chattr", "+i", str(data)], check=True)
    try:
        with EngineProcess(
            data, provider="echo", extra_args=["--no-speech"], log_path=tmp_path / "ro2.log"
        ) as server:
            refused = create(server, "kept", flow_config("A"))
            assert refused.status_code == 507
            assert "read-only" in refused.json()["error"]["message"]
            download = httpx.post(
                f"{server.base_url}/distiller/download", headers=headers(), json={"project": "kept"}
            )
            assert download.status_code == 200
            assert json.loads(json.loads(download.json()["config"])) == flow_config("A")
    finally:
        subprocess.run(["chattr", "-i", str(data)], check=True)
