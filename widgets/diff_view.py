"""A unified diff of two versions' configurations."""

from __future__ import annotations

import difflib

from rich.syntax import Syntax
from textual.containers import VerticalScroll
from textual.widgets import Static

from widgets.config_view import SYNTAX_THEME


def unified_diff(old: str, new: str, old_label: str, new_label: str) -> str:
    """The unified diff of two texts, or a note when they are the same."""
    lines = list(
        difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=old_label,
            tofile=new_label,
        )
    )
    if not lines:
        return f"# {old_label} and {new_label} are identical\n"
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


class DiffView(VerticalScroll):
    """Coloured unified diff; additions green, removals red (via the diff lexer)."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._diff = ""
        self.can_focus = True

    def compose(self):  # type: ignore[no-untyped-def]
        yield Static("", id="diff-body")

    @property
    def diff_text(self) -> str:
        return self._diff

    def show(self, old: str, new: str, old_label: str, new_label: str) -> None:
        self._diff = unified_diff(old, new, old_label, new_label)
        body = Syntax(self._diff, "diff", theme=SYNTAX_THEME, background_color="default")
        self.query_one("#diff-body", Static).update(body)
