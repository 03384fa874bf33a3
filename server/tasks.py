"""Stopping asyncio tasks for sure."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)


async def cancel_and_wait(tasks: list[asyncio.Task[Any]], attempts: int = 5) -> None:
    """Cancel tasks and wait until they are done, cancelling again if one is lost.

    On Python 3.11 ``asyncio.wait_for`` can swallow a cancellation that lands
    just as its inner wait finishes; a task that then loops on would keep its
    session alive forever, so a cancel is repeated until it takes.
    """
    pending = {t for t in tasks if not t.done()}
    for _ in range(attempts):
        if not pending:
            return
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.5)
    if pending:
        log.error("tasks would not stop: %s", [t.get_name() for t in pending])
