"""A project configuration, validated into typed specs.

One validator serves `/distiller/create` and `/distiller/config/validate`, so
what the server accepts is exactly what it can run. Every error names its key
path (``super_agents[0].config.agent_list[1].next_step[0]: unknown agent 'Foo'``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from server.config_check import Checker, kind_of
from server.llm import base as llm_defaults
from server.speech_config import SpeechSpec, check_speech

LLM_AGENT_CLASSES = ("LLMAgent", "SearchAgent", "AuthorAgent", "PlanningAgent", "ResearchAgent")
CLIENT_AGENT_CLASSES = ("CustomAgent",)
UTILITY_AGENT_CLASSES = LLM_AGENT_CLASSES + CLIENT_AGENT_CLASSES
SUPER_AGENT_CLASSES = ("FlowSuperAgent",)
LLM_PROVIDERS = llm_defaults.PROVIDERS
MAX_CONFIG_BYTES = 1_000_000
MAX_AGENTS = 200


class ConfigInvalid(ValueError):
    """The configuration breaks one or more rules; ``errors`` lists each with its key path."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True, slots=True)
class AgentSpec:
    name: str
    agent_class: str
    description: str
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def runs_on_client(self) -> bool:
        return self.agent_class in CLIENT_AGENT_CLASSES


@dataclass(frozen=True, slots=True)
class FlowSpec:
    """A FlowSuperAgent: a DAG of utility agents."""

    name: str
    description: str
    goal: str
    steps: tuple[str, ...]  # agent_list order
    successors: dict[str, tuple[str, ...]]

    def predecessors(self, agent: str) -> tuple[str, ...]:
        return tuple(s for s in self.steps if agent in self.successors.get(s, ()))

    def order(self) -> tuple[str, ...]:
        """Topological order, ties broken by agent_list order (deterministic)."""
        remaining = {s: len(self.predecessors(s)) for s in self.steps}
        done: list[str] = []
        while remaining:
            ready = next(s for s in self.steps if remaining.get(s) == 0)
            done.append(ready)
            del remaining[ready]
            for nxt in self.successors.get(ready, ()):
                if nxt in remaining:
                    remaining[nxt] -= 1
        return tuple(done)


@dataclass(frozen=True, slots=True)
class ProjectSpec:
    orchestrator: tuple[str, ...]
    utility_agents: dict[str, AgentSpec]
    flows: dict[str, FlowSpec]
    base_llm: dict[str, Any]
    speech: SpeechSpec
    has_speech_config: bool

    @property
    def agent_names(self) -> list[str]:
        return [*self.utility_agents, *self.flows]

    def description_of(self, name: str) -> str:
        if name in self.utility_agents:
            return self.utility_agents[name].description
        return self.flows[name].description


_LLM_NUMBERS = (  # key, default, lowest, highest
    ("max_tokens", llm_defaults.DEFAULT_MAX_TOKENS, 1, 4096),
    ("temperature", llm_defaults.DEFAULT_TEMPERATURE, 0, 2),
    ("timeout_s", llm_defaults.DEFAULT_TIMEOUT_S, 0.1, 600),
)


def _check_llm_config(check: Checker, value: Any, path: str) -> dict[str, Any]:
    llm = check.mapping(value, path, required=False)
    if "provider" in llm:
        check.choice(
            llm["provider"], f"{path}.provider", llm_defaults.DEFAULT_PROVIDER, LLM_PROVIDERS
        )
    if llm.get("provider") == "openai" and not isinstance(llm.get("model"), str):
        check.fail(f"{path}.model", "the openai provider needs a model name")
    for key in ("model", "base_url", "api_key_env"):
        if key in llm and not isinstance(llm[key], str):
            check.fail(f"{path}.{key}", f"must be a string, not {kind_of(llm[key])}")
    for key, default, low, high in _LLM_NUMBERS:
        if key in llm:
            check.number(llm[key], f"{path}.{key}", default, low, high, integer=key == "max_tokens")
    return llm


def _find_cycle(steps: tuple[str, ...], successors: dict[str, tuple[str, ...]]) -> list[str]:
    """Members of one cycle in the graph, in order, or [] if it is a DAG."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
    stack: list[str] = []

    def visit(node: str) -> list[str]:
        state[node] = 1
        stack.append(node)
        for nxt in successors.get(node, ()):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return []

    for step in steps:
        if step not in state:
            found = visit(step)
            if found:
                return found
    return []


def _check_flow(
    check: Checker, index: int, entry: dict[str, Any], name: str, utility: dict[str, AgentSpec]
) -> FlowSpec:
    path = f"super_agents[{index}].config"
    config = check.mapping(entry.get("config"), path)
    goal = check.text(config.get("goal"), f"{path}.goal", required=False)
    vertices = check.sequence(config.get("agent_list"), f"{path}.agent_list")
    if not vertices and isinstance(config.get("agent_list"), list):
        check.fail(f"{path}.agent_list", "must name at least one agent")
    steps: list[str] = []
    raw_successors: list[tuple[int, str, list[Any]]] = []
    for i, vertex in enumerate(vertices):
        vpath = f"{path}.agent_list[{i}]"
        vertex = check.mapping(vertex, vpath)
        step = check.agent_name(vertex.get("agent_name"), f"{vpath}.agent_name")
        if step is None:
            continue
        if step not in utility:
            check.fail(f"{vpath}.agent_name", f"unknown agent '{step}'")
        elif step in steps:
            check.fail(f"{vpath}.agent_name", f"agent '{step}' is listed twice in this flow")
            continue
        steps.append(step)
        raw_successors.append(
            (i, step, check.sequence(vertex.get("next_step"), f"{vpath}.next_step", required=False))
        )
    successors: dict[str, tuple[str, ...]] = {}
    for i, step, targets in raw_successors:
        valid: list[str] = []
        for j, target in enumerate(targets):
            tpath = f"{path}.agent_list[{i}].next_step[{j}]"
            if not isinstance(target, str):
                check.fail(tpath, f"must be an agent name, not {kind_of(target)}")
            elif target not in utility:
                check.fail(tpath, f"unknown agent '{target}'")
            elif target not in steps:
                check.fail(tpath, f"agent '{target}' is not in this flow's agent_list")
            else:
                valid.append(target)
        successors[step] = tuple(dict.fromkeys(valid))
    cycle = _find_cycle(tuple(steps), successors)
    if cycle:
        check.fail(
            f"{path}.agent_list",
            "the flow is not a DAG: cycle " + " -> ".join(f"'{c}'" for c in cycle),
        )
        successors = {}
    return FlowSpec(
        name=name,
        description=str(entry.get("agent_description") or ""),
        goal=goal,
        steps=tuple(steps),
        successors=successors,
    )


def _agent_entry(
    check: Checker, entry: Any, path: str, classes: tuple[str, ...], kind: str
) -> tuple[str | None, str, bool] | None:
    """An agent entry's name and class, checked: (name, class, class supported)."""
    if not isinstance(entry, dict):
        check.mapping(entry, path)
        return None
    name = check.agent_name(entry.get("agent_name"), f"{path}.agent_name")
    agent_class = entry.get("agent_class")
    supported = agent_class in classes
    if not supported:
        check.fail(
            f"{path}.agent_class",
            f"unsupported {kind} {agent_class!r}; supported: " + ", ".join(classes),
        )
    return name, str(agent_class), supported


def _claim_name(check: Checker, seen: dict[str, str], name: str | None, path: str) -> bool:
    """Record an agent name; False (with an error) if it is missing or already taken."""
    if name is None:
        return False
    if name in seen:
        check.fail(f"{path}.agent_name", f"duplicate agent name '{name}' (also {seen[name]})")
        return False
    seen[name] = path
    return True


def validate_config(config: Any) -> ProjectSpec:
    """Check a project configuration; raise `ConfigInvalid` listing every problem."""
    check = Checker()
    if not isinstance(config, dict):
        raise ConfigInvalid([f"the configuration must be a mapping, not {kind_of(config)}"])
    size = len(json.dumps(config, ensure_ascii=False).encode())
    if size > MAX_CONFIG_BYTES:
        raise ConfigInvalid(
            [f"the configuration is {size} bytes; the limit is {MAX_CONFIG_BYTES} bytes"]
        )
    utility_list = check.sequence(config.get("utility_agents"), "utility_agents", required=False)
    super_list = check.sequence(config.get("super_agents"), "super_agents", required=False)
    if len(utility_list) + len(super_list) > MAX_AGENTS:
        raise ConfigInvalid(
            [
                f"the configuration defines {len(utility_list) + len(super_list)} agents; "
                f"the limit is {MAX_AGENTS}"
            ]
        )

    seen: dict[str, str] = {}
    utility: dict[str, AgentSpec] = {}
    for i, entry in enumerate(utility_list):
        path = f"utility_agents[{i}]"
        head = _agent_entry(check, entry, path, UTILITY_AGENT_CLASSES, "agent class")
        if head is None:
            continue
        name, agent_class, _ = head
        agent_config = check.mapping(entry.get("config"), f"{path}.config", required=False)
        _check_llm_config(check, agent_config.get("llm_config"), f"{path}.config.llm_config")
        if not _claim_name(check, seen, name, path):
            continue
        utility[name] = AgentSpec(
            name=name,
            agent_class=str(agent_class),
            description=str(entry.get("agent_description") or ""),
            config=agent_config,
        )

    flows: dict[str, FlowSpec] = {}
    for i, entry in enumerate(super_list):
        path = f"super_agents[{i}]"
        head = _agent_entry(check, entry, path, SUPER_AGENT_CLASSES, "super agent class")
        if head is None or not head[2]:
            continue
        name = head[0]
        if not _claim_name(check, seen, name, path):
            continue
        flows[name] = _check_flow(check, i, entry, name, utility)

    orchestrator = check.mapping(config.get("orchestrator"), "orchestrator")
    routes: list[str] = []
    agent_list = (
        check.sequence(orchestrator.get("agent_list"), "orchestrator.agent_list")
        if isinstance(config.get("orchestrator"), dict)
        else []
    )
    if orchestrator and isinstance(orchestrator.get("agent_list"), list) and not agent_list:
        check.fail("orchestrator.agent_list", "must name at least one agent")
    for i, entry in enumerate(agent_list):
        path = f"orchestrator.agent_list[{i}]"
        entry = check.mapping(entry, path)
        name = (
            check.agent_name(entry.get("agent_name"), f"{path}.agent_name")
            if isinstance(agent_list[i], dict)
            else None
        )
        if name is None:
            continue
        if name not in utility and name not in flows:
            check.fail(f"{path}.agent_name", f"unknown agent '{name}'")
        elif name not in routes:
            routes.append(name)

    base = check.mapping(config.get("base_config"), "base_config", required=False)
    base_llm = _check_llm_config(check, base.get("llm_config"), "base_config.llm_config")
    speech = check_speech(check, config.get("speech_config"))
    if check.errors:
        raise ConfigInvalid(check.errors)
    return ProjectSpec(
        orchestrator=tuple(routes),
        utility_agents=utility,
        flows=flows,
        base_llm=base_llm,
        speech=speech,
        has_speech_config="speech_config" in config,
    )
