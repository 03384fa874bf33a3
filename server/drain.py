"""Graceful stop on SIGTERM: stop taking sessions, let running answers finish, then exit.

A load balancer takes the replica out as soon as ``/healthz`` says ``draining``
(503), and new WebSocket handshakes get an HTTP 503 it can retry on another
replica. Responses already running get up to ``drain_timeout_s`` to finish;
then uvicorn's normal shutdown closes what is left (code 1012, "service
restart"), and clients reconnect through the load balancer. A second SIGTERM,
or SIGINT, stops at once.
"""

from __future__ import annotations

import logging
import signal
import time
from collections.abc import Callable
from types import FrameType

import uvicorn

log = logging.getLogger(__name__)


class Drain:
    """Whether this replica is draining, and until when it may wait."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.started_at: float | None = None

    @property
    def draining(self) -> bool:
        return self.started_at is not None

    def begin(self) -> None:
        if self.started_at is None:
            self.started_at = time.monotonic()
            log.warning("draining: no new sessions; waiting up to %gs for answers", self.timeout_s)

    def finished(self, busy_sessions: int) -> bool:
        """True once no response is running, or the time is up."""
        if self.started_at is None:
            return False
        if busy_sessions == 0:
            return True
        if time.monotonic() - self.started_at >= self.timeout_s:
            log.error("draining: %d answer(s) still running at the deadline", busy_sessions)
            return True
        return False


class DrainingServer(uvicorn.Server):
    """uvicorn, except that the first SIGTERM drains before the usual shutdown."""

    def __init__(self, config: uvicorn.Config, drain: Drain, busy: Callable[[], int]) -> None:
        super().__init__(config)
        self.drain = drain
        self.busy = busy

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig == signal.SIGTERM and not self.drain.draining:
            self._captured_signals.append(sig)
            self.drain.begin()
            return
        super().handle_exit(sig, frame)

    async def on_tick(self, counter: int) -> bool:
        if self.drain.finished(self.busy()):
            return True
        return await super().on_tick(counter)
