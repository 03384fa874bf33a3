"""Reading the conversation into the local model before the user's question is known.

llama.cpp keeps one conversation's keys and values: a prompt that starts like
the last one evaluated is only read from where they part. Every spoken answer
starts with the same head (instructions, examples, the conversation so far)
and ends with the new question, but on a box with more than one conversation
the model's cache holds whichever spoke last, so the head (~100-200 tokens,
~0.2-0.4 s on one thread) used to be read after the user stopped, on the way
to the first audio. `read_ahead` reads it while the user is still speaking, so
only the question itself is left for later.

Reading ahead gives way: it runs only while nobody is answering, in short
chunks, and stops as soon as an answer waits for the model (`ModelDemand`).
Only public ``llama_cpp.Llama`` calls are used: `Llama.generate` evaluates just
what differs from what the model holds and is closed after its first token.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

CHUNK_TOKENS = 32  # ~60 ms of one thread: the longest an answer can wait behind reading ahead
PATIENCE_S = 3.0  # an answer still being made elsewhere: wait this long (the user is still asking)


class ModelDemand:
    """How many answers want the shared model now; reading ahead stops for them."""

    def __init__(self) -> None:
        self._guard = threading.Lock()
        self._waiting = 0

    @contextlib.contextmanager
    def wanted(self) -> Iterator[None]:
        with self._guard:
            self._waiting += 1
        try:
            yield
        finally:
            with self._guard:
                self._waiting -= 1

    @property
    def waiting(self) -> bool:
        return self._waiting > 0


@dataclass
class PromptReading:
    """Process-wide counts for ``/healthz``: how much of each prompt the model already held."""

    read_ahead: int = 0  # conversations read while the user spoke
    gave_way: int = 0  # readings stopped because an answer needed the model
    prompt_tokens: int = 0  # tokens in the prompts answered
    reused_tokens: int = 0  # of those, tokens the model held already (not read again)

    def status(self) -> dict[str, int]:
        return {
            "read_ahead": self.read_ahead,
            "gave_way": self.gave_way,
            "prompt_tokens": self.prompt_tokens,
            "reused_tokens": self.reused_tokens,
        }


DEMAND = ModelDemand()
PROMPT_READING = PromptReading()


def held_prefix(llama: Any, tokens: Sequence[int]) -> int:
    """How many leading ``tokens`` the model has evaluated already."""
    return int(llama.longest_token_prefix(llama.input_ids[: llama.n_tokens].tolist(), tokens))


def count_answer(llama: Any, tokens: Sequence[int]) -> None:
    """Record, before answering, how much of the prompt ``tokens`` the model holds (call under
    the lock)."""
    PROMPT_READING.prompt_tokens += len(tokens)
    PROMPT_READING.reused_tokens += min(held_prefix(llama, tokens), max(0, len(tokens) - 1))


def tokenize(llama: Any, text: str) -> list[int]:
    """Tokens as ``Llama.create_completion`` makes them from a prompt string."""
    return list(llama.tokenize(text.encode("utf-8"), special=True))


def read_ahead(llama: Any, lock: threading.Lock, head: str) -> bool:
    """Evaluate ``head`` (a prompt without its question) in chunks while nobody else needs
    the model; True if all of it is held now."""
    tokens = tokenize(llama, head)
    patience = PATIENCE_S  # for the model to be free the first time; then not at all
    for _ in range(len(tokens) // CHUNK_TOKENS + 2):  # each round reads at least one token
        if DEMAND.waiting or not lock.acquire(timeout=patience):
            PROMPT_READING.gave_way += 1
            return False
        patience = 0.0
        try:
            held = held_prefix(llama, tokens)
            if held >= len(tokens):
                PROMPT_READING.read_ahead += 1
                return True
            reading = llama.generate(tokens[: held + CHUNK_TOKENS], top_k=1)
            try:
                next(reading)  # evaluates what the model does not hold yet, then samples once
            finally:
                reading.close()
        finally:
            lock.release()
    return False
