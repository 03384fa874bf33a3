"""Running the client-side custom agents of ``executor_dict``.

The server asks for a custom agent's result with an executor request; the
client runs the callable registered under that agent's name and answers with
an executor result. Callables may be sync (run in a thread, so a slow tool
never stalls the session) or async (awaited on the loop), and receive only
the keyword arguments their signature accepts, as the published SDK does.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from protocol.events import ExecutorRequest, ExecutorResult

__all__ = ["ExecutorTable", "accepted_kwargs"]

logger = logging.getLogger(__name__)


def accepted_kwargs(func: Callable[..., Any], kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """The subset of ``kwargs`` that ``func`` can take by keyword."""
    try:
        params = inspect.signature(func).parameters.values()
    except (TypeError, ValueError):  # some builtins have no signature: pass everything
        return dict(kwargs)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return dict(kwargs)
    names = {
        p.name
        for p in params
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return {k: v for k, v in kwargs.items() if k in names}


def _is_async(func: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(func) or inspect.iscoroutinefunction(
        getattr(func, "__call__", None)  # noqa: B004 - async callable objects
    )


def _as_content(result: Any) -> str:
    return "" if result is None else result if isinstance(result, str) else str(result)


class ExecutorTable:
    """``executor_dict`` checked up front, and the code that answers requests with it."""

    def __init__(self, executor_dict: Mapping[str, Any] | None) -> None:
        if executor_dict is None:
            executor_dict = {}
        if not isinstance(executor_dict, Mapping):
            raise TypeError(
                "executor_dict must map agent names to callables, "
                f"not {type(executor_dict).__name__}"
            )
        for name, func in executor_dict.items():
            if not isinstance(name, str):
                raise TypeError(f"executor_dict key {name!r} must be an agent name (a string)")
            if not callable(func):
                raise TypeError(
                    f"executor_dict['{name}'] must be callable, not {type(func).__name__}"
                )
        self._funcs: dict[str, Callable[..., Any]] = dict(executor_dict)
        self._running: set[asyncio.Task[None]] = set()

    def start(
        self,
        request: ExecutorRequest,
        send: Callable[[ExecutorResult], Awaitable[None]],
        **identity: str,
    ) -> None:
        """Run a request in the background and send its result (account, project, uuid)."""

        async def answer() -> None:
            await send(await self.run(request, **identity))

        task = asyncio.create_task(answer(), name=f"executor-{request.role}")
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def stop(self) -> None:
        """Cancel the custom agents still running (the session is closing)."""
        for task in self._running:
            task.cancel()
        await asyncio.gather(*self._running, return_exceptions=True)

    async def run(
        self, request: ExecutorRequest, *, account: str, project: str, uuid: str
    ) -> ExecutorResult:
        """Run the callable for ``request.role``; failures become the result's text.

        A failure is answered rather than swallowed, so the server's flow goes
        on and the user sees what broke instead of a response that never ends.
        """
        func = self._funcs.get(request.role)
        if func is None:
            content = (
                f"[custom agent '{request.role}' has no callable in executor_dict; "
                f"registered: {', '.join(sorted(self._funcs)) or 'none'}]"
            )
            logger.warning("executor request for unregistered agent %r", request.role)
        else:
            content = await self._call(func, request.role, accepted_kwargs(func, request.kwargs))
        return ExecutorResult(
            request_id=request.request_id,
            role=request.role,
            content=content,
            account=account,
            project=project,
            uuid=uuid,
        )

    @staticmethod
    async def _call(func: Callable[..., Any], role: str, kwargs: dict[str, Any]) -> str:
        try:
            if _is_async(func):
                result = await func(**kwargs)
            else:
                result = await asyncio.to_thread(func, **kwargs)
                if inspect.isawaitable(result):
                    result = await result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.exception("custom agent %r failed", role)
            return f"[custom agent '{role}' failed: {type(exc).__name__}: {exc}]"
        return _as_content(result)
