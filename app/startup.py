"""Reaching an engine: start the embedded one (or take ``--server``), then watch its models.

Runs in the app's start-up worker and reports by messages, so the App only
lays out what it hears. The embedded engine is a child process
(`app.engine.EngineProcess`); a remote server is checked before the app says
it is ready, so an unreachable ``--server`` is an error, not an empty list.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import httpx
from textual.message import Message

from app.engine import LOCAL_API_KEY, EngineError, EngineProcess
from app.launch import LaunchOptions
from app.messages import EngineFailed, EngineReady, ModelStates
from protocol.client import AsyncDistillerClient, DistillerError

HEALTH_POLL_SECONDS = 1.0


class EngineLink:
    """The engine the app talks to, and its child process when it is the embedded one."""

    def __init__(self, options: LaunchOptions, data_dir: Path, api_key: str | None) -> None:
        self.options = options
        self.data_dir = data_dir
        self._api_key = api_key
        self.process: EngineProcess | None = None

    async def start(self, post: Callable[[Message], object]) -> AsyncDistillerClient | None:
        """Start or reach the engine; posts `EngineReady` or `EngineFailed`."""
        options = self.options
        if options.server_url is None:
            self.process = EngineProcess(self.data_dir, extra_args=options.engine_args)
            self.process.spawn()
            try:
                states = await self.process.wait_ready(options.startup_timeout)
            except EngineError as exc:
                post(EngineFailed(str(exc)))
                return None
            post(ModelStates(states))
            base_url, api_key = self.process.base_url, self._api_key or LOCAL_API_KEY
        else:
            base_url, api_key = options.server_url, self._api_key or ""
        try:
            client = AsyncDistillerClient(api_key=api_key or None, base_url=base_url)
            await asyncio.to_thread(client.realtime_distiller.list_projects)
        except (ValueError, DistillerError) as exc:
            post(EngineFailed(str(exc)))
            return None
        post(EngineReady(client, embedded=self.process is not None))
        return client

    async def watch_models(self, post: Callable[[Message], object]) -> None:
        """Poll ``/healthz`` and post each change; the app cancels this once models settle."""
        process = self.process
        if process is None:
            return
        last: dict[str, str] | None = None
        async with httpx.AsyncClient() as client:
            while True:
                await asyncio.sleep(HEALTH_POLL_SECONDS)
                states = await process.health(client)
                if states is not None and states != last:
                    last = states
                    post(ModelStates(states))

    def stop(self) -> None:
        """Ask the embedded engine to stop; quitting does not wait for its shutdown."""
        if self.process is not None:
            self.process.stop(wait=False)
