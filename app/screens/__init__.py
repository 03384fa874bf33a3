"""Modal screens: view a config, diff two versions, create a project."""

from app.screens.config_screen import ConfigScreen
from app.screens.create_screen import CreateProjectScreen
from app.screens.diff_screen import DiffScreen

__all__ = ["ConfigScreen", "CreateProjectScreen", "DiffScreen"]
