"""The example projects a fresh store is seeded with, and their custom agents.

The examples live in the repository's ``examples/`` folder; the app is not
allowed to import them as a package (dependencies point app -> protocol), so
the executor module is loaded from its file.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

EXAMPLES_DIR = Path(__file__).resolve().parent.parent / "examples"

EXAMPLE_PROJECTS: tuple[tuple[str, str], ...] = (
    ("advisor-flow", "advisor_flow.yaml"),
    ("voice-assistant", "voice_assistant.yaml"),
)
"""(project name, YAML file in examples/) created on first run."""

EXECUTORS_FILE = "advisor_executors.py"


def example_files(examples_dir: Path = EXAMPLES_DIR) -> list[tuple[str, Path]]:
    """The example projects whose YAML exists."""
    return [
        (name, examples_dir / file)
        for name, file in EXAMPLE_PROJECTS
        if (examples_dir / file).is_file()
    ]


def load_example_executors(examples_dir: Path = EXAMPLES_DIR) -> dict[str, Any]:
    """The examples' ``executor_dict`` (custom agents the app serves), or {} if absent."""
    path = examples_dir / EXECUTORS_FILE
    if not path.is_file():
        return {}
    spec = importlib.util.spec_from_file_location("distiller_example_executors", path)
    if spec is None or spec.loader is None:
        return {}
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    executors = getattr(module, "executor_dict", None)
    if executors is None:
        factory = getattr(module, "make_executor_dict", None)
        executors = factory() if callable(factory) else {}
    return dict(executors)
