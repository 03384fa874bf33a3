"""The openai provider: any OpenAI-compatible chat-completions endpoint, streamed.

Works with Ollama, vLLM, llama.cpp's server or OpenAI itself. The API key is
read from the environment variable named by ``api_key_env``, never from the
project file.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator

import httpx

from server.llm.base import LLMError, LLMRequest, LLMSettings
from server.llm.prompting import chat_messages, pick_choice


class OpenAIProvider:
    name = "openai"

    def __init__(self, settings: LLMSettings) -> None:
        self.settings = settings
        self.base_url = (settings.base_url or "http://127.0.0.1:11434/v1").rstrip("/")

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json"}
        if self.settings.api_key_env:
            key = os.environ.get(self.settings.api_key_env)
            if not key:
                raise LLMError(
                    f"environment variable {self.settings.api_key_env} (api_key_env) is not set"
                )
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def _chat(self, messages: list[dict[str, str]], max_tokens: int) -> AsyncIterator[str]:
        body = {
            "model": self.settings.model,
            "messages": messages,
            "stream": True,
            "max_tokens": max_tokens,
            "temperature": self.settings.temperature,
        }
        url = f"{self.base_url}/chat/completions"
        timeout = httpx.Timeout(self.settings.timeout_s, connect=min(5.0, self.settings.timeout_s))
        try:
            async with (
                httpx.AsyncClient(timeout=timeout) as client,
                client.stream("POST", url, json=body, headers=self._headers()) as response,
            ):
                if response.status_code >= 400:
                    detail = (await response.aread()).decode(errors="replace")[:300]
                    raise LLMError(f"LLM endpoint {url} answered {response.status_code}: {detail}")
                async for line in response.aiter_lines():
                    piece = _delta_of(line)
                    if piece is None:
                        break
                    if piece:
                        yield piece
        except httpx.TimeoutException:
            raise LLMError(
                f"LLM endpoint {url} did not answer within {self.settings.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise LLMError(f"LLM endpoint {url} is unreachable: {exc}") from None

    async def stream(self, request: LLMRequest) -> AsyncIterator[str]:
        async for piece in self._chat(chat_messages(request), request.max_tokens):
            yield piece

    async def warm(self, request: LLMRequest) -> None:
        """Nothing to do ahead: the remote service caches prompts on its side, if at all."""

    async def choose(self, query: str, options: list[tuple[str, str]]) -> str:
        listing = "\n".join(f"- {name}: {description}" for name, description in options)
        messages = [
            {
                "role": "system",
                "content": "Pick the one agent best suited to the user's query. "
                "Answer with the agent's name only.\n" + listing,
            },
            {"role": "user", "content": query},
        ]
        answer = "".join([piece async for piece in self._chat(messages, 20)])
        return pick_choice(answer, options)


def _delta_of(line: str) -> str | None:
    """The text in one server-sent-events line; None at the end of the stream."""
    if not line.startswith("data:"):
        return ""
    data = line[5:].strip()
    if data == "[DONE]":
        return None
    try:
        chunk = json.loads(data)
        return chunk["choices"][0].get("delta", {}).get("content") or ""
    except (json.JSONDecodeError, KeyError, IndexError, TypeError, AttributeError):
        return ""
