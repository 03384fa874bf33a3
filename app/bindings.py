"""Every key binding of the main screen, each with a stable id.

The ids are what the settings file remaps (``bindings: {session.skip_agent: s}``),
so they must never change once released.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding

from widgets import StatusBar

APP_BINDINGS: list[Binding] = [
    Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    Binding("f2", "connect", "Connect", id="session.connect"),
    Binding("f3", "disconnect", "Disconnect", id="session.disconnect", show=False),
    Binding("ctrl+n", "new_project", "New", id="project.new", tooltip="New project or version"),
    Binding("c", "view_config", "Config", id="project.view_config", show=False),
    Binding("d", "diff_versions", "Diff", id="project.diff", show=False),
    Binding("escape", "hide_help_panel", "Close keys", id="app.close_keys", show=False),
    Binding("ctrl+r", "toggle_mic", "Mic", id="audio.toggle_mic", priority=True),
    Binding("f4", "toggle_hands_free", "Hands-free", id="audio.hands_free", show=False),
    Binding("space", "skip_agent", "Skip", id="session.skip_agent", tooltip="Skip the agent"),
    Binding("ctrl+o", "open_conversations", "History", id="conversation.open"),
    Binding("ctrl+s", "export", "Export", id="conversation.export"),
    Binding("ctrl+y", "copy_last", "Copy answer", id="conversation.copy_last", show=False),
    Binding("f5", "refresh_projects", "Refresh", id="project.refresh", show=False),
    Binding("ctrl+l", "focus_input", "Input", id="focus.input", show=False),
    Binding("ctrl+b", "focus_browser", "Projects", id="focus.browser", show=False),
]

BINDING_IDS: frozenset[str] = frozenset(b.id for b in APP_BINDINGS if b.id)


PALETTE: list[tuple[str, str, str]] = [
    # (binding id, palette title, help)
    ("session.connect", "Connect", "Talk to the selected project version"),
    ("session.disconnect", "Disconnect", "Close the live session"),
    ("project.new", "New project", "Create a project from YAML"),
    ("project.view_config", "View config", "Show the selected version's YAML"),
    ("project.diff", "Diff versions", "Compare two versions of a project"),
    ("project.refresh", "Refresh projects", "Reload the project list"),
    ("audio.toggle_mic", "Toggle mic", "Start or stop recording"),
    (
        "audio.hands_free",
        "Hands-free mode",
        "Keep the mic open all conversation, like a phone call; talk over an answer to interrupt",
    ),
    ("session.skip_agent", "Skip agent", "Skip the current agent"),
    ("conversation.open", "Past conversations", "Search, reopen, rename or delete one"),
    ("conversation.export", "Export conversation (Markdown)", "Save as .md"),
    ("conversation.copy_last", "Copy last answer", "To the clipboard"),
    ("focus.input", "Focus the question input", "Type a question"),
    ("focus.browser", "Focus the project browser", "Browse projects and versions"),
]
"""Palette entries, one per binding id, so the palette names the key that does the same."""


def palette_commands(app: App[Any]) -> Iterator[SystemCommand]:
    """The palette's commands, each showing its current key (after any remapping)."""
    by_id = {b.id: b for b in APP_BINDINGS}
    keymap = app._keymap if hasattr(app, "_keymap") else {}
    for binding_id, title, help_text in PALETTE:
        binding = by_id[binding_id]
        key = keymap.get(binding_id, binding.key)
        action = binding.action

        async def run(action: str = action) -> None:
            await app.run_action(action)

        yield SystemCommand(f"{title}  ({app.get_key_display(Binding(key, ''))})", help_text, run)
    yield SystemCommand(
        "Export conversation (JSON)", "Save as .json", lambda: app.run_action("export('json')")
    )
    status = app.query_one(StatusBar)
    yield SystemCommand(
        "Audio status",
        "Why audio is on or off",
        lambda: app.notify(status.audio_detail or "Audio is being checked."),
    )
