"""Routing between several agents, and the openai provider against a chat endpoint."""

from __future__ import annotations

from pathlib import Path

from app.engine import EngineProcess
from tests.fake_openai import FakeOpenAI
from tests.wire import TEXT_ONLY, create, session, text_of


def two_route_config(provider: dict) -> dict:
    return {
        "orchestrator": {"agent_list": [{"agent_name": "Weather"}, {"agent_name": "Finance"}]},
        "utility_agents": [
            {
                "agent_class": "LLMAgent",
                "agent_name": "Weather",
                "agent_description": "Forecasts rain and sunshine",
            },
            {
                "agent_class": "LLMAgent",
                "agent_name": "Finance",
                "agent_description": "Answers questions about money and stocks",
            },
        ],
        "base_config": {"llm_config": provider},
        "speech_config": TEXT_ONLY,
    }


async def test_orchestrator_routes_each_query_to_the_matching_agent(
    echo_server: EngineProcess,
) -> None:
    create(echo_server, "router", two_route_config({"provider": "echo"}))
    async with session(echo_server, "router", "u-route") as peer:
        await peer.send({"type": "input_text", "text": "will my stocks go up"})
        money = await peer.until("response.done")
        await peer.send({"type": "input_text", "text": "is rain coming"})
        weather = await peer.until("response.done")
    assert {f["role"] for f in money if f["type"] == "response.text.delta"} == {"Finance"}
    assert {f["role"] for f in weather if f["type"] == "response.text.delta"} == {"Weather"}


async def test_openai_provider_streams_and_sends_the_conversation(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("FAKE_LLM_KEY", "sk-test-123")
    with FakeOpenAI("Bonds are loans you make.") as llm:
        config = two_route_config({})
        config["orchestrator"]["agent_list"] = [{"agent_name": "Finance"}]
        config["utility_agents"][1]["config"] = {
            "llm_config": {
                "provider": "openai",
                "model": "tiny-test",
                "base_url": llm.base_url,
                "api_key_env": "FAKE_LLM_KEY",
            },
            "instructions": "Be brief.",
        }
        with EngineProcess(tmp_path, provider="echo", extra_args=["--no-speech"]) as server:
            create(server, "remote-llm", config)
            async with session(server, "remote-llm", "u-remote") as peer:
                await peer.send({"type": "input_text", "text": "What is a bond?"})
                first = await peer.until("response.done")
                await peer.send({"type": "input_text", "text": "And a stock?"})
                await peer.until("response.done")
    assert text_of(first, "Finance").strip() == "Bonds are loans you make."
    body = llm.requests[-1]["body"]
    assert body["model"] == "tiny-test" and body["stream"] is True
    assert llm.requests[-1]["authorization"] == "Bearer sk-test-123"
    messages = body["messages"]
    assert messages[0]["role"] == "system" and "Be brief." in messages[0]["content"]
    # the agent sees the recent turns: the first question and its answer come before the new one
    contents = [m["content"] for m in messages[1:]]
    assert contents[0] == "What is a bond?"
    assert contents[1].strip() == "Bonds are loans you make."
    assert contents[-1] == "And a stock?"
