"""Shared fixtures: real servers on free loopback ports."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from server.embedded import EmbeddedServer


@pytest.fixture(scope="module")
def echo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A text-only server with the deterministic echo provider and no speech models."""
    server = EmbeddedServer(
        tmp_path_factory.mktemp("echo-data"),
        provider="echo",
        extra_args=["--no-speech", "--executor-timeout", "2"],
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def speech_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedServer]:
    """A server with the real embedded speech models (ASR, VAD, TTS) and the echo LLM."""
    server = EmbeddedServer(tmp_path_factory.mktemp("speech-data"), provider="echo")
    server.start(timeout=180)
    yield server
    server.stop()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
