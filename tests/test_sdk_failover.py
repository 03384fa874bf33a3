"""Failover in the SDK: the engine dies mid-answer, the session reconnects and carries on.

A single engine is killed and started again on the same port and data dir,
which is what a client behind a load balancer sees when its replica dies and
another takes over (tests/test_deploy_cluster.py does it with real replicas).
"""

from __future__ import annotations

from pathlib import Path

from app.engine import EngineProcess
from protocol import AsyncDistillerClient
from protocol.client.errors import ConnectionLostError
from protocol.events import ResponseDone
from tests.conftest import wait_until
from tests.wire import flow_config

WORDS = " ".join(f"w{i}" for i in range(40))


def engine(data_dir: Path, port: int | None = None) -> EngineProcess:
    return EngineProcess(data_dir, provider="echo", port=port, extra_args=["--no-speech"])


async def test_a_session_with_failover_survives_its_engine_dying_mid_answer(
    tmp_path: Path,
) -> None:
    first = engine(tmp_path)
    first.start()
    client = AsyncDistillerClient(api_key="k", base_url=first.base_url)
    config = flow_config("Teller", word_delay_ms=50)
    client.realtime_distiller.create_project(json_config=config, project="story")
    second = engine(tmp_path, port=first.port)
    try:
        async with client.realtime_distiller(
            project="story", uuid="listener", reconnect_within=30
        ) as session:
            await session.send_text_query("remember " + WORDS)
            async for event in session.events():
                if event.type == "response.text.delta":
                    break  # the answer is streaming: now its engine dies
            first.stop(kill=True)
            second.start()
            done = [e async for e in _until_done(session)]
            assert done, "the question was answered after the reconnect"
            turn = session.conversation.turns[0]
            assert [a.state for a in turn.answers] == ["cut off", "done"]
            assert turn.answers[-1].text.strip() == "remember " + WORDS
            assert session.connected
            await session.send_text_query("and again")
            async for _ in session.responses():
                pass
        said = client.realtime_distiller.conversations.read("story", "listener")
        questions = [e.text for e in said if e.role == "user"]
        assert questions[-2:] == ["remember " + WORDS, "and again"]  # none lost, none twice
    finally:
        client.close()
        first.stop()
        second.stop()


async def test_without_failover_a_dropped_session_ends_as_the_published_sdk_does(
    tmp_path: Path,
) -> None:
    server = engine(tmp_path)
    server.start()
    client = AsyncDistillerClient(api_key="k", base_url=server.base_url)
    client.realtime_distiller.create_project(json_config=flow_config("Solo"), project="p")
    try:
        async with client.realtime_distiller(project="p", uuid="u") as session:
            server.stop(kill=True)
            try:
                async for _ in session.events():
                    pass
            except ConnectionLostError:
                pass
            else:
                raise AssertionError("the session should end with ConnectionLostError")
            await wait_until(lambda: not session.connected, 5, "the session to end")
    finally:
        client.close()
        server.stop()


async def _until_done(session):  # type: ignore[no-untyped-def]
    async for event in session.events():
        if isinstance(event, ResponseDone):
            yield event
            return
