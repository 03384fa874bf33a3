"""LLM providers behind one streaming interface, chosen per agent by ``llm_config.provider``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from server.llm.base import (
    DEFAULT_MAX_TOKENS,
    DEFAULT_TEMPERATURE,
    DEFAULT_TIMEOUT_S,
    LLMError,
    LLMProvider,
    LLMSettings,
)
from server.llm.gguf import LLM_INSTALL_HINT

__all__ = ["LLMError", "LLMProvider", "LLMSettings", "ProviderFactory", "resolve_settings"]

_KNOWN_KEYS = {
    "provider",
    "model",
    "base_url",
    "api_key_env",
    "max_tokens",
    "temperature",
    "timeout_s",
}


def resolve_settings(
    base: dict[str, Any], agent: dict[str, Any], default_provider: str
) -> LLMSettings:
    """The agent's ``llm_config`` over the project's ``base_config.llm_config``."""
    merged = {**base, **agent}
    return LLMSettings(
        provider=str(merged.get("provider") or default_provider),
        model=str(merged.get("model") or ""),
        base_url=str(merged.get("base_url") or ""),
        api_key_env=str(merged.get("api_key_env") or ""),
        max_tokens=int(merged.get("max_tokens", DEFAULT_MAX_TOKENS)),
        temperature=float(merged.get("temperature", DEFAULT_TEMPERATURE)),
        timeout_s=float(merged.get("timeout_s", DEFAULT_TIMEOUT_S)),
        extra={k: v for k, v in merged.items() if k not in _KNOWN_KEYS},
    )


class ProviderFactory:
    """Builds providers; the embedded one shares the process-wide model registry."""

    def __init__(self, embedded: Callable[[LLMSettings], LLMProvider] | None) -> None:
        self._embedded = embedded

    def get(self, settings: LLMSettings) -> LLMProvider:
        if settings.provider == "echo":
            from server.llm.echo import EchoProvider

            return EchoProvider(settings)
        if settings.provider == "openai":
            from server.llm.openai import OpenAIProvider

            return OpenAIProvider(settings)
        if settings.provider == "embedded":
            if self._embedded is None:
                raise LLMError(
                    f"the embedded LLM is not available in this server ({LLM_INSTALL_HINT})"
                )
            return self._embedded(settings)
        raise LLMError(f"unknown LLM provider '{settings.provider}'")
