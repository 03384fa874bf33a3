"""Textual widgets of the Realtime Distiller app.

They show data and post messages; they import nothing of this project except
``protocol`` event types, so they can be tested (and reused) on their own.
"""

from widgets.config_view import ConfigView
from widgets.conversation import AgentAnswer, ConversationView, TurnView, UserMessage
from widgets.diff_view import DiffView, unified_diff
from widgets.input_bar import InputBar
from widgets.level_meter import LevelMeter
from widgets.model_status import ModelStatus
from widgets.project_browser import ProjectBrowser, ProjectInfo, Selection
from widgets.role_colors import role_class
from widgets.status_bar import StatusBar

__all__ = [
    "AgentAnswer",
    "ConfigView",
    "ConversationView",
    "DiffView",
    "InputBar",
    "LevelMeter",
    "ModelStatus",
    "ProjectBrowser",
    "ProjectInfo",
    "Selection",
    "StatusBar",
    "TurnView",
    "UserMessage",
    "role_class",
    "unified_diff",
]
