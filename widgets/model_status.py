"""The "models loading" indicator fed by the engine's ``/healthz`` states.

States are the engine's: "not loaded" | "loading" | "ready" | "error: <why>".
Only "loading" is shown as progress; a lazily loaded model sits in "not
loaded" until first use, and that is not worth a progress bar.
"""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Label, ProgressBar

LOADING = "loading"
NOT_LOADED = "not loaded"


def _failed(state: str) -> bool:
    return state.startswith("error") or state in ("failed", "missing")


class ModelStatus(Vertical):
    """Says which models are loading (or failed); hides itself otherwise."""

    def compose(self) -> ComposeResult:
        yield Label("Starting engine…", id="model-status-text")
        yield ProgressBar(total=None, show_eta=False, show_percentage=False, id="model-progress")

    def show_starting(self, text: str = "Starting engine…") -> None:
        self.display = True
        self.query_one("#model-status-text", Label).update(text)
        self.query_one(ProgressBar).update(total=None)

    def show_states(self, states: Mapping[str, str]) -> bool:
        """Show per-model states; True once no model is loading or waiting to load."""
        loading = sorted(name for name, state in states.items() if state == LOADING)
        failed = sorted(f"{name} ({state})" for name, state in states.items() if _failed(state))
        label = self.query_one("#model-status-text", Label)
        bar = self.query_one(ProgressBar)
        if loading:
            ready = sum(1 for state in states.values() if state == "ready")
            label.update(f"Loading models: {', '.join(loading)}")
            bar.display = True
            bar.update(total=len(states), progress=ready)
            self.display = True
        elif failed:
            label.update(f"Models unavailable: {', '.join(failed)}")
            bar.display = False
            self.display = True
        else:
            self.display = False
        return not any(state in (LOADING, NOT_LOADED) for state in states.values())
