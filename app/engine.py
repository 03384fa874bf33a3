"""Run the embedded engine as a child process and watch its model states.

The app must not import ``server`` (dependencies point app -> protocol), so
the engine is started the way a user would start it: ``python -m server`` on a
free loopback port. ``GET /healthz`` tells when it answers and which models
are still loading, which drives the app's progress indicator.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

LOCAL_API_KEY = "local"
"""Any non-empty key works against a loopback engine without configured keys."""


class EngineError(RuntimeError):
    """The embedded engine could not be started; the message says why."""


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class EngineProcess:
    """The embedded engine in a subprocess on a free loopback port."""

    def __init__(
        self,
        data_dir: Path,
        *,
        port: int | None = None,
        extra_args: Sequence[str] = (),
        log_path: Path | None = None,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._extra_args = list(extra_args)
        self._log_path = log_path or data_dir / "engine.log"
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def spawn(self) -> None:
        """Start the child process (returns at once; see `wait_ready`)."""
        if self.running:
            return
        self.data_dir.mkdir(parents=True, exist_ok=True)
        command = [
            sys.executable, "-m", "server",
            "--host", "127.0.0.1",
            "--port", str(self.port),
            "--data-dir", str(self.data_dir),
            *self._extra_args,
        ]  # fmt: skip
        log = self._log_path.open("ab")
        env = dict(os.environ)
        # The child must find the ``server`` package even when the app was
        # launched from another directory.
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        self._process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
        )
        log.close()

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

    async def wait_ready(self, timeout: float = 60.0) -> dict[str, str]:
        """Wait until the engine answers; raise `EngineError` if it dies or times out."""
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self._process is not None and self._process.poll() is not None:
                    raise EngineError(
                        f"the embedded engine exited with code {self._process.returncode}; "
                        f"see {self._log_path}"
                    )
                states = await self.health(client)
                if states is not None:
                    return states
                await asyncio.sleep(0.1)
        raise EngineError(f"the embedded engine did not answer within {timeout:.0f} s")

    def stop(self, timeout: float = 5.0) -> None:
        """Terminate the child (kill it if it does not exit in time)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=timeout)
