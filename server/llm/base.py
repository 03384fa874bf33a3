"""The one streaming interface every LLM provider implements.

An agent turns its configuration, the conversation so far and its
predecessors' outputs into an `LLMRequest`; a provider streams text for it.
Providers differ only in where the text comes from (a deterministic echo, the
embedded GGUF model, an OpenAI-compatible endpoint).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Literal, Protocol

PROVIDERS = ("embedded", "echo", "openai")
DEFAULT_PROVIDER = "embedded"
DEFAULT_MAX_TOKENS = 160
DEFAULT_TEMPERATURE = 0.7
DEFAULT_TIMEOUT_S = 30.0
"""The ``llm_config`` defaults, written once (the project validator and providers use them)."""


class LLMError(RuntimeError):
    """A provider could not produce text; the message says why and how to fix it."""


@dataclass(frozen=True, slots=True)
class HistoryTurn:
    """One earlier turn of the conversation, as the user heard it."""

    role: Literal["user", "assistant"]
    text: str
    agent: str = ""  # which agent spoke an assistant turn
    cut: bool = False  # the user skipped or interrupted it; ``text`` is what was heard


@dataclass(frozen=True, slots=True)
class LLMRequest:
    """Everything a provider needs to answer as one agent."""

    agent_name: str
    instructions: str  # the agent's description and configured goal/instructions
    query: str  # the user's query for this turn
    history: tuple[HistoryTurn, ...] = ()
    context: tuple[tuple[str, str], ...] = ()  # (predecessor agent name, its output)
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = DEFAULT_TEMPERATURE


@dataclass(frozen=True, slots=True)
class LLMSettings:
    """A resolved ``llm_config`` (project base config merged with the agent's)."""

    provider: str = DEFAULT_PROVIDER
    model: str = ""
    base_url: str = ""
    api_key_env: str = ""
    max_tokens: int = DEFAULT_MAX_TOKENS
    temperature: float = DEFAULT_TEMPERATURE
    timeout_s: float = DEFAULT_TIMEOUT_S
    extra: dict[str, object] = field(default_factory=dict)


class LLMProvider(Protocol):
    """Streams an agent's answer. Blocking work must run off the event loop."""

    name: str

    def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        """Yield text pieces as they are generated; raise `LLMError` on failure."""
        ...

    async def choose(self, query: str, options: list[tuple[str, str]]) -> str:
        """Pick the agent (by name) from ``(name, description)`` options for a query."""
        ...

    async def warm(self, request: LLMRequest) -> None:
        """Do now what answering ``request`` needs whatever its query turns out to be (a
        local model reads the conversation so far while the user is still speaking). Best
        effort and never an error; ``request.query`` is empty."""
        ...
