"""Collecting a configuration's errors, each with its key path, while walking it.

The validator in `server.project` reports every problem at once (not just the
first), so each check records its error and returns a safe default to go on with.
"""

from __future__ import annotations

from typing import Any

MAX_AGENT_NAME = 100


class Checker:
    """Collects errors with key paths while walking the config."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}" if path else message)

    def mapping(self, value: Any, path: str, *, required: bool = True) -> dict[str, Any]:
        if value is None and not required:
            return {}
        if not isinstance(value, dict):
            self.fail(path, f"must be a mapping, not {kind_of(value)}")
            return {}
        return value

    def sequence(self, value: Any, path: str, *, required: bool = True) -> list[Any]:
        if value is None and not required:
            return []
        if not isinstance(value, list):
            self.fail(path, f"must be a list, not {kind_of(value)}")
            return []
        return value

    def text(self, value: Any, path: str, *, required: bool = True, default: str = "") -> str:
        if value is None and not required:
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            self.fail(path, f"must be a non-empty string, not {kind_of(value)}")
            return default
        return value

    def agent_name(self, value: Any, path: str) -> str | None:
        name = self.text(value, path)
        if not name:
            return None
        if len(name) > MAX_AGENT_NAME:
            self.fail(path, f"agent name is longer than {MAX_AGENT_NAME} characters")
            return None
        if any(ord(c) < 32 for c in name):
            self.fail(path, "agent name contains control characters")
            return None
        return name

    def number(
        self, value: Any, path: str, default: float, low: float, high: float, *, integer: bool
    ) -> Any:
        if value is None:
            return default
        ok_type = isinstance(value, int) if integer else isinstance(value, int | float)
        if isinstance(value, bool) or not ok_type:
            kind = "an integer" if integer else "a number"
            self.fail(path, f"must be {kind}, not {kind_of(value)}")
            return default
        if not low <= value <= high:
            self.fail(path, f"must be between {low:g} and {high:g}, not {value}")
            return default
        return value

    def choice(self, value: Any, path: str, default: str, options: tuple[str, ...]) -> str:
        if value is None:
            return default
        if value not in options:
            self.fail(path, f"unsupported value {value!r}; supported: {', '.join(options)}")
            return default
        return value


def kind_of(value: Any) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "null"}.get(
        type(value), type(value).__name__
    )
