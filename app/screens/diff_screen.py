"""Diff two versions of a project's configuration."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, Select

from widgets.diff_view import DiffView

ConfigLoader = Callable[[int], Awaitable[str]]
"""Returns one version's configuration as YAML text."""


class DiffScreen(ModalScreen[None]):
    """Two version pickers and the unified diff between them."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="dialog.close")]  # noqa: RUF012

    def __init__(
        self,
        project: str,
        versions: Sequence[int],
        old: int,
        new: int,
        load_config: ConfigLoader,
    ) -> None:
        super().__init__()
        self.project = project
        self._versions = sorted(versions)
        self._old = old
        self._new = new
        self._load_config = load_config

    def compose(self) -> ComposeResult:
        options = [(f"v{v}", v) for v in self._versions]
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = f"{self.project} — diff versions"
            with Horizontal(classes="diff-pickers"):
                yield Label("from")
                yield Select(options, value=self._old, allow_blank=False, id="diff-old")
                yield Label("to")
                yield Select(options, value=self._new, allow_blank=False, id="diff-new")
            yield DiffView(id="diff-view")
            yield Label("escape close · tab switch picker", classes="dialog-help")

    def on_mount(self) -> None:
        self.refresh_diff()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        if not isinstance(event.value, int):
            return
        if event.select.id == "diff-old" and event.value != self._old:
            self._old = event.value
        elif event.select.id == "diff-new" and event.value != self._new:
            self._new = event.value
        else:
            return  # the initial value being announced: nothing changed
        self.refresh_diff()

    @work(exclusive=True, group="diff")
    async def refresh_diff(self) -> None:
        """Load both configs (network, so in a worker) and show their diff."""
        view = self.query_one(DiffView)
        try:
            old_text = await self._load_config(self._old)
            new_text = await self._load_config(self._new)
        except Exception as exc:  # shown, not raised: a failed fetch must not crash
            self.notify(f"Could not load configs: {exc}", severity="error")
            return
        view.show(
            old_text, new_text, f"{self.project} v{self._old}", f"{self.project} v{self._new}"
        )
