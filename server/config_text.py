"""Reading a project configuration sent as YAML (or JSON) text, safely."""

from __future__ import annotations

import datetime
import math
from typing import Any

import yaml

MAX_CONFIG_TEXT_BYTES = 1_000_000
MAX_YAML_ALIASES = 100
MAX_CONFIG_VALUES = 200_000  # values after aliases are expanded: a 1 MB config holds far fewer


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
        aliases = sum(
            isinstance(e, yaml.AliasEvent) for e in yaml.parse(text, Loader=yaml.SafeLoader)
        )
        if aliases > MAX_YAML_ALIASES:
            raise ConfigTextError(
                f"configuration YAML uses {aliases} aliases; the limit is {MAX_YAML_ALIASES}"
            )
        config = yaml.safe_load(text)
        _check_expanded_size(config)
        return _json_compatible(config, "")
    except yaml.YAMLError as exc:
        raise ConfigTextError(f"configuration is not valid YAML: {exc}") from None
    except RecursionError:
        raise ConfigTextError("configuration YAML is nested too deeply") from None


def _check_expanded_size(config: Any) -> None:
    """Refuse YAML whose aliases multiply into more values than any real config has.

    A few aliases nested inside each other ("billion laughs") stay tiny as YAML
    but expand exponentially once written out as JSON.
    """
    count = 0
    stack = [config]
    while stack:
        value = stack.pop()
        count += 1
        if count > MAX_CONFIG_VALUES:
            raise ConfigTextError(
                "configuration YAML expands through its aliases to more values than the "
                f"limit of {MAX_CONFIG_VALUES}"
            )
        if isinstance(value, dict):
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)


def _json_compatible(value: Any, path: str) -> Any:
    """YAML's extra types made JSON-ready, the way the SDK's OmegaConf reads them.

    Dates stay the text they were written as and keys become strings; binary
    data, sets and non-finite numbers have no JSON form and are refused by path.
    """
    where = path or "the configuration"
    if isinstance(value, dict):
        return {
            str(k): _json_compatible(v, f"{path}.{k}" if path else str(k)) for k, v in value.items()
        }
    if isinstance(value, list):
        return [_json_compatible(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, datetime.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigTextError(f"{where}: {value} is not a finite number")
    if isinstance(value, bytes):
        raise ConfigTextError(f"{where}: binary values (!!binary) are not supported")
    if isinstance(value, set):
        raise ConfigTextError(f"{where}: sets (!!set) are not supported; use a list")
    return value
