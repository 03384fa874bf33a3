"""Shows one project version's configuration as YAML."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label

from widgets.config_view import ConfigView


class ConfigScreen(ModalScreen[None]):
    """Read-only, syntax-highlighted YAML of one version; escape closes it."""

    BINDINGS = [Binding("escape,q", "dismiss", "Close", id="dialog.close")]  # noqa: RUF012

    def __init__(self, project: str, version: int, yaml_text: str) -> None:
        super().__init__()
        self.project = project
        self.version = version
        self._yaml = yaml_text

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = f"{self.project} v{self.version} — configuration"
            yield ConfigView(self._yaml, id="config-view")
            yield Label("escape close · ↑↓ scroll", classes="dialog-help")

    def on_mount(self) -> None:
        self.query_one(ConfigView).focus()
