"""What every model loader shares: the error it raises and the CPU threads it may use.

Speech (`server.speech`) and the LLM (`server.llm`) load their models in the
same process on a small machine, so the thread budget is decided here, in one
place, for both; the model registry (`server.models`) only caches what they load.
"""

from __future__ import annotations

import os


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message names the model and how to fix it."""


def llm_threads() -> int:
    """Threads for llama.cpp: half the cores (at least one, at most four).

    llama.cpp's threads meet at a barrier after every layer, so one thread that
    loses its core stalls them all: on 2 cores, a 2-thread LLM next to Piper or
    Whisper (which run at the same time in this process) slowed from ~15 ms to
    over 1 s per token in `bench.text_turn`. One thread is as fast for a
    270M model's short prompts and leaves a core for speech.
    """
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def speech_threads() -> int:
    """Threads for Whisper and Piper: the cores there are (their default, 4, oversubscribes 2)."""
    return max(1, min(4, os.cpu_count() or 1))
