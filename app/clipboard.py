"""Copy text to the clipboard, with a file fallback where the terminal has none.

Textual's ``copy_to_clipboard`` uses OSC 52, which many terminals (and tmux
without ``set-clipboard``) ignore silently; so we also write the text to a
file the user can open, and say where.
"""

from __future__ import annotations

from pathlib import Path

from textual.app import App


def copy_text(app: App[object], text: str, fallback_dir: Path) -> Path:
    """Send ``text`` to the terminal clipboard and save it; returns the saved file."""
    app.copy_to_clipboard(text)
    fallback_dir.mkdir(parents=True, exist_ok=True)
    path = fallback_dir / "clipboard.txt"
    path.write_text(text, encoding="utf-8")
    return path
