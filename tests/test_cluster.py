"""Several replicas on one PostgreSQL, behind HAProxy: all real, all started here.

Versions stay gapless across replicas (also when one is SIGKILLed mid-create),
"already connected" holds across replicas and is released when a replica dies,
and a conversation whose replica dies mid-answer goes on through the load
balancer on another replica with its history intact.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import httpx
import pytest
import websockets

from app.engine import EngineProcess
from deploy.cluster import LocalCluster
from protocol import AsyncDistillerClient
from protocol.client.errors import ConnectionLostError
from protocol.events import ResponseDone, ResponseTextDelta
from tests.wire import connect, create, flow_config, headers, keep_creating, session, text_of


@dataclass(frozen=True)
class Balancer:
    """The load balancer's address, for the wire helpers (they need only ``base_url``)."""

    base_url: str


@pytest.fixture
def cluster() -> Iterator[LocalCluster]:
    """A fresh cluster per test: tests here kill replicas."""
    with LocalCluster(2, replica_args=["--no-speech", "--drain-timeout", "20"]) as running:
        yield running


def create_via(base_url: str, project: str) -> httpx.Response:
    return httpx.post(
        f"{base_url}/distiller/create",
        headers=headers(),
        json={"project": project, "config": flow_config("A")},
        timeout=10,
    )


def stored_versions(base_url: str, project: str) -> list[int]:
    listing = httpx.get(f"{base_url}/distiller/projects/{project}", headers=headers()).json()
    return [v["version"] for v in listing["versions"]]


def sessions_on(replica: EngineProcess) -> int:
    return httpx.get(f"{replica.base_url}/healthz").json()["sessions"]


def test_concurrent_creates_through_two_replicas_are_gapless(cluster: LocalCluster) -> None:
    targets = itertools.cycle([r.base_url for r in cluster.replicas])
    urls = [next(targets) for _ in range(60)]
    with ThreadPoolExecutor(8) as pool:
        responses = list(pool.map(lambda url: create_via(url, "shared"), urls))
    assert all(r.status_code == 201 for r in responses)
    assert sorted(r.json()["project_version"] for r in responses) == list(range(60))
    assert stored_versions(cluster.replicas[1].base_url, "shared") == list(range(60))


def test_sigkill_of_a_replica_during_creates_loses_no_acknowledged_version(
    cluster: LocalCluster,
) -> None:
    acknowledged: list[int] = []
    stop = threading.Event()

    urls = [r.base_url for r in cluster.replicas] + [cluster.base_url] * 2
    with ThreadPoolExecutor(len(urls)) as pool:
        for url in urls:
            pool.submit(keep_creating, url, "durable", stop, acknowledged)
        deadline = time.monotonic() + 30
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
        cluster.kill(0)  # SIGKILL, in the middle of the creates
        before = len(acknowledged)
        while len(acknowledged) < before + 20 and time.monotonic() < deadline + 30:
            time.sleep(0.05)  # the survivor and the load balancer go on
        stop.set()
    stored = stored_versions(cluster.base_url, "durable")
    assert stored == list(range(len(stored))), "versions are unique and without gaps"
    assert set(acknowledged) <= set(stored), "every acknowledged version survived"
    assert len(acknowledged) == len(set(acknowledged)) >= before + 20


async def test_a_user_is_connected_once_across_replicas_and_freed_when_a_replica_dies(
    cluster: LocalCluster,
) -> None:
    first, second = cluster.replicas
    create(first, "single", flow_config("A"))
    async with session(first, "single", "same-user") as on_first:
        async with connect(second, "single", "same-user") as refused:
            with pytest.raises(websockets.ConnectionClosedError) as closed:
                await asyncio.wait_for(refused.recv(), 10)
        assert closed.value.rcvd.code == 1011
        assert closed.value.rcvd.reason == "User is already connected"
        cluster.kill(0)
        with pytest.raises(websockets.ConnectionClosed):
            await on_first.recv(timeout=10)
        # The first attempt after the death is accepted: the database released the lock
        # when the replica's connection died, within the reconnect grace.
        async with session(second, "single", "same-user") as on_second:
            await on_second.send({"type": "input_text", "text": "still me"})
            await on_second.until("response.done")


async def test_a_user_leaving_one_replica_may_come_back_on_another(cluster: LocalCluster) -> None:
    first, second = cluster.replicas
    create(first, "roaming", flow_config("A"))
    for replica in (first, second, first):  # the reconnect grace works across replicas
        async with session(replica, "roaming", "traveller") as peer:
            await peer.send({"type": "input_text", "text": "hello"})
            await peer.until("response.done")


async def _answer(vc, text: str) -> str:  # type: ignore[no-untyped-def]
    await vc.send_text_query(text)
    said = []
    async for event in vc.responses():
        if isinstance(event, ResponseTextDelta):
            said.append(event.content)
        if isinstance(event, ResponseDone):
            break
    return "".join(said)


async def test_a_conversation_survives_its_replica_dying_mid_answer(
    cluster: LocalCluster,
) -> None:
    client = AsyncDistillerClient(
        api_key="test-key", base_url=cluster.base_url, audio_backend="null"
    )
    slow = flow_config("A", word_delay_ms=150)
    client.realtime_distiller.create_project(json_config=slow, project="talk")
    cut_query = "tell me a long story about seven small boats"
    try:
        async with client.realtime_distiller(project="talk", uuid="caller") as vc:
            assert await _answer(vc, "first question") == "first question"
            # Which replica serves us? Kill it once its answer to the next query is flowing.
            serving = next(i for i, r in enumerate(cluster.replicas) if sessions_on(r) == 1)
            await vc.send_text_query(cut_query)
            with pytest.raises(ConnectionLostError):
                async for event in vc.responses():
                    if isinstance(event, ResponseTextDelta):
                        cluster.kill(serving)
        # Reconnect through the load balancer with the same uuid (the SDK's automatic
        # reconnect is separate work): another replica, the same conversation.
        async with client.realtime_distiller(project="talk", uuid="caller") as vc:
            assert vc.session_info["history_turns"] == 2  # the first exchange, not the cut one
            survivor = cluster.replicas[1 - serving]
            assert sessions_on(survivor) == 1
            assert await _answer(vc, cut_query) == cut_query  # asked again, answered in full
        async with client.realtime_distiller(project="talk", uuid="caller") as vc:
            assert vc.session_info["history_turns"] == 4  # nothing lost, nothing doubled
    finally:
        client.close()


async def test_sigterm_drains_a_replica_and_lets_its_running_answer_finish(
    cluster: LocalCluster,
) -> None:
    leaving = cluster.replicas[0]
    words = " ".join(f"word{i}" for i in range(20))
    create(leaving, "drained", flow_config("A", word_delay_ms=100))
    async with session(leaving, "drained", "mid-answer") as peer:
        await peer.send({"type": "input_text", "text": words})
        started = await peer.until("response.text.delta")
        assert leaving.process is not None
        leaving.process.send_signal(signal.SIGTERM)
        # The load balancer is told at once, and new users are turned away with a 503
        # that it retries on the other replica.
        health = httpx.get(f"{leaving.base_url}/healthz")
        while health.status_code == 200:
            await asyncio.sleep(0.05)
            health = httpx.get(f"{leaving.base_url}/healthz")
        assert health.status_code == 503 and health.json()["status"] == "draining"
        with pytest.raises(websockets.InvalidStatus) as turned_away:
            async with connect(leaving, "drained", "newcomer"):
                pass
        assert turned_away.value.response.status_code == 503
        async with session(Balancer(cluster.base_url), "drained", "newcomer") as newcomer:  # type: ignore[arg-type]
            await newcomer.send({"type": "input_text", "text": "hi"})
            await newcomer.until("response.done")
        # The answer that was running when SIGTERM came is finished in full ...
        assert text_of(started + await peer.until("response.done"), "A") == words
        # ... then the replica closes what is left and exits.
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await peer.recv(timeout=30)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1012
    assert await asyncio.to_thread(leaving.process.wait, 30) is not None
