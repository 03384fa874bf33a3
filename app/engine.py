"""Run the embedded engine as a child process: the one launcher for the app, tests and benches.

The app must not import ``server`` (dependencies point app -> protocol), so
the engine is started the way a user would start it: ``python -m server`` on a
free loopback port. ``GET /healthz`` tells when it answers and which models
are still loading, which drives the app's progress indicator. Tests and
benchmarks use the same class through its blocking `EngineProcess.start` and
as a context manager, so there is one way to launch the engine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

import httpx

LOCAL_API_KEY = "local"
"""Any non-empty key works against a loopback engine without configured keys."""

LOG_TAIL_CHARS = 4000


class EngineError(RuntimeError):
    """The embedded engine could not be started; the message says why."""


def free_port(host: str = "127.0.0.1") -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EngineProcess:
    """The embedded engine (``python -m server``) in a subprocess on a free loopback port."""

    api_key = LOCAL_API_KEY

    def __init__(
        self,
        data_dir: Path,
        *,
        provider: str | None = None,
        lazy_models: bool = False,
        extra_args: Sequence[str] = (),
        port: int | None = None,
        log_path: Path | None = None,
        log_level: str | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.provider = provider
        self.lazy_models = lazy_models
        self.extra_args = list(extra_args)
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path or self.data_dir / "engine.log"
        self.log_level = log_level
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def command(self) -> list[str]:
        """The child's command line (a subclass may wrap it, e.g. in ``prlimit``)."""
        command = [
            sys.executable, "-m", "server",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
        ]  # fmt: skip
        if self.log_level:
            command += ["--log-level", self.log_level]
        if self.provider:
            command += ["--default-provider", self.provider]
        if self.lazy_models:
            command.append("--lazy-models")
        return command + self.extra_args

    # -- starting -------------------------------------------------------------

    def spawn(self) -> None:
        """Start the child process (returns at once; see `wait_ready` and `start`)."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = dict(os.environ)
        # The child must find the ``server`` package even when the app was
        # launched from another directory.
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                self.command(),
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )

    def start(self, timeout: float = 60.0) -> str:
        """Spawn and block until ``/healthz`` answers; the base URL. Raises `EngineError`."""
        self.spawn()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self._raise_if_exited(with_log=True)
            try:
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return self.base_url
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise EngineError(
            f"the embedded engine did not answer within {timeout:g} s; log:\n{self.read_log()}"
        )

    async def wait_ready(self, timeout: float = 60.0) -> dict[str, str]:
        """Wait until the engine answers; raise `EngineError` if it dies or times out."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                self._raise_if_exited(with_log=False)
                states = await self.health(client)
                if states is not None:
                    return states
                await asyncio.sleep(0.1)
        raise EngineError(f"the embedded engine did not answer within {timeout:.0f} s")

    async def health(self, client: httpx.AsyncClient) -> dict[str, str] | None:
        """Model load states from ``/healthz``, or None if it does not answer yet."""
        try:
            response = await client.get(f"{self.base_url}/healthz", timeout=2.0)
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        models = response.json().get("models", {})
        return {str(k): str(v) for k, v in models.items()} if isinstance(models, dict) else {}

    def _raise_if_exited(self, *, with_log: bool) -> None:
        if self.process is None or self.process.poll() is None:
            return
        message = f"the embedded engine exited with code {self.process.returncode}"
        raise EngineError(
            f"{message}; log:\n{self.read_log()}" if with_log else f"{message}; see {self.log_path}"
        )

    def read_log(self) -> str:
        """The end of the engine's log (for error messages)."""
        try:
            return self.log_path.read_text(errors="replace")[-LOG_TAIL_CHARS:]
        except OSError:
            return ""

    # -- stopping -------------------------------------------------------------

    def stop(self, timeout: float = 15.0, *, kill: bool = False, wait: bool = True) -> None:
        """Terminate the child (SIGKILL with ``kill``, or if it does not exit in time).

        ``wait=False`` only asks it to stop: the app quits at once and the engine
        finishes its shutdown (history writes) on its own.
        """
        process = self.process
        if process is None or process.poll() is not None:
            return
        process.send_signal(signal.SIGKILL if kill else signal.SIGTERM)
        if not wait:
            return
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def __enter__(self) -> EngineProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
