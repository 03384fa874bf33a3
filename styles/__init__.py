"""The app's Textual stylesheets (.tcss); all styling lives here."""

from pathlib import Path

STYLES_DIR = Path(__file__).parent


def stylesheet(name: str) -> Path:
    """Path of one stylesheet in this folder, e.g. ``stylesheet("app.tcss")``."""
    return STYLES_DIR / name
