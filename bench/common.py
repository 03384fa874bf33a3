"""What every benchmark shares: a real server on a free loopback port, a timed
WebSocket peer, percentiles, the printed table, the JSON file and the summary line.

Benchmarks measure from the client's side of the wire, as a user would notice,
so every timestamp here is taken when a frame is *received* by the peer.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import math
import platform
import resource
import tempfile
import time
import uuid as uuidlib
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import websockets

from app.engine import EngineProcess

RESULTS_DIR = Path(__file__).resolve().parent / "results"
API_KEY = "bench-key"


def raise_fd_limit(wanted: int = 65536) -> int:
    """Lift the soft open-files limit toward ``wanted`` (hundreds of sockets need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the server ------------------------------------------------------------------


@contextlib.contextmanager
def running_server(
    *,
    provider: str = "embedded",
    speech: bool = True,
    wait_for: Sequence[str] = ("vad", "asr", "tts", "llm"),
    extra_args: Sequence[str] = (),
    data_dir: Path | None = None,
    timeout: float = 300.0,
) -> Iterator[EngineProcess]:
    """A server child process, yielded once the models in ``wait_for`` are ready."""
    raise_fd_limit()
    tmp = Path(data_dir) if data_dir else Path(tempfile.mkdtemp(prefix="rd-bench-"))
    args = list(extra_args) + ([] if speech else ["--no-speech"])
    server = EngineProcess(tmp, provider=provider, extra_args=args, log_level="warning")
    server.start(timeout=60)
    try:
        wait_models_ready(server, wait_for if speech or "llm" in wait_for else (), timeout)
        yield server
    finally:
        server.stop()


def wait_models_ready(server: EngineProcess, names: Sequence[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        models = httpx.get(f"{server.base_url}/healthz", timeout=5).json()["models"]
        states = {n: models.get(n, "not loaded") for n in names}
        errors = {n: s for n, s in states.items() if s.startswith("error")}
        if errors:
            raise RuntimeError(f"models failed to load: {errors}")
        if all(s == "ready" for s in states.values()):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"models not ready within {timeout:g} s: {states}")
        time.sleep(0.2)


def headers() -> dict[str, str]:
    return {"Authorization": f"Bearer {API_KEY}", "airefinery_account": "local"}


def create_project(server: EngineProcess, project: str, config: dict[str, Any]) -> None:
    reply = httpx.post(
        f"{server.base_url}/distiller/create",
        headers=headers(),
        json={"project": project, "config": config, "sdk_version": "bench"},
        timeout=30,
    )
    if reply.status_code != 201:
        raise RuntimeError(f"could not create project {project!r}: {reply.text}")


def ws_url(server: EngineProcess, project: str, uuid: str | None = None) -> str:
    uuid = uuid or uuidlib.uuid4().hex
    base = server.base_url.replace("http", "ws", 1)
    return f"{base}/distiller/realtime/local/{project}/{uuid}"


def single_agent_config(
    *,
    provider: str = "embedded",
    tts: bool = True,
    max_tokens: int = 80,
    word_delay_ms: int = 0,
    silence_ms: int = 600,
) -> dict[str, Any]:
    """The example voice assistant: one LLM agent, spoken answers, deterministic sampling."""
    llm: dict[str, Any] = {"provider": provider, "max_tokens": max_tokens, "temperature": 0.0}
    if provider == "echo":
        llm["word_delay_ms"] = word_delay_ms
    return {
        "orchestrator": {"agent_list": [{"agent_name": "Assistant"}]},
        "utility_agents": [
            {
                "agent_class": "LLMAgent",
                "agent_name": "Assistant",
                "agent_description": AGENT_DESCRIPTION,
                "config": {},
            }
        ],
        "base_config": {"llm_config": llm},
        "speech_config": {
            "sample_rate": 16000,
            "tts": {"engine": "piper" if tts else "none"},
            "turn_detection": {"silence_ms": silence_ms, "barge_in": False},
        },
    }


AGENT_DESCRIPTION = "A friendly voice assistant that answers in one or two short sentences."

QUESTIONS = (
    "What is the capital of France?",
    "How many days are there in a week?",
    "What color is the sky on a clear day?",
    "What do bees make?",
    "What is the largest ocean on Earth?",
    "How many wheels does a bicycle have?",
    "What is frozen water called?",
    "Which planet do we live on?",
)


# -- a timed peer ---------------------------------------------------------------------


class TimedPeer:
    """One WebSocket: frames as dicts, each stamped with the monotonic time it arrived."""

    def __init__(self, ws: websockets.ClientConnection) -> None:
        self.ws = ws

    @classmethod
    @contextlib.asynccontextmanager
    async def open(  # type: ignore[no-untyped-def]
        cls, url: str, open_timeout: float = 30.0, compression: str | None = "deflate"
    ):
        """Connect as the SDK does (permessage-deflate offered unless ``compression`` is None)."""
        async with websockets.connect(
            url,
            additional_headers=headers(),
            max_size=2**27,
            open_timeout=open_timeout,
            ping_interval=None,
            compression=compression,
        ) as ws:
            peer = cls(ws)
            first = await peer.recv(open_timeout)
            if first[1].get("type") != "session.created":
                raise RuntimeError(f"expected session.created, got {first[1]}")
            yield peer

    async def send(self, frame: dict[str, Any]) -> float:
        await self.ws.send(json.dumps(frame))
        return time.monotonic()

    async def recv(self, timeout: float = 60.0) -> tuple[float, dict[str, Any]]:
        while True:
            raw = await asyncio.wait_for(self.ws.recv(), timeout)
            at = time.monotonic()
            frame = json.loads(raw)
            if frame.get("type") == "PING":
                await self.ws.send('{"type": "PONG"}')
                continue
            return at, frame

    async def until(
        self, frame_type: str, timeout: float = 120.0
    ) -> list[tuple[float, dict[str, Any]]]:
        """Timed frames up to and including the first of ``frame_type``."""
        frames = []
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no {frame_type!r} within {timeout:g} s")
            at, frame = await self.recv(left)
            frames.append((at, frame))
            if frame.get("type") == "error":
                raise RuntimeError(f"server error: {frame}")
            if frame.get("type") == frame_type:
                return frames


async def stream_in_real_time(
    peer: TimedPeer, chunk_at: Callable[[int], bytes], chunk_s: float, started: float
) -> None:
    """Send ``chunk_at(k)`` as append k at ``started + k * chunk_s``, like a live microphone."""
    sent = 0
    while True:
        audio = base64.b64encode(chunk_at(sent)).decode()
        await peer.send({"type": "input_audio_buffer.append", "audio": audio})
        sent += 1
        await asyncio.sleep(max(0.0, started + sent * chunk_s - time.monotonic()))


def first_at(frames: list[tuple[float, dict[str, Any]]], frame_type: str) -> float | None:
    return next((at for at, f in frames if f.get("type") == frame_type), None)


# -- numbers, tables, files ----------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100); NaN for no values."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def summarize(values: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": percentile(values, 50),
        "p90": percentile(values, 90),
        "p99": percentile(values, 99),
        "max": max(values) if values else math.nan,
    }


def measured(rows: dict[str, Sequence[float | None]]) -> dict[str, list[float]]:
    """Each measure's values without the turns where it did not happen (None)."""
    return {label: [v for v in values if v is not None] for label, values in rows.items()}


def print_table(title: str, rows: dict[str, Sequence[float]], unit: str = "s") -> None:
    """One row per measure: n, p50, p90, max."""
    print(f"\n{title}")
    print(f"{'measure':<44}{'n':>5}{'p50':>10}{'p90':>10}{'max':>10}")
    for label, values in rows.items():
        s = summarize(values)
        print(
            f"{label:<44}{s['n']:>5}{_fmt(s['p50'], unit):>10}{_fmt(s['p90'], unit):>10}"
            f"{_fmt(s['max'], unit):>10}"
        )


def _fmt(value: float, unit: str) -> str:
    return "-" if math.isnan(value) else f"{value:.3f}{unit}"


def write_results(name: str, data: dict[str, Any]) -> Path:
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    path = RESULTS_DIR / f"{name}-{stamp}.json"
    payload = {"bench": name, "at": stamp, "machine": machine(), **data}
    path.write_text(json.dumps(payload, indent=2, default=_json_default))
    print(f"results: {path}")
    return path


def machine() -> dict[str, Any]:
    import os

    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "loadavg_1m_at_end": os.getloadavg()[0],  # other work on the box skews every number
    }


def _json_default(value: Any) -> Any:
    if isinstance(value, float) and math.isnan(value):
        return None
    return str(value)


def summary_line(name: str, p50: float, floor_p50: float) -> str:
    ratio = p50 / floor_p50 if floor_p50 and not math.isnan(floor_p50) else math.nan
    line = f"{name} p50={p50:.3f} floor_p50={floor_p50:.3f} ratio={ratio:.2f}"
    print(line)
    return line
