"""App start: ``distiller`` in a pseudo-terminal; time to first paint, to the
example projects listed, and to a connected conversation, beside the embedded
engine's model preload time.

Each run uses a fresh data directory (so the examples are seeded, as on a first
run) and ``--project voice-assistant`` (so the app connects at once). The app's
screen output is read from the pty with escape sequences stripped; the engine's
``/healthz`` is polled to time the model preload. ``python -m bench.app_start``
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import pty
import re
import select
import signal
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

from bench.common import measured, percentile, print_table, summarize, summary_line, write_results

ESCAPES = re.compile(
    rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]"
    rb"|\x1b[()][0-9A-Za-z]|\x1b[=>78]|\x1b\][^\x07]*\x07"
)
PAINT_MARK = b"Projects"  # the browser's title: the first screen has been drawn
LISTED_MARK = b"advisor-flow"  # an example project in the list
CONNECTED_MARK = b"Connected to"  # the conversation's notice once the session is live
RUN_LIMIT_S = 240.0


def one_start(app: list[str], extra_env: dict[str, str]) -> dict[str, Any]:
    data_dir = Path(tempfile.mkdtemp(prefix="rd-bench-app-"))
    config = data_dir / "config.yaml"
    config.write_text("{}\n")
    env = {
        **os.environ,
        "TERM": "xterm-256color",
        "COLUMNS": "120",
        "LINES": "40",
        "DISTILLER_CONFIG": str(config),
        **extra_env,
    }
    main_fd, child_fd = pty.openpty()
    fcntl.ioctl(child_fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    started = time.monotonic()
    child = subprocess.Popen(
        [*app, "--data-dir", str(data_dir), "--audio", "null", "--project", "voice-assistant"],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env=env,
        start_new_session=True,
    )
    os.close(child_fd)
    marks: dict[str, float | None] = {
        "paint": None,
        "listed": None,
        "connected": None,
        "models": None,
    }
    screen = b""
    engine_url: str | None = None
    last_poll = 0.0
    try:
        while time.monotonic() - started < RUN_LIMIT_S and not all(marks.values()):
            ready, _, _ = select.select([main_fd], [], [], 0.02)
            now = time.monotonic()
            if ready:
                try:
                    chunk = os.read(main_fd, 65536)
                except OSError:
                    break
                screen = (screen + ESCAPES.sub(b"", chunk))[-200_000:]
                for key, mark in (
                    ("paint", PAINT_MARK),
                    ("listed", LISTED_MARK),
                    ("connected", CONNECTED_MARK),
                ):
                    if marks[key] is None and mark in screen:
                        marks[key] = now - started
            if marks["models"] is None and now - last_poll > 0.05:
                last_poll = now
                engine_url = engine_url or _engine_url(child.pid)
                if engine_url and _models_ready(engine_url):
                    marks["models"] = time.monotonic() - started
    finally:
        _quit(child, main_fd)
    return {"data_dir": str(data_dir), **{f"{k}_s": v for k, v in marks.items()}}


def _engine_url(pid: int) -> str | None:
    """The embedded engine's address, read from its command line (a child of the app)."""
    with contextlib.suppress(psutil.Error):
        for proc in psutil.Process(pid).children(recursive=True):
            cmd = proc.cmdline()
            if "server" in cmd and "--port" in cmd:
                return f"http://127.0.0.1:{cmd[cmd.index('--port') + 1]}"
    return None


def _models_ready(url: str) -> bool:
    try:
        models = httpx.get(f"{url}/healthz", timeout=0.5).json()["models"]
    except (httpx.HTTPError, ValueError, KeyError):
        return False
    wanted = {name: state for name, state in models.items() if state != "not loaded"}
    return bool(wanted) and all(state == "ready" for state in wanted.values())


def _quit(child: subprocess.Popen[bytes], main_fd: int) -> None:
    with contextlib.suppress(OSError):
        os.write(main_fd, b"\x11")  # ctrl+q: the app stops its engine on the way out
    try:
        deadline = time.monotonic() + 15
        while child.poll() is None and time.monotonic() < deadline:
            with contextlib.suppress(OSError):
                if select.select([main_fd], [], [], 0.1)[0]:
                    os.read(main_fd, 65536)  # keep the pty drained so the app can exit
        if child.poll() is None:
            os.killpg(child.pid, signal.SIGTERM)
            child.wait(timeout=10)
    except (subprocess.TimeoutExpired, ProcessLookupError):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGKILL)
        child.wait()
    finally:
        os.close(main_fd)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="app starts (default 3)")
    args = parser.parse_args(argv)
    app = [sys.executable, "-m", "app"]
    runs = [one_start(app, {}) for _ in range(args.runs)]
    rows = {
        "start -> first paint": [r["paint_s"] for r in runs],
        "start -> example projects listed": [r["listed_s"] for r in runs],
        "start -> engine models preloaded": [r["models_s"] for r in runs],
        "start -> conversation connected": [r["connected_s"] for r in runs],
    }
    rows = measured(rows)
    print_table(f"app_start: {len(runs)} starts, fresh data dir, 120x40 pty", rows)
    paint = percentile(rows["start -> first paint"], 50)
    usable = percentile(rows["start -> conversation connected"], 50)
    models = percentile(rows["start -> engine models preloaded"], 50)
    print(
        f"targets: first paint p50 <= 1 s: {'met' if paint <= 1 else 'MISSED'}; "
        f"conversation usable <= preload + 0.5 s ({models + 0.5:.2f} s): "
        f"{'met' if usable <= models + 0.5 else 'MISSED'}"
    )
    write_results(
        "app_start", {"summary": {k: summarize(v) for k, v in rows.items()}, "runs": runs}
    )
    summary_line("app_start", usable, models)


if __name__ == "__main__":
    main()
