"""Modal screens: view a config, diff two versions, create a project, past conversations."""

from app.screens.config_screen import ConfigScreen
from app.screens.conversations_screen import ConversationsScreen
from app.screens.create_screen import CreateProjectScreen
from app.screens.diff_screen import DiffScreen

__all__ = ["ConfigScreen", "ConversationsScreen", "CreateProjectScreen", "DiffScreen"]
