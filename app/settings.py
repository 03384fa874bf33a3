"""The user's settings file: theme, default server, audio devices, key bindings.

YAML in the user's config directory (``DISTILLER_CONFIG`` overrides the path).
A missing file means defaults; a broken one is an error that names the key,
because silently ignoring a typo in a key binding is worse than refusing.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs
import yaml

CONFIG_ENV = "DISTILLER_CONFIG"
APP_NAME = "realtime-distiller"


class SettingsError(ValueError):
    """The settings file is unreadable or has a bad value; the message names it."""


@dataclass(frozen=True)
class AppSettings:
    theme: str | None = None
    server_url: str | None = None
    api_key: str | None = None
    data_dir: Path | None = None
    input_device: str | int | None = None
    output_device: str | int | None = None
    echo_cancellation: bool = True
    """Clean the assistant's voice out of the mic (WebRTC AEC3); ``--no-aec`` turns it off."""
    keymap: dict[str, str] = field(default_factory=dict)
    path: Path | None = None


def default_config_path() -> Path:
    override = os.environ.get(CONFIG_ENV)
    if override:
        return Path(override).expanduser()
    return Path(platformdirs.user_config_dir(APP_NAME)) / "config.yaml"


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME))


def _expect(value: Any, kinds: tuple[type, ...], where: str, path: Path) -> Any:
    if value is not None and not isinstance(value, kinds):
        names = " or ".join(k.__name__ for k in kinds)
        raise SettingsError(f"{path}: '{where}' must be {names}, not {type(value).__name__}")
    return value


def load_settings(path: Path | None = None) -> AppSettings:
    """Read the settings file; defaults if it does not exist."""
    path = path or default_config_path()
    if not path.exists():
        return AppSettings(path=path)
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise SettingsError(f"{path}: cannot read settings ({exc})") from None
    if raw is None:
        return AppSettings(path=path)
    if not isinstance(raw, dict):
        raise SettingsError(f"{path}: the settings file must be a mapping of keys to values")
    known = {"theme", "server", "data_dir", "audio", "bindings"}
    unknown = sorted(set(raw) - known)
    if unknown:
        raise SettingsError(
            f"{path}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    server = _expect(raw.get("server"), (dict,), "server", path) or {}
    audio = _expect(raw.get("audio"), (dict,), "audio", path) or {}
    bindings = _expect(raw.get("bindings"), (dict,), "bindings", path) or {}
    keymap: dict[str, str] = {}
    for binding_id, keys in bindings.items():
        _expect(keys, (str,), f"bindings.{binding_id}", path)
        keymap[str(binding_id)] = keys
    data_dir = _expect(raw.get("data_dir"), (str,), "data_dir", path)
    return AppSettings(
        theme=_expect(raw.get("theme"), (str,), "theme", path),
        server_url=_expect(server.get("url"), (str,), "server.url", path),
        api_key=_expect(server.get("api_key"), (str,), "server.api_key", path),
        data_dir=Path(data_dir).expanduser() if data_dir else None,
        input_device=_expect(audio.get("input_device"), (str, int), "audio.input_device", path),
        output_device=_expect(audio.get("output_device"), (str, int), "audio.output_device", path),
        echo_cancellation=_expect(
            audio.get("echo_cancellation", True), (bool,), "audio.echo_cancellation", path
        ),
        keymap=keymap,
        path=path,
    )
