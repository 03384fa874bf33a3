"""Every configuration rule, with the key path the user is shown."""

from __future__ import annotations

import copy

import pytest

from server.project import ConfigInvalid, validate_config
from tests.wire import flow_config


def errors_of(config) -> list[str]:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigInvalid) as caught:
        validate_config(config)
    return caught.value.errors


def test_a_valid_flow_is_accepted_with_its_order() -> None:
    spec = validate_config(flow_config("A", "B", "C", edges={"A": ["C"], "B": ["C"]}))
    flow = spec.flows["Flow"]
    assert flow.order() == ("A", "B", "C")
    assert flow.predecessors("C") == ("A", "B")
    assert spec.orchestrator == ("Flow",)


def test_ties_in_the_flow_order_follow_agent_list_order() -> None:
    spec = validate_config(flow_config("Z", "Y", "X", edges={"X": [], "Y": [], "Z": []}))
    assert spec.flows["Flow"].order() == ("Z", "Y", "X")


def test_unknown_next_step_names_its_key_path() -> None:
    config = flow_config("A", "B")
    config["super_agents"][0]["config"]["agent_list"][1]["next_step"] = ["Foo"]
    assert errors_of(config) == [
        "super_agents[0].config.agent_list[1].next_step[0]: unknown agent 'Foo'"
    ]


def test_a_cycle_is_reported_with_its_members() -> None:
    config = flow_config("A", "B", "C", edges={"A": ["B"], "B": ["C"], "C": ["A"]})
    (error,) = errors_of(config)
    assert "not a DAG" in error
    assert "'A' -> 'B' -> 'C' -> 'A'" in error


def test_duplicate_names_are_refused() -> None:
    config = flow_config("A", "B")
    config["utility_agents"][1]["agent_name"] = "A"
    assert any("duplicate agent name 'A'" in e for e in errors_of(config))
    config = flow_config("A")
    config["utility_agents"][0]["agent_name"] = "Flow"  # clashes with the super agent
    assert any("duplicate agent name 'Flow'" in e for e in errors_of(config))


def test_orchestrator_must_name_existing_agents() -> None:
    config = flow_config("A")
    config["orchestrator"]["agent_list"].append({"agent_name": "Ghost"})
    assert errors_of(config) == ["orchestrator.agent_list[1].agent_name: unknown agent 'Ghost'"]
    assert any("orchestrator" in e for e in errors_of({"utility_agents": []}))


def test_flow_members_must_exist() -> None:
    config = flow_config("A")
    config["super_agents"][0]["config"]["agent_list"].append({"agent_name": "Nope"})
    assert "super_agents[0].config.agent_list[1].agent_name: unknown agent 'Nope'" in errors_of(
        config
    )


def test_unknown_agent_class_lists_the_supported_ones() -> None:
    config = flow_config("A")
    config["utility_agents"][0]["agent_class"] = "TimeTravelAgent"
    (error,) = errors_of(config)
    assert error.startswith(
        "utility_agents[0].agent_class: unsupported agent class 'TimeTravelAgent'"
    )
    for supported in ("LLMAgent", "SearchAgent", "AuthorAgent", "PlanningAgent", "CustomAgent"):
        assert supported in error
    config = flow_config("A")
    config["super_agents"][0]["agent_class"] = "MagicSuperAgent"
    assert "FlowSuperAgent" in errors_of(config)[0]


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 24000, 44100, 48000])
def test_supported_sample_rates(rate: int) -> None:
    config = flow_config("A")
    config["speech_config"] = {"sample_rate": rate}
    assert validate_config(config).speech.sample_rate == rate


@pytest.mark.parametrize("rate", [0, 11025, "16000", None, 96000])
def test_unsupported_sample_rates(rate: object) -> None:
    config = flow_config("A")
    config["speech_config"] = {"sample_rate": rate}
    (error,) = errors_of(config)
    assert error.startswith("speech_config.sample_rate: unsupported sample rate")


def test_speech_defaults_when_absent() -> None:
    config = flow_config("A")
    del config["speech_config"]
    speech = validate_config(config).speech
    assert (speech.sample_rate, speech.tts_engine, speech.asr_engine) == (16000, "piper", "whisper")
    assert (speech.silence_ms, speech.barge_in, speech.min_speech_ms) == (2000, False, 300)
    assert speech.turn_mode == "smart"  # silence_ms is then the longest pause kept open


@pytest.mark.parametrize(
    ("turns", "expected"),
    [
        ({"mode": "silence"}, ("silence", 600)),
        ({"mode": "smart", "silence_ms": 1500}, ("smart", 1500)),
        ({"mode": "silence", "silence_ms": 300}, ("silence", 300)),
    ],
)
def test_turn_mode_and_its_silence_default(turns: dict, expected: tuple) -> None:
    config = flow_config("A")
    config["speech_config"] = {"turn_detection": turns}
    speech = validate_config(config).speech
    assert (speech.turn_mode, speech.silence_ms) == expected


@pytest.mark.parametrize("mode", ["clever", "", 1, True, ["smart"]])
def test_a_bad_turn_mode_is_named_with_its_key_path(mode: object) -> None:
    config = flow_config("A")
    config["speech_config"] = {"turn_detection": {"mode": mode}}
    (error,) = errors_of(config)
    assert error.startswith("speech_config.turn_detection.mode: unsupported value")
    assert "smart, silence" in error


def test_speech_keys_are_checked() -> None:
    config = flow_config("A")
    config["speech_config"] = {
        "tts": {"engine": "espeak", "speed": 9},
        "turn_detection": {"silence_ms": "long", "barge_in": "yes"},
    }
    errors = errors_of(config)
    assert any(e.startswith("speech_config.tts.engine: unsupported value 'espeak'") for e in errors)
    assert any(e.startswith("speech_config.tts.speed: must be between") for e in errors)
    assert any(
        e.startswith("speech_config.turn_detection.silence_ms: must be an integer") for e in errors
    )
    assert any(e.startswith("speech_config.turn_detection.barge_in") for e in errors)


def test_llm_provider_is_checked() -> None:
    config = flow_config("A")
    config["base_config"]["llm_config"]["provider"] = "oracle"
    assert errors_of(config)[0].startswith("base_config.llm_config.provider: unsupported value")


def test_every_problem_is_reported_at_once() -> None:
    config = copy.deepcopy(flow_config("A", "B"))
    config["utility_agents"][0]["agent_class"] = "Nope"
    config["speech_config"] = {"sample_rate": 5}
    config["orchestrator"]["agent_list"].append({"agent_name": "Ghost"})
    assert len(errors_of(config)) == 3


def test_wrong_shapes_are_named() -> None:
    assert errors_of([1, 2]) == ["the configuration must be a mapping, not a list"]
    errors = errors_of({"orchestrator": {"agent_list": "A"}, "utility_agents": {"x": 1}})
    assert "utility_agents: must be a list, not a mapping" in errors
    assert "orchestrator.agent_list: must be a list, not a string" in errors


def test_limits_on_size_and_agent_count() -> None:
    huge = flow_config("A")
    huge["utility_agents"][0]["agent_description"] = "x" * 1_100_000
    assert "limit is 1000000 bytes" in errors_of(huge)[0]
    many = flow_config(*[f"a{i}" for i in range(250)], edges={})
    assert "the limit is 200" in errors_of(many)[0]
