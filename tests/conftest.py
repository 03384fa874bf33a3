"""Shared fixtures: real servers on free loopback ports."""

from __future__ import annotations

import asyncio
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from app.engine import EngineProcess
from deploy.postgres import TempPostgres
from protocol import AsyncDistillerClient

POLL_S = 0.02

Message = str | Callable[[], str]


async def wait_until(
    predicate: Callable[[], object],
    timeout: float = 30.0,
    message: Message = "the condition",
    interval: float = POLL_S,
) -> None:
    """Poll ``predicate`` until it holds; fail saying what was awaited after ``timeout`` s.

    Only for state nothing can be awaited on (another process, a device thread, a
    database): await the event or future instead whenever there is one. ``message``
    may be a callable, to show the last state seen when the wait fails.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() >= deadline:
            raise AssertionError(_timed_out(timeout, message))
        await asyncio.sleep(interval)


def wait_until_sync(
    predicate: Callable[[], object],
    timeout: float = 30.0,
    message: Message = "the condition",
    interval: float = POLL_S,
) -> None:
    """`wait_until` for code without an event loop (threads, blocking clients)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() >= deadline:
            raise AssertionError(_timed_out(timeout, message))
        time.sleep(interval)


def _timed_out(timeout: float, message: Message) -> str:
    awaited = message() if callable(message) else message
    return f"timed out after {timeout:g} s waiting for {awaited}"


STORES = ["sqlite", "postgresql"]
_database_numbers = itertools.count()


@pytest.fixture(scope="session")
def postgres() -> Iterator[TempPostgres]:
    """One real PostgreSQL for the whole run (Debian's initdb/pg_ctl, a free loopback port)."""
    server = TempPostgres().start()
    yield server
    server.destroy()


def new_store_args(kind: str, request: pytest.FixtureRequest) -> list[str]:
    """Server flags for a fresh, empty store of ``kind``: SQLite is the data dir's default."""
    if kind == "sqlite":
        return []
    pg: TempPostgres = request.getfixturevalue("postgres")
    return ["--store", pg.create_database(f"test_{next(_database_numbers)}")]


@pytest.fixture(params=STORES)
def store_args(request: pytest.FixtureRequest) -> list[str]:
    """Each test using this runs once per store backend, on a fresh store."""
    return new_store_args(request.param, request)


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """A text-only server with the deterministic echo provider and no speech models."""
    server = EngineProcess(
        tmp_path_factory.mktemp("echo-data"),
        provider="echo",
        extra_args=["--no-speech", "--executor-timeout", "2"],
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def speech_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """A server with the real embedded speech models (ASR, VAD, TTS) and the echo LLM."""
    server = EngineProcess(tmp_path_factory.mktemp("speech-data"), provider="echo")
    server.start(timeout=180)
    yield server
    server.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def client(echo_server: EngineProcess) -> Iterator[AsyncDistillerClient]:
    """Our SDK's client on the echo server, with the null audio backend."""
    sdk = AsyncDistillerClient(
        api_key=echo_server.api_key, base_url=echo_server.base_url, audio_backend="null"
    )
    yield sdk
    sdk.close()


@pytest.fixture
def wire_log(caplog: pytest.LogCaptureFixture) -> Callable[[], list[str]]:
    """Types of the frames this process sent, in order (set up before connecting)."""
    caplog.set_level(logging.DEBUG, logger="websockets.client")

    def sent() -> list[str]:
        types = []
        for record in caplog.records:
            message = record.getMessage()
            if record.name == "websockets.client" and message.startswith("> TEXT"):
                match = re.search(r'"type":"([^"]+)"', message)
                types.append(match.group(1) if match else "executor.result")
        return types

    return sent
