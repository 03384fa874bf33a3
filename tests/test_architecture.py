"""The layering of docs/architecture.md, checked on every test run.

`lint-imports` reads the contracts in pyproject.toml ([tool.importlinter]); a
wrong arrow (say, a widget importing the SDK) fails here with import-linter's
own report. The second test asks grimp, import-linter's graph library, for
any import circle between our modules, including imports inside functions and
under ``TYPE_CHECKING``: a circle there still ties two modules into one idea.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import grimp

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("app", "widgets", "styles", "protocol", "server", "audio")


def test_lint_imports_keeps_every_layer_contract() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    assert lint_imports.exists(), f"{lint_imports} is missing: install the dev extras"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # check this tree, not another checkout
    result = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, f"lint-imports failed:\n{result.stdout}\n{result.stderr}"


def _describe(graph: grimp.ImportGraph, cycle: tuple[str, ...]) -> str:
    """``a:12 -> b:40 -> a``: each importer with the lines where it imports the next."""
    steps = []
    for importer, imported in itertools.pairwise(cycle):
        details = graph.get_import_details(importer=importer, imported=imported)
        steps.append(f"{importer}:{','.join(str(d['line_number']) for d in details)}")
    return " -> ".join([*steps, cycle[-1]])


def test_no_import_cycle_between_our_modules() -> None:
    graph = grimp.build_graph(*PACKAGES, cache_dir=None)
    cycles: dict[frozenset[str], tuple[str, ...]] = {}
    for importer in sorted(graph.modules):
        for imported in sorted(graph.find_modules_directly_imported_by(importer)):
            back = graph.find_shortest_chain(importer=imported, imported=importer)
            if back is not None:
                cycle = (importer, *back)
                cycles.setdefault(frozenset(cycle), cycle)
    described = "\n".join(_describe(graph, cycle) for cycle in cycles.values())
    assert not cycles, f"{len(cycles)} import cycle(s):\n{described}"
