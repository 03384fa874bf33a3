"""Routing a query to an agent, and turning the chosen agent into a plan of steps."""

from __future__ import annotations

from server.llm import LLMError, ProviderFactory, resolve_settings
from server.project import ProjectSpec
from server.query import Step


async def route(
    project: ProjectSpec, query: str, providers: ProviderFactory, default_provider: str
) -> str:
    """The orchestrator's choice: its only agent, or the LLM's pick by description."""
    if len(project.orchestrator) == 1:
        return project.orchestrator[0]
    options = [(name, project.description_of(name)) for name in project.orchestrator]
    settings = resolve_settings(project.base_llm, {}, default_provider)
    try:
        choice = await providers.get(settings).choose(query, options)
    except LLMError:
        return options[0][0]
    return choice if choice in project.orchestrator else options[0][0]


def plan_for(project: ProjectSpec, target: str) -> tuple[list[Step], str]:
    """The steps that answer through ``target`` in presentation order, and the flow's goal."""
    flow = project.flows.get(target)
    if flow is None:
        return [Step(target)], ""
    return [Step(agent, flow.predecessors(agent)) for agent in flow.order()], flow.goal
