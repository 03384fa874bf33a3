"""Create a project (or a new version of one) from a YAML file."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

CreateProject = Callable[[str, str], Awaitable[Sequence[str]]]
"""Creates project ``name`` from the YAML at ``path``; returns problems (empty = created)."""


class CreateProjectScreen(ModalScreen[str | None]):
    """Path and name inputs; problems are listed inline and nothing is created.

    Dismisses with the project name once it was created, or None if cancelled.
    """

    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="dialog.cancel")]  # noqa: RUF012

    def __init__(self, create: CreateProject, *, path: str = "", name: str = "") -> None:
        super().__init__()
        self._create = create
        self._path = path
        self._name = name

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog") as dialog:
            dialog.border_title = "New project"
            yield Label(
                "Create a project from a YAML file. An existing name gets a new version.",
                classes="dialog-help",
            )
            yield Label("YAML file", classes="field-label")
            yield Input(self._path, placeholder="path/to/project.yaml", id="create-path")
            yield Label("Project name", classes="field-label")
            yield Input(
                self._name,
                placeholder="letters, digits, - and _",
                restrict=r"[A-Za-z0-9_-]*",
                id="create-name",
            )
            yield Static("", id="create-errors", markup=False)
            with Horizontal(classes="dialog-buttons"):
                yield Button("Cancel", id="create-cancel")
                yield Button("Create", variant="primary", id="create-submit")

    def on_mount(self) -> None:
        self.query_one("#create-path", Input).focus()

    @on(Input.Changed, "#create-path")
    def _suggest_name(self, event: Input.Changed) -> None:
        """Default the name to the file's stem until the user types one."""
        name_input = self.query_one("#create-name", Input)
        if name_input.has_focus:
            return
        stem = Path(event.value).stem
        cleaned = "".join(c if c.isalnum() or c in "-_" else "-" for c in stem)
        if not name_input.value or name_input.value == self._name:
            name_input.value = cleaned
            self._name = cleaned

    def show_errors(self, problems: Sequence[str]) -> None:
        """List problems inline (one per line, key paths first as the engine gives them)."""
        errors = self.query_one("#create-errors", Static)
        if problems:
            errors.update("Not created:\n" + "\n".join(f"• {p}" for p in problems))
        else:
            errors.update("")
        errors.set_class(bool(problems), "-shown")

    @property
    def errors_text(self) -> str:
        return str(self.query_one("#create-errors", Static).render())

    @on(Input.Submitted)
    @on(Button.Pressed, "#create-submit")
    def _submit(self) -> None:
        self.submit()

    @on(Button.Pressed, "#create-cancel")
    def _cancel(self) -> None:
        self.dismiss(None)

    @work(exclusive=True, group="create")
    async def submit(self) -> None:
        path = self.query_one("#create-path", Input).value.strip()
        name = self.query_one("#create-name", Input).value.strip()
        button = self.query_one("#create-submit", Button)
        button.disabled = True
        try:
            problems = list(await self._create(path, name))
        except Exception as exc:  # the engine may be down: say so inline
            problems = [str(exc) or type(exc).__name__]
        finally:
            button.disabled = False
        if problems:
            self.show_errors(problems)
        else:
            self.dismiss(name)
