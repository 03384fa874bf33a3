"""The echo provider: deterministic text with no model, for tests, demos and client developers."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

from server.llm.base import LLMRequest, LLMSettings

_WORD = re.compile(r"\w+")


class EchoProvider:
    """Streams the user's query back word by word.

    ``llm_config.word_delay_ms`` (default 0) spaces the words out, so a client
    can see streaming and test skipping mid-answer.
    """

    name = "echo"

    def __init__(self, settings: LLMSettings) -> None:
        delay = settings.extra.get("word_delay_ms", 0)
        self.word_delay_s = float(delay) / 1000 if isinstance(delay, int | float) else 0.0

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        words = request.query.split()
        for i, word in enumerate(words):
            if self.word_delay_s and i:
                await asyncio.sleep(self.word_delay_s)
            yield word if i == 0 else " " + word

    async def warm(self, request: LLMRequest) -> None:
        """Nothing to get ready."""

    async def choose(self, query: str, options: list[tuple[str, str]]) -> str:
        """The first option whose name or description shares a word with the query."""
        query_words = {w.lower() for w in _WORD.findall(query)}
        for name, description in options:
            if query_words & {w.lower() for w in _WORD.findall(f"{name} {description}")}:
                return name
        return options[0][0]
