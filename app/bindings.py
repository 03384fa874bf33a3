"""Every key binding of the main screen, each with a stable id.

The ids are what the settings file remaps (``bindings: {session.skip_agent: s}``),
so they must never change once released.
"""

from __future__ import annotations

from textual.binding import Binding

APP_BINDINGS: list[Binding] = [
    Binding("ctrl+q", "quit", "Quit", id="app.quit", priority=True),
    Binding("f2", "connect", "Connect", id="session.connect"),
    Binding("f3", "disconnect", "Disconnect", id="session.disconnect", show=False),
    Binding("ctrl+n", "new_project", "New project", id="project.new"),
    Binding("c", "view_config", "Config", id="project.view_config"),
    Binding("d", "diff_versions", "Diff", id="project.diff"),
    Binding("ctrl+r", "toggle_mic", "Mic", id="audio.toggle_mic", priority=True),
    Binding("space", "skip_agent", "Skip agent", id="session.skip_agent"),
    Binding("ctrl+s", "export", "Export", id="conversation.export"),
    Binding("ctrl+y", "copy_last", "Copy answer", id="conversation.copy_last", show=False),
    Binding("f5", "refresh_projects", "Refresh", id="project.refresh", show=False),
    Binding("ctrl+l", "focus_input", "Input", id="focus.input", show=False),
    Binding("ctrl+b", "focus_browser", "Projects", id="focus.browser", show=False),
]

BINDING_IDS: frozenset[str] = frozenset(b.id for b in APP_BINDINGS if b.id)
