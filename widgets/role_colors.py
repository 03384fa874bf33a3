"""A stable colour class per agent role.

The colour must not change between runs or between turns, so a user learns
which colour is which agent; Python's ``hash`` is salted per process, so we
use CRC-32 of the role name instead. The colours themselves live in the
stylesheet as ``.role-0`` … ``.role-7``.
"""

from __future__ import annotations

import zlib

ROLE_PALETTE_SIZE = 8


def role_class(role: str) -> str:
    """The CSS class (``role-N``) that colours this role's tag and border."""
    return f"role-{zlib.crc32(role.encode('utf-8')) % ROLE_PALETTE_SIZE}"
