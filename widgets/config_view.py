"""A project's configuration as syntax-highlighted YAML."""

from __future__ import annotations

from rich.syntax import Syntax
from textual.containers import VerticalScroll
from textual.widgets import Static

SYNTAX_THEME = "ansi_dark"
"""ANSI colours follow the terminal's palette, so light and dark themes both read."""


class ConfigView(VerticalScroll):
    """Read-only YAML with line numbers; scrolls with the keyboard."""

    def __init__(self, yaml_text: str = "", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._yaml = yaml_text
        self.can_focus = True

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static(self._render_yaml(self._yaml), id="config-yaml")

    @staticmethod
    def _render_yaml(text: str) -> Syntax:
        return Syntax(
            text, "yaml", theme=SYNTAX_THEME, line_numbers=True, background_color="default"
        )

    @property
    def yaml_text(self) -> str:
        return self._yaml

    def show(self, yaml_text: str) -> None:
        self._yaml = yaml_text
        self.query_one("#config-yaml", Static).update(self._render_yaml(yaml_text))
