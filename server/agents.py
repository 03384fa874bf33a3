"""Running one agent of a project: an LLM agent on the server, or a custom agent on the client."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from protocol import events
from server.agent_output import AgentOutput
from server.llm import LLMError, LLMSettings, ProviderFactory, resolve_settings
from server.llm.base import HistoryTurn, LLMRequest
from server.project import AgentSpec, ProjectSpec


class ExecutorBroker:
    """Round trips to the client's ``executor_dict``: request out, result back by id."""

    def __init__(self, send: Callable[[events.ServerEvent], Awaitable[None]]) -> None:
        self._send = send
        self._pending: dict[str, asyncio.Future[str]] = {}
        self._expired: set[str] = set()
        self._counter = itertools.count(1)

    async def call(self, role: str, kwargs: dict[str, object], timeout_s: float) -> str:
        request_id = f"req_{next(self._counter)}_{secrets.token_hex(4)}"
        future: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await self._send(
                events.ExecutorRequest(role=role, request_id=request_id, kwargs=kwargs)
            )
            return await asyncio.wait_for(future, timeout_s)
        except TimeoutError:
            self._expired.add(request_id)
            raise
        finally:
            self._pending.pop(request_id, None)

    def resolve(self, result: events.ExecutorResult) -> str | None:
        """Deliver a result; returns a problem description if it matches no request."""
        future = self._pending.get(result.request_id)
        if future is None:
            if result.request_id in self._expired:
                self._expired.discard(result.request_id)
                return None  # arrived after its timeout: the agent already moved on
            return f"executor result for unknown request_id '{result.request_id}'"
        if not future.done():
            future.set_result(result.content)
        return None

    def cancel_all(self) -> None:
        for future in self._pending.values():
            future.cancel()


@dataclass(slots=True)
class AgentContext:
    """What every agent of one session shares."""

    project: ProjectSpec
    providers: ProviderFactory
    default_provider: str
    executors: ExecutorBroker
    executor_timeout_s: float
    history: list[HistoryTurn]


def instructions_for(agent: AgentSpec, goal: str = "") -> str:
    """An LLM agent's instructions: description, configured instructions, the flow's goal."""
    parts = [agent.description]
    for key in ("instructions", "system_prompt", "goal"):
        value = agent.config.get(key)
        if isinstance(value, str):
            parts.append(value)
    if goal:
        parts.append(f"The team's goal: {goal}")
    return "\n".join(p for p in parts if p)


def _llm_request(
    ctx: AgentContext,
    agent: AgentSpec,
    query: str,
    context: tuple[tuple[str, str], ...],
    goal: str,
) -> tuple[LLMSettings, LLMRequest]:
    settings = resolve_settings(
        ctx.project.base_llm, _agent_llm_config(agent), ctx.default_provider
    )
    request = LLMRequest(
        agent_name=agent.name,
        instructions=instructions_for(agent, goal),
        query=query,
        history=tuple(ctx.history[-12:]),
        context=context,
        max_tokens=settings.max_tokens,
        temperature=settings.temperature,
    )
    return settings, request


async def warm_agent(ctx: AgentContext, agent: AgentSpec, goal: str = "") -> None:
    """Let ``agent``'s model get ready for the next question while the user asks it (best
    effort: a failure here is reported, if at all, by the answer itself)."""
    if agent.runs_on_client:
        return
    settings, request = _llm_request(ctx, agent, "", (), goal)
    with contextlib.suppress(LLMError):  # e.g. an unknown provider: the answer will say so
        await ctx.providers.get(settings).warm(request)


async def run_agent(
    ctx: AgentContext,
    agent: AgentSpec,
    query: str,
    context: tuple[tuple[str, str], ...],
    output: AgentOutput,
    goal: str = "",
) -> None:
    """Produce ``agent``'s answer into ``output``; failures become a clear text, not a crash."""
    if agent.runs_on_client:
        kwargs: dict[str, object] = {"query": query}
        if context:
            kwargs["context"] = {name: text for name, text in context}
        try:
            content = await ctx.executors.call(agent.name, kwargs, ctx.executor_timeout_s)
        except TimeoutError:
            message = (
                f"{agent.name} did not answer within {ctx.executor_timeout_s:g} s "
                "(is it registered in the client's executor_dict?)"
            )
            output.append(message)
            output.finish(error=message)
            return
        output.append(content)
        output.finish()
        return
    settings, request = _llm_request(ctx, agent, query, context, goal)
    try:
        provider = ctx.providers.get(settings)
        async for piece in provider.stream(request):
            output.append(piece)
    except LLMError as exc:
        message = f"{agent.name} could not answer: {exc}"
        output.append(("\n" if output.pieces else "") + message)
        output.finish(error=str(exc))
        return
    output.finish()


def _agent_llm_config(agent: AgentSpec) -> dict[str, object]:
    value = agent.config.get("llm_config")
    return value if isinstance(value, dict) else {}
