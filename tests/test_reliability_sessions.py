"""Session timeouts: idle sessions and clients that never answer PING are closed with a reason
the published SDK recognises ("Connection timeout ...", on a code it reads reasons for)."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator

import pytest
import websockets

from app.engine import EngineProcess
from tests.wire import connect, create, flow_config

IDLE_S = 1.5
PONG_S = 1.5


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    server = EngineProcess(
        tmp_path_factory.mktemp("strict"),
        provider="echo",
        extra_args=[
            "--no-speech",
            "--ping-interval",
            "0.2",
            "--idle-timeout",
            str(IDLE_S),
            "--pong-timeout",
            str(PONG_S),
        ],
    )
    server.start()
    assert create(server, "timed", flow_config("A")).status_code == 201
    yield server
    server.stop()


async def _run_client(
    ws: websockets.ClientConnection,
    *,
    answer_pings: bool,
    query_every_s: float | None,
    for_s: float,
) -> websockets.ConnectionClosed | None:
    """Behave as told for ``for_s`` seconds; the close that ended it, or None if still open."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + for_s
    next_query = loop.time()
    try:
        while loop.time() < deadline:
            if query_every_s is not None and loop.time() >= next_query:
                await ws.send(json.dumps({"type": "input_text", "text": "still here"}))
                next_query = loop.time() + query_every_s
            try:
                frame = json.loads(await asyncio.wait_for(ws.recv(), 0.1))
            except TimeoutError:
                continue
            if frame.get("type") == "PING" and answer_pings:
                await ws.send('{"type": "PONG"}')
    except websockets.ConnectionClosed as closed:
        return closed
    return None


def _assert_sdk_timeout(closed: websockets.ConnectionClosed | None, pattern: str) -> None:
    assert closed is not None, "the server should have closed the session"
    # websockets (and so the SDK) raises ConnectionClosedError, not ...OK, for codes other than
    # 1000/1001; only then does the SDK read the reason and raise its ConnectionTimeoutError.
    assert isinstance(closed, websockets.ConnectionClosedError), closed
    assert closed.rcvd is not None and closed.rcvd.code not in (1000, 1001)
    assert "Connection timeout" in closed.rcvd.reason
    assert re.fullmatch(pattern, closed.rcvd.reason), closed.rcvd.reason


async def test_an_idle_session_is_closed_with_the_sdk_timeout_reason(
    strict_server: EngineProcess,
) -> None:
    async with connect(strict_server, "timed", "idler") as ws:
        # Answering PINGs is not activity: this client says nothing else.
        closed = await _run_client(ws, answer_pings=True, query_every_s=None, for_s=IDLE_S + 5)
    _assert_sdk_timeout(closed, r"Connection timeout \(Idle for 0\.025 minutes\)")


async def test_a_client_that_never_answers_ping_is_closed(strict_server: EngineProcess) -> None:
    async with connect(strict_server, "timed", "deaf") as ws:
        # Busy (so never idle), but it never sends PONG.
        closed = await _run_client(ws, answer_pings=False, query_every_s=0.3, for_s=PONG_S + 5)
    _assert_sdk_timeout(closed, r"Connection timeout \(no PONG for 1\.5 seconds\)")


async def test_an_active_client_that_answers_pings_stays_connected(
    strict_server: EngineProcess,
) -> None:
    async with connect(strict_server, "timed", "talker") as ws:
        closed = await _run_client(
            ws, answer_pings=True, query_every_s=0.3, for_s=IDLE_S + PONG_S + 1
        )
        assert closed is None
        await ws.send(json.dumps({"type": "input_text", "text": "final words"}))
        while json.loads(await asyncio.wait_for(ws.recv(), 10)).get("type") != "response.done":
            pass


async def test_our_sdk_reports_the_idle_timeout(strict_server: EngineProcess) -> None:
    from protocol import AsyncDistillerClient
    from protocol.client.errors import ConnectionLostError

    client = AsyncDistillerClient(api_key="any", base_url=strict_server.base_url)
    with pytest.raises(ConnectionLostError) as lost:
        async with client.realtime_distiller(project="timed", uuid="sdk-idler") as session:
            await asyncio.sleep(IDLE_S + 5)
            await session.send_text_query("too late")
            async for _event in session.get_responses():
                pass
    assert "Connection timeout (Idle for" in str(lost.value)
