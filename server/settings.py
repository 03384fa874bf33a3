"""Server settings, from the command line and the environment."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from server.llm.base import DEFAULT_PROVIDER

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def default_data_dir() -> Path:
    """The per-user data directory (e.g. ~/.local/share/realtime-distiller)."""
    return Path(platformdirs.user_data_dir("realtime-distiller", appauthor=False))


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True, slots=True)
class Settings:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    data_dir: Path = field(default_factory=default_data_dir)
    api_keys: dict[str, str] = field(default_factory=dict)  # key -> account
    default_provider: str = DEFAULT_PROVIDER
    lazy_models: bool = False
    ping_interval_s: float = 10.0
    executor_timeout_s: float = 30.0
    idle_timeout_s: float = 0.0
    pong_timeout_s: float = 300.0
    store_url: str | None = None  # None: SQLite in data_dir; else sqlite:///... or postgresql://
    drain_timeout_s: float = 30.0  # on SIGTERM: how long running responses may take to finish
    max_speech_sessions: int | None = None  # None: derived from Piper's measured speed
    max_speech_backlog_s: float = 1.0  # refuse new turns while synthesis is this far behind

    @property
    def open_mode(self) -> bool:
        """No keys configured: any non-empty bearer key is the account ``local`` (loopback only)."""
        return not self.api_keys


class SettingsError(ValueError):
    """The settings cannot work; the message says why and what to do."""


def parse_api_keys(entries: list[str]) -> dict[str, str]:
    """``ACCOUNT:KEY`` entries (from flags and DISTILLER_API_KEYS) into key -> account."""
    keys: dict[str, str] = {}
    for entry in entries:
        entry = entry.strip()
        if not entry:
            continue
        account, sep, key = entry.partition(":")
        if not sep or not account or not key:
            raise SettingsError(f"API key entry {entry!r} must look like ACCOUNT:KEY")
        keys[key] = account
    return keys


def keys_from_environment() -> list[str]:
    return [e for e in os.environ.get("DISTILLER_API_KEYS", "").split(",") if e.strip()]


def check_exposure(settings: Settings) -> None:
    """Refuse to serve a non-loopback address without keys: anyone could use it."""
    if settings.open_mode and not is_loopback(settings.host):
        raise SettingsError(
            f"refusing to listen on {settings.host} without API keys: anyone on the network "
            "could use this server. Give --api-key ACCOUNT:KEY (or DISTILLER_API_KEYS), "
            "or listen on 127.0.0.1."
        )
