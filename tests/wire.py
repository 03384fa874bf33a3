"""A raw WebSocket peer for server tests: frames as JSON dicts, no SDK in between."""

from __future__ import annotations

import asyncio
import itertools
import json
import threading
from typing import Any

import httpx
import websockets

from app.engine import EngineProcess

TEXT_ONLY = {"tts": {"engine": "none"}}


def headers(key: str = "test-key") -> dict[str, str]:
    return {"Authorization": f"Bearer {key}", "airefinery_account": "local"}


def create(
    server: EngineProcess, project: str, config: dict[str, Any], key: str = "test-key"
) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/distiller/create",
        headers=headers(key),
        json={"project": project, "config": config, "sdk_version": "test"},
    )


def keep_creating(
    base_url: str, project: str, stop: threading.Event, acknowledged: list[int]
) -> None:
    """Create versions of ``project`` until ``stop`` is set, noting each acknowledged one.

    A create whose server died under it is not acknowledged; creating goes on (through a
    load balancer the next one lands on a live replica).
    """
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            try:
                response = client.post(
                    f"{base_url}/distiller/create",
                    headers=headers(),
                    json={"project": project, "config": flow_config("A")},
                )
            except httpx.HTTPError:
                continue
            if response.status_code == 201:
                acknowledged.append(response.json()["project_version"])


def flow_config(
    *agents: str,
    edges: dict[str, list[str]] | None = None,
    word_delay_ms: int = 0,
    custom: tuple[str, ...] = (),
) -> dict[str, Any]:
    """A FlowSuperAgent over ``agents`` (a chain unless ``edges`` is given), text only."""
    edges = edges if edges is not None else {a: [b] for a, b in itertools.pairwise(agents)}
    return {
        "orchestrator": {"agent_list": [{"agent_name": "Flow"}]},
        "utility_agents": [
            {
                "agent_class": "CustomAgent" if a in custom else "SearchAgent",
                "agent_name": a,
                "agent_description": f"{a} agent",
                "config": {},
            }
            for a in agents
        ],
        "super_agents": [
            {
                "agent_class": "FlowSuperAgent",
                "agent_name": "Flow",
                "agent_description": "the flow",
                "config": {
                    "goal": "answer",
                    "agent_list": [
                        {"agent_name": a, **({"next_step": edges[a]} if edges.get(a) else {})}
                        for a in agents
                    ],
                },
            }
        ],
        "base_config": {"llm_config": {"provider": "echo", "word_delay_ms": word_delay_ms}},
        "speech_config": TEXT_ONLY,
    }


class Peer:
    """One WebSocket connection, reading frames with a timeout."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws
        self.received: list[dict[str, Any]] = []

    async def send(self, frame: dict[str, Any] | str) -> None:
        await self.ws.send(frame if isinstance(frame, str) else json.dumps(frame))

    async def recv(self, timeout: float = 10.0, *, skip_ping: bool = True) -> dict[str, Any]:
        while True:
            frame = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if skip_ping and frame.get("type") == "PING":
                continue
            self.received.append(frame)
            return frame

    async def until(self, frame_type: str, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Frames up to and including the first of ``frame_type``."""
        frames = []
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise TimeoutError(f"no {frame_type!r} within {timeout:g} s; got {frames[-5:]}")
            frame = await self.recv(left)
            frames.append(frame)
            if frame.get("type", "executor") == frame_type:
                return frames

    async def silent_for(self, seconds: float) -> bool:
        """True if nothing but PINGs arrives for ``seconds``."""
        try:
            await self.recv(seconds)
        except TimeoutError:
            return True
        return False


def connect(
    server: EngineProcess, project: str, uuid: str, key: str = "test-key", account: str = "local"
):  # type: ignore[no-untyped-def]
    url = (
        server.base_url.replace("http", "ws", 1) + f"/distiller/realtime/{account}/{project}/{uuid}"
    )
    return websockets.connect(url, additional_headers=headers(key), max_size=2**27)


class session:
    """Connect, read session.created, yield a `Peer`."""

    def __init__(self, server: EngineProcess, project: str, uuid: str, **kw: Any) -> None:
        self._cm = connect(server, project, uuid, **kw)

    async def __aenter__(self) -> Peer:
        ws = await self._cm.__aenter__()
        peer = Peer(ws)
        first = await peer.recv()
        assert first["type"] == "session.created", first
        return peer

    async def __aexit__(self, *exc: object) -> None:
        await self._cm.__aexit__(*exc)


def text_of(frames: list[dict[str, Any]], role: str | None = None) -> str:
    return "".join(
        f["content"]
        for f in frames
        if f.get("type") == "response.text.delta" and (role is None or f.get("role") == role)
    )
