"""How fast the offline models are on their own: the floor under any end-to-end latency.

The benchmarks compare the engine's measured latencies against these numbers;
whatever the engine adds above them is overhead we own. Run it with
``python -m bench.speech_floor``; models are assembled into a temporary
directory unless ``--models-dir`` names one.
"""

from __future__ import annotations

import argparse
import functools
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from server.models import ModelRegistry

FIRST_SENTENCE = "Sure, the capital of France is Paris."
ASR_TEXT = "Please book a table for two people at seven tonight, near the window."
LLM_PROMPT = "What is the capital of France?"


_registry: ModelRegistry | None = None


def registry() -> ModelRegistry:
    """The registry every timing shares, so each model is loaded once per run."""
    global _registry
    if _registry is None:
        _registry = ModelRegistry(Path(tempfile.mkdtemp(prefix="rd-models-")))
    return _registry


def use_models_dir(models_dir: Path) -> None:
    """Assemble/reuse the LLM in ``models_dir`` instead of a temporary directory."""
    global _registry
    _registry = ModelRegistry(models_dir)


def load_s(name: str) -> float:
    """Seconds to load one model ("vad", "asr", "tts", "llm") the first time it is needed."""
    started = time.perf_counter()
    registry().preload([name])
    elapsed = time.perf_counter() - started
    status = registry().status()[name]
    if status != "ready":
        raise RuntimeError(f"{name} did not load: {status}")
    return elapsed


def tts_first_sentence_s(text: str = FIRST_SENTENCE, sample_rate: int = 16000) -> float:
    """Seconds for Piper to render one sentence at ``sample_rate`` (model already loaded)."""
    tts = registry().tts()
    started = time.perf_counter()
    tts.synthesize(text, sample_rate)
    return time.perf_counter() - started


def asr_s(pcm16: bytes, rate: int) -> float:
    """Seconds for Whisper to transcribe ``pcm16`` (model already loaded)."""
    asr = registry().asr()
    started = time.perf_counter()
    asr.transcribe(pcm16, rate)
    return time.perf_counter() - started


def llm_first_token_s(prompt: str = LLM_PROMPT, cold: bool = True) -> float:
    """Seconds until the embedded LLM yields its first token for a one-turn question.

    ``cold`` empties the prompt cache first (a new agent); warm reuses the agent's
    prompt header from the previous question, as a running conversation does.
    """
    return _llm_timing(prompt, cold=cold)[0]


def llm_tokens_per_s(prompt: str = "Tell me about the history of Paris.") -> float:
    """Generation speed after the first token, in tokens per second."""
    return _llm_timing(prompt, max_tokens=96, stop=False)[1]


def _llm_timing(
    prompt: str, max_tokens: int = 48, stop: bool = True, cold: bool = True
) -> tuple[float, float]:
    from server.llm.base import LLMRequest
    from server.llm.embedded import _stop_sequences, build_prompt

    llama = registry().llm_model()
    request = LLMRequest("Assistant", "", prompt, max_tokens=max_tokens, temperature=0.0)
    text = build_prompt(request)
    if cold:
        llama.reset()  # forget the cached prompt prefix
    started = time.perf_counter()
    first = 0.0
    tokens = 0
    for _ in llama.create_completion(
        text,
        max_tokens=max_tokens,
        temperature=0.0,
        stop=_stop_sequences("Assistant") if stop else [],
        stream=True,
    ):
        tokens += 1
        if tokens == 1:
            first = time.perf_counter() - started
    total = time.perf_counter() - started
    rate = (tokens - 1) / (total - first) if tokens > 1 and total > first else 0.0
    return first, rate


def llm_first_sentence(
    question: str, agent: str = "Assistant", instructions: str = "", max_tokens: int = 80
) -> tuple[str, float]:
    """(first sentence, seconds) for the embedded LLM answering ``question`` as the server would.

    The prompt, sampling and stop sequences are the server's own; the sentence is cut
    by the server's segmenter, so the floor speaks exactly what the engine would speak first.
    """
    from server.llm.base import LLMRequest
    from server.llm.embedded import _SAMPLING, _stop_sequences, _Tidier, build_prompt
    from server.speech.segmenter import SpeechSegmenter

    llama = registry().llm_model()
    request = LLMRequest(agent, instructions, question, max_tokens=max_tokens, temperature=0.0)
    prompt = build_prompt(request)
    segmenter = SpeechSegmenter()
    tidy = _Tidier()
    started = time.perf_counter()
    chunks = llama.create_completion(
        prompt,
        max_tokens=max_tokens,
        temperature=0.0,
        stop=_stop_sequences(agent),
        stream=True,
        **_SAMPLING,
    )
    pieces: list[str] = []
    try:
        for chunk in chunks:
            text = tidy.feed(chunk["choices"][0]["text"])
            pieces = segmenter.push(text, time.monotonic()) if text else []
            if pieces:
                break
    finally:
        chunks.close()
    if not pieces:
        pieces = segmenter.flush()
    return (pieces[0] if pieces else ""), time.perf_counter() - started


def text_turn_floor(
    question: str, agent: str = "Assistant", instructions: str = "", sample_rate: int = 16000
) -> dict[str, float | str]:
    """The floor under a text turn's first audio: LLM to its first sentence, then Piper on it."""
    sentence, llm_s = llm_first_sentence(question, agent, instructions)
    tts_s = tts_first_sentence_s(sentence, sample_rate) if sentence else 0.0
    return {"sentence": sentence, "llm_s": llm_s, "tts_s": tts_s, "total_s": llm_s + tts_s}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--models-dir", help="where to assemble/reuse the LLM (default: a temp dir)"
    )
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the best is shown")
    args = parser.parse_args(argv)
    if args.models_dir:
        use_models_dir(Path(args.models_dir))

    rows = [(f"load {name}", load_s(name)) for name in ("vad", "asr", "tts", "llm")]
    speech = registry().tts().synthesize(ASR_TEXT, 16000)
    best = functools.partial(_best_of, args.repeat)
    rows += [
        ("TTS first sentence (16 kHz)", best(tts_first_sentence_s)),
        (f"ASR {len(speech) / 32000:.1f} s of speech", best(lambda: asr_s(speech, 16000))),
        ("LLM first token (cold prompt)", best(llm_first_token_s)),
        ("LLM first token (warm prompt)", best(lambda: llm_first_token_s(cold=False))),
    ]
    print(f"{'measure':<32}{'value':>10}")
    for label, seconds in rows:
        print(f"{label:<32}{seconds:>9.3f}s")
    print(f"{'LLM generation':<32}{best(llm_tokens_per_s, highest=True):>7.1f}tok/s")


def _best_of(repeat: int, measure: Callable[[], float], highest: bool = False) -> float:
    values = [measure() for _ in range(max(1, repeat))]
    return max(values) if highest else min(values)


if __name__ == "__main__":
    main()
