"""Where a realtime session connects: the project version as wire text, and the URL."""

from __future__ import annotations

from urllib.parse import quote

__all__ = ["project_version_text", "realtime_url"]


def project_version_text(version: object) -> str | None:
    """``None`` or a non-negative integer (given as int or digits) as wire text."""
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int | str):
        raise ValueError(
            f"project_version must be an integer or a string of digits, not {version!r}"
        )
    text = str(version).strip()
    if not text.isdigit():
        raise ValueError(f"project_version must be a non-negative integer, not {version!r}")
    return str(int(text))


def realtime_url(base_url: str, account: str, project: str, version: str | None, uuid: str) -> str:
    """``ws(s)://host/distiller/realtime/{account}/{project}[:{version}]/{uuid}``."""
    ws_base = "ws" + base_url[len("http") :]  # http -> ws, https -> wss
    target = project if version is None else f"{project}:{version}"
    return f"{ws_base}/distiller/realtime/{quote(account, safe='')}/{target}/{uuid}"
