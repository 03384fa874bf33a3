"""The embedded Gemma 3 270M provider: brief in-character answers, routing, cancellation."""

from __future__ import annotations

import asyncio
import re
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from server.llm.base import HistoryTurn, LLMError, LLMRequest, LLMSettings
from server.llm.embedded import EmbeddedProvider, build_prompt
from server.llm.gguf import bundled_gguf
from server.llm.read_ahead import DEMAND, PROMPT_READING
from server.models import ModelRegistry

ROUTES = [
    ("Weather Agent", "Answers questions about weather forecasts, rain and temperature"),
    ("Math Tutor", "Solves arithmetic and algebra problems"),
    ("Travel Planner", "Plans trips, flights and hotels"),
]


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    return ModelRegistry(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def provider(registry: ModelRegistry) -> EmbeddedProvider:
    return EmbeddedProvider(registry, LLMSettings())


async def answer(provider: EmbeddedProvider, request: LLMRequest) -> list[str]:
    return [piece async for piece in provider.stream(request)]


def sentences(text: str) -> int:
    return len(re.findall(r"[.!?]+(?=\s|$)", text))


async def test_it_knows_the_capital_of_france(provider: EmbeddedProvider) -> None:
    request = LLMRequest("Assistant", "", "What is the capital of France?", temperature=0.0)

    pieces = await answer(provider, request)
    text = "".join(pieces)

    assert "paris" in text.lower()
    assert len(text.split()) <= 12  # a few words, not an essay
    assert len(pieces) >= 2  # streamed token by token, not in one lump


async def test_answers_are_brief_and_tidy_at_the_default_temperature(
    provider: EmbeddedProvider,
) -> None:
    request = LLMRequest("Chef", "Suggests recipes.", "What can I cook with eggs and cheese?")

    text = "".join(await answer(provider, request))

    assert text and text == text.strip()
    assert "\n" not in text and "  " not in text
    assert "User:" not in text and "Chef:" not in text  # it did not write the next turn
    assert 1 <= max(1, sentences(text)) <= 3
    assert len(text.split()) <= 80


def test_the_prompt_shows_the_agent_history_and_predecessors() -> None:
    request = LLMRequest(
        agent_name="Summarizer",
        instructions="Summarizes what the researcher found.",
        query="So, will it rain?",
        history=(
            HistoryTurn("user", "Hi there"),
            HistoryTurn("assistant", "Hello, how can I help?", agent="Greeter", cut=True),
        ),
        context=(("Researcher", "Rain is expected after 3 pm."),),
    )

    prompt = build_prompt(request)

    assert "Summarizes what the researcher found." in prompt
    assert "User: Hi there\nGreeter: Hello, how can I help? (interrupted)" in prompt
    assert "(Researcher said: Rain is expected after 3 pm.)" in prompt
    assert prompt.endswith("User: So, will it rain?\nSummarizer:")


async def test_closing_the_stream_stops_generation_and_frees_the_model(
    provider: EmbeddedProvider, registry: ModelRegistry
) -> None:
    story = LLMRequest("Storyteller", "Tells long stories.", "Tell me a story about a dragon.")
    stream = provider.stream(story)
    first = await anext(stream)
    await stream.aclose()

    workers = [t for t in threading.enumerate() if t.name == "llm-Storyteller"]
    for worker in workers:
        await asyncio.to_thread(worker.join, 30)

    assert first.strip()
    assert not any(worker.is_alive() for worker in workers)
    assert registry.llm_lock.acquire(blocking=False)
    registry.llm_lock.release()
    follow_up = LLMRequest("Assistant", "", "What is the capital of France?", temperature=0.0)
    assert "paris" in "".join(await answer(provider, follow_up)).lower()


async def test_two_agents_can_answer_at_the_same_time(provider: EmbeddedProvider) -> None:
    france = LLMRequest("A", "", "What is the capital of France?", temperature=0.0)
    japan = LLMRequest("B", "", "What is the capital of Japan?", temperature=0.0)

    first, second = await asyncio.gather(answer(provider, france), answer(provider, japan))

    assert "paris" in "".join(first).lower()
    assert "tokyo" in "".join(second).lower()


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("Will it rain tomorrow in Boston?", "Weather Agent"),
        ("What is 17 times 3?", "Math Tutor"),
        ("I need a hotel in Rome next week", "Travel Planner"),
        ("How hot will it be on Saturday?", "Weather Agent"),  # no shared words: the model picks
    ],
)
async def test_choose_routes_by_description(
    provider: EmbeddedProvider, query: str, expected: str
) -> None:
    assert await provider.choose(query, ROUTES) == expected


async def test_choose_always_returns_one_of_the_names(provider: EmbeddedProvider) -> None:
    names = {name for name, _ in ROUTES}
    for query in ["Hmm.", "Tell me something", "Zxqv blorp?"]:
        assert await provider.choose(query, ROUTES) in names


async def test_choose_without_options_is_a_clear_error(provider: EmbeddedProvider) -> None:
    with pytest.raises(LLMError, match="at least one"):
        await provider.choose("anything", [])


async def test_a_hosted_model_name_falls_back_to_the_bundled_model(
    registry: ModelRegistry,
) -> None:
    hosted = EmbeddedProvider(registry, LLMSettings(model="meta-llama/Llama-3.1-70B-Instruct"))
    request = LLMRequest("Assistant", "", "What is the capital of France?", temperature=0.0)

    assert "paris" in "".join(await answer(hosted, request)).lower()


async def test_a_missing_gguf_file_is_a_clear_error(
    registry: ModelRegistry, tmp_path: Path
) -> None:
    missing = tmp_path / "nowhere.gguf"
    broken = EmbeddedProvider(registry, LLMSettings(model=str(missing)))

    with pytest.raises(LLMError, match="file not found") as caught:
        await answer(broken, LLMRequest("Assistant", "", "Hello?"))

    assert str(missing) in str(caught.value)


def test_the_model_is_assembled_once_and_reused(registry: ModelRegistry) -> None:
    registry.llm_model()
    path = bundled_gguf(registry.models_dir)
    before = path.stat()

    again = bundled_gguf(registry.models_dir)

    assert again == path
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert registry.status()["llm"] == "ready"


def test_a_truncated_model_file_is_rebuilt(tmp_path: Path, registry: ModelRegistry) -> None:
    good = bundled_gguf(registry.models_dir)
    copy = tmp_path / good.name
    copy.write_bytes(good.read_bytes()[: 1 << 20])  # an interrupted copy

    rebuilt = bundled_gguf(tmp_path)

    assert rebuilt == copy
    assert rebuilt.stat().st_size == good.stat().st_size


def test_preload_records_a_failure_instead_of_raising(tmp_path: Path) -> None:
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("I am a file, not a models directory")
    registry = ModelRegistry(not_a_dir / "models")

    registry.preload(["vad", "llm"])

    status = registry.status()
    assert status["vad"] == "ready"
    assert status["llm"].startswith("error: ") and "models" in status["llm"]
    assert status["tts"] == "not loaded"


def test_preload_rejects_unknown_model_names(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown model 'whisper'"):
        ModelRegistry(tmp_path).preload(["whisper"])


TRIP = LLMRequest(
    "Guide",
    "Plans trips.",
    "And where should I eat?",
    history=(
        HistoryTurn("user", "I am planning a trip to Lisbon in May."),
        HistoryTurn("assistant", "Lisbon is lovely in May, warm and sunny.", agent="Guide"),
        HistoryTurn("user", "Which neighbourhood should I stay in?"),
        HistoryTurn("assistant", "Alfama is charming and close to the river.", agent="Guide"),
    ),
)
RICE = LLMRequest("Chef", "Suggests recipes.", "What can I cook with rice?")


async def tokens_read_to_answer(provider: EmbeddedProvider, request: LLMRequest) -> int:
    """How many prompt tokens the model had to read (not held already) to answer."""
    before = PROMPT_READING.status()
    await answer(provider, request)
    after = PROMPT_READING.status()
    prompt = after["prompt_tokens"] - before["prompt_tokens"]
    return prompt - (after["reused_tokens"] - before["reused_tokens"])


async def test_a_conversation_read_ahead_leaves_only_the_question_to_read(
    provider: EmbeddedProvider,
) -> None:
    await answer(provider, RICE)  # the model holds someone else's conversation
    unread_cold = await tokens_read_to_answer(provider, TRIP)

    await answer(provider, RICE)
    await provider.warm(replace(TRIP, query=""))  # while the user is still asking
    unread_warm = await tokens_read_to_answer(provider, TRIP)

    assert unread_cold > 60  # instructions, examples and the conversation so far
    assert unread_warm <= 16  # " And where should I eat?" and the agent's name


async def test_reading_ahead_gives_way_to_an_answer_that_needs_the_model(
    provider: EmbeddedProvider,
) -> None:
    await answer(provider, RICE)
    before = PROMPT_READING.status()

    with DEMAND.wanted():  # an answer is waiting for the model
        await provider.warm(replace(TRIP, query=""))

    after = PROMPT_READING.status()
    assert after["gave_way"] == before["gave_way"] + 1
    assert after["read_ahead"] == before["read_ahead"]
    assert await tokens_read_to_answer(provider, TRIP) > 60  # nothing was read for it
