"""What the project keys do: create a project, view a version's YAML, diff two versions.

Kept out of the App so it stays layout, bindings and routing; each function
takes the app and the selection and pushes the matching screen.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from app.examples import example_files
from app.projects import ProjectService
from app.screens import ConfigScreen, ConversationsScreen, CreateProjectScreen, DiffScreen
from protocol.projects import SaidEntry
from widgets import ConversationView, ProjectBrowser, ProjectInfo, Selection


@dataclass(frozen=True)
class Reopened:
    """A past conversation to continue: its uuid and what was said in it."""

    uuid: str
    said: list[SaidEntry]


class ProjectHost(Protocol):
    """What these actions need of the app."""

    browser: ProjectBrowser
    conversation: ConversationView
    projects: ProjectService | None
    engine_problem: str | None

    def notify(self, message: str, *, severity: str = ...) -> None: ...  # type: ignore[override]
    def push_screen(self, screen: Any, callback: Any = None) -> Any: ...
    def run_worker(self, work: Any, **kwargs: Any) -> Any: ...
    async def connect_to(
        self, project: str, version: int | None, reopen: Reopened | None = None
    ) -> None: ...


def diff_pair(versions: Sequence[int], selected: int | None) -> tuple[int, int]:
    """The two versions to compare: the selected one against the one before it."""
    ordered = sorted(versions)
    new = selected if selected is not None else ordered[-1]
    if new == ordered[0]:
        return new, ordered[1]
    return max(v for v in ordered if v < new), new


def selected(app: ProjectHost) -> Selection | None:
    """The browser's selection, or None after telling the user what is missing."""
    if app.projects is None:
        app.notify(app.engine_problem or "The engine is not ready yet.", severity="warning")
        return None
    selection = app.browser.selection
    if selection is None:
        app.notify("Select a project first.", severity="warning")
    return selection


def new_project(app: ProjectHost) -> None:
    if (service := app.projects) is None:
        app.notify(app.engine_problem or "The engine is not ready yet.", severity="warning")
        return

    async def show_new_version(name: str) -> None:
        await refresh(app.browser, service)
        info = app.browser.projects.get(name)
        app.browser.select(name, info.latest if info else None)
        app.notify(f"Project {name} version {info.latest if info else '?'} created.")

    def created(name: str | None) -> None:
        if name:
            app.run_worker(show_new_version(name), group="projects", exit_on_error=False)

    app.push_screen(CreateProjectScreen(service.create), created)


async def view_config(app: ProjectHost) -> None:
    if (selection := selected(app)) is None or (service := app.projects) is None:
        return
    info = app.browser.version_info(selection)
    version = info.version if info else selection.version
    try:
        text = await service.config_yaml(selection.project, version)
    except Exception as exc:
        app.notify(f"Could not load the configuration: {exc}", severity="error")
        return
    await app.push_screen(ConfigScreen(selection.project, version or 0, text))


def diff_versions(app: ProjectHost) -> None:
    if (selection := selected(app)) is None or (service := app.projects) is None:
        return
    project = app.browser.projects.get(selection.project)
    if project is None or len(project.versions) < 2:
        app.notify("This project has a single version: nothing to diff.")
        return
    versions = sorted(v.version for v in project.versions)
    old, new = diff_pair(versions, selection.version)

    async def load(version: int) -> str:
        return await service.config_yaml(selection.project, version)

    app.push_screen(DiffScreen(selection.project, versions, old, new, load))


async def refresh(
    browser: ProjectBrowser, service: ProjectService | None
) -> list[ProjectInfo] | None:
    """Reload the browser; None (and a note in it) if the engine did not answer."""
    if service is None:
        return None
    try:
        projects = await service.load_all()
    except Exception as exc:
        browser.set_message(f"Could not list projects: {exc}")
        return None
    browser.set_projects(projects)
    return projects


async def seed_examples(app: ProjectHost, service: ProjectService) -> None:
    """First run: create the example projects so there is something to talk to."""
    created = []
    for name, path in example_files():
        try:
            await service.create_from_file(path, name)
            created.append(name)
        except Exception as exc:
            await app.conversation.add_notice(f"Could not create example {name}: {exc}", error=True)
    if created:
        await refresh(app.browser, service)
        app.conversation.set_hint(
            "Welcome! This is a fresh store, so the example projects "
            f"{', '.join(created)} were created for you. Pick one on the left and press "
            "enter, then type a question."
        )


def open_conversations(app: ProjectHost) -> None:
    """The project's past conversations; the one picked is reopened on the latest version."""
    if (selection := selected(app)) is None or (service := app.projects) is None:
        return
    project = selection.project

    async def chosen(uuid: str | None) -> None:
        if uuid is None:
            return
        try:
            said = await service.conversation(project, uuid)
        except Exception as exc:
            app.notify(f"Could not open the conversation: {exc}", severity="error")
            return
        await app.connect_to(project, None, Reopened(uuid, said))

    screen = ConversationsScreen(
        project,
        lambda words, offset: service.conversations(project, words, offset),
        lambda uuid, title: service.rename_conversation(project, uuid, title),
        lambda uuid: service.delete_conversation(project, uuid),
    )
    app.push_screen(screen, chosen)
