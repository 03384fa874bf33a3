"""The published AI Refinery SDK, unchanged, against our server.

The SDK needs Python 3.12+, while the project runs on 3.11+, so the check runs
in its own virtual environment (``.venv-airsdk``, made once and reused) with
``airefinery-sdk`` from PyPI, and drives a real server with
``scripts/airefinery_sdk_check.py``: create, download, connect with a custom
agent in ``executor_dict``, a text query, the whole response.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from app.engine import EngineProcess

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv-airsdk"


def _python_312() -> str | None:
    """An interpreter new enough for the SDK: this one, one on PATH, or one pyenv has."""
    if sys.version_info >= (3, 12):
        return sys.executable
    candidates = [shutil.which(f"python3.{minor}") for minor in (12, 13, 14)]
    root = os.environ.get("PYENV_ROOT", str(Path.home() / ".pyenv"))
    candidates += sorted(glob.glob(f"{root}/versions/3.1[2-9]*/bin/python3"))
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.version_info >= (3, 12))"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and probe.stdout.strip() == "True":
            return candidate
    return None


@pytest.fixture(scope="module")
def sdk_python() -> str:
    python = VENV / "bin" / "python"
    if (
        python.exists()
        and subprocess.run([python, "-c", "import air"], capture_output=True).returncode == 0
    ):
        return str(python)
    base = _python_312()
    if base is None:
        pytest.skip("no Python 3.12+ interpreter for the AI Refinery SDK on this machine")
    subprocess.run([base, "-m", "venv", "--clear", str(VENV)], check=True)
    subprocess.run(
        [python, "-m", "pip", "install", "-q", "airefinery-sdk"], check=True, timeout=900
    )
    return str(python)


def test_published_sdk_creates_downloads_connects_and_answers(
    sdk_python: str, tmp_path: Path
) -> None:
    with EngineProcess(tmp_path, provider="echo") as server:
        result = subprocess.run(
            [sdk_python, str(ROOT / "scripts" / "airefinery_sdk_check.py"), server.base_url],
            capture_output=True,
            text=True,
            timeout=300,
            cwd=tmp_path,
        )
    assert "AI Refinery SDK check: PASSED" in result.stdout, (
        result.stdout[-3000:] + result.stderr[-3000:]
    )
