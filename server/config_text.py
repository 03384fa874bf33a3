"""Reading a project configuration sent as YAML (or JSON) text, safely."""

from __future__ import annotations

from typing import Any

import yaml

MAX_CONFIG_TEXT_BYTES = 1_000_000
MAX_YAML_ALIASES = 100


class ConfigTextError(ValueError):
    """The text is not a usable configuration; the message says why."""


def load_config_text(text: str) -> Any:
    """Parse YAML text with bounds: size, and aliases (against "billion laughs" bombs)."""
    size = len(text.encode("utf-8", errors="replace"))
    if size > MAX_CONFIG_TEXT_BYTES:
        raise ConfigTextError(
            f"configuration text is {size} bytes; the limit is {MAX_CONFIG_TEXT_BYTES} bytes"
        )
    try:
        aliases = sum(isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader))
        if aliases > MAX_YAML_ALIASES:
            raise ConfigTextError(
                f"configuration YAML uses {aliases} aliases; the limit is {MAX_YAML_ALIASES}"
            )
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigTextError(f"configuration is not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigTextError("configuration YAML is nested too deeply") from None
