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
    """Threads for one Whisper decode: one, for the same reason as `llm_threads`.

    CTranslate2's threads also meet after every layer. With the encoder on the
    utterance instead of a 30 s window a decode is ~0.1 s on one thread, and
    inside the engine, next to Piper, the LLM and the VAD, one thread stayed
    there (10 voice turns, load average 3: p50 0.091 s, max 0.187 s) where two
    threads stalled (p50 0.129 s, max 1.9 s; up to 7 s at load 5-7).
    """
    return 1
