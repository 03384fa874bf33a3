"""Hostile project configurations: random shapes, YAML bombs, huge files, odd names and bytes.

Whatever arrives, the validator answers with `ConfigInvalid` listing key paths
(never another exception), and the HTTP API with a 4xx naming the problem;
nothing bad is stored, and the server keeps serving.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.engine import EngineProcess
from server.config_text import ConfigTextError, load_config_text
from server.project import MAX_AGENTS, ConfigInvalid, validate_config
from tests.wire import create, flow_config, headers

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=25,
)
TOP_KEYS = ["orchestrator", "utility_agents", "super_agents", "base_config", "speech_config"]


def _mutations(base: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    """A valid config with one value somewhere replaced by something random."""

    def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        found = [prefix] if prefix else []
        if isinstance(value, dict):
            for key, child in value.items():
                found += paths(child, (*prefix, key))
        elif isinstance(value, list):
            for index, child in enumerate(value):
                found += paths(child, (*prefix, index))
        return found

    def replaced(path: tuple[Any, ...], new: Any) -> dict[str, Any]:
        config = json.loads(json.dumps(base))
        target = config
        for step in path[:-1]:
            target = target[step]
        target[path[-1]] = new
        return config

    return st.builds(replaced, st.sampled_from(paths(base)), json_values)


VALID = flow_config("Researcher", "Market Data", custom=("Market Data",))
configs = (
    st.fixed_dictionaries({}, optional={key: json_values for key in TOP_KEYS})
    | _mutations(VALID)
    | json_values
)
FUZZ = settings(max_examples=400, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(configs)
def test_the_validator_only_ever_says_valid_or_lists_problems(config: Any) -> None:
    try:
        spec = validate_config(config)
    except ConfigInvalid as exc:
        assert exc.errors and all(isinstance(e, str) and e for e in exc.errors)
        return
    assert spec.orchestrator, "a valid project routes queries somewhere"


@FUZZ
@given(st.text(max_size=300))
def test_yaml_text_is_parsed_or_refused_with_a_reason(text: str) -> None:
    try:
        config = load_config_text(text)
    except ConfigTextError as exc:
        assert str(exc)
        return
    # Whatever YAML gives must be storable as JSON, exactly as a JSON body would be.
    json.dumps(config, allow_nan=False)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("created: 2024-01-02\nwhen: 2024-01-02 10:00:00\n", None),
        ("data: !!binary aGVsbG8=\n", "binary"),
        ("items: !!set {a, b}\n", "set"),
        ("? [a, b]\n: value\n", "not valid YAML"),
        ("x: .nan\n", "not a finite number"),
    ],
)
def test_yaml_values_json_cannot_hold_are_converted_or_named(
    text: str, message: str | None
) -> None:
    if message is None:
        assert load_config_text(text) == {"created": "2024-01-02", "when": "2024-01-02 10:00:00"}
        return
    with pytest.raises(ConfigTextError, match=message):
        load_config_text(text)


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * 9)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def _validate(server: EngineProcess, config: Any) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/distiller/config/validate",
        headers=headers(),
        json={"config": config},
        timeout=60,
    )


def test_a_yaml_alias_bomb_is_refused_quickly(echo_server: EngineProcess) -> None:
    response = _validate(echo_server, _alias_bomb())
    assert response.status_code == 422
    assert "aliases" in response.json()["error"]["message"]


def test_a_ten_megabyte_config_is_refused_and_nothing_is_stored(
    echo_server: EngineProcess,
) -> None:
    config = flow_config("A")
    config["utility_agents"][0]["agent_description"] = "x" * 10_000_000
    response = create(echo_server, "ten-mb", config)
    assert response.status_code == 413
    assert "over the limit" in response.json()["error"]["message"]
    listed = httpx.get(f"{echo_server.base_url}/distiller/projects", headers=headers()).json()
    assert "ten-mb" not in [p["name"] for p in listed["projects"]]


def test_a_ten_thousand_agent_graph_is_refused_with_the_limit(echo_server: EngineProcess) -> None:
    agents = [f"a{i}" for i in range(10_000)]
    config = flow_config("A")  # one flow over 10,000 terse agents: under the 1 MB size limit
    config["utility_agents"] = [{"agent_class": "SearchAgent", "agent_name": a} for a in agents]
    config["super_agents"][0]["config"]["agent_list"] = [{"agent_name": a} for a in agents]
    response = create(echo_server, "huge-graph", config)
    assert response.status_code == 422
    assert f"the limit is {MAX_AGENTS}" in response.json()["error"]["message"]


def test_a_long_chain_at_the_agent_limit_is_accepted(echo_server: EngineProcess) -> None:
    agents = [f"a{i}" for i in range(MAX_AGENTS - 1)]  # plus the flow itself: exactly the limit
    response = create(echo_server, "long-chain", flow_config(*agents))
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    "name",
    [
        "../etc/passwd",
        "a/b",
        "a\\b",
        "x'; DROP TABLE project_versions; --",
        'q"uote',
        "nul\x00",
        "",
    ],
)
def test_hostile_project_names_are_refused_by_name(echo_server: EngineProcess, name: str) -> None:
    response = create(echo_server, name, flow_config("A"))
    assert response.status_code == 400
    assert "project" in response.json()["error"]["message"]
    download = httpx.post(
        f"{echo_server.base_url}/distiller/download", headers=headers(), json={"project": name}
    )
    assert download.status_code == 400


def test_agent_names_with_quotes_and_separators_are_stored_verbatim(
    echo_server: EngineProcess,
) -> None:
    """Agent names are data, not identifiers: SQL quotes and slashes round-trip untouched."""
    hostile = "Robert'); DROP TABLE history;-- ../x\\y"
    config = flow_config(hostile)
    assert create(echo_server, "quoted-agent", config).status_code == 201
    download = httpx.post(
        f"{echo_server.base_url}/distiller/download",
        headers=headers(),
        json={"project": "quoted-agent"},
    )
    assert json.loads(json.loads(download.json()["config"])) == config
    assert create(echo_server, "quoted-agent", config).json()["project_version"] == 1


@pytest.mark.parametrize(
    "body",
    [
        b'{"project": "bytes", "config": "\xff\xfe bad"}',
        b"\xff\xfe\x00\x01",
        b'{"project": "bytes", "config": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    ],
)
def test_bodies_that_are_not_utf8_json_are_a_400(echo_server: EngineProcess, body: bytes) -> None:
    response = httpx.post(
        f"{echo_server.base_url}/distiller/create",
        headers={**headers(), "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(config=configs)
def test_create_answers_random_configs_with_201_or_a_named_4xx(
    echo_server: EngineProcess, config: Any
) -> None:
    try:
        validate_config(config)
        expected = 201
    except ConfigInvalid:
        expected = 422
    body = json.dumps({"project": "fuzzed", "config": config})
    try:
        json.dumps(config, allow_nan=False)
    except ValueError:  # NaN or Infinity: the body is not JSON at all
        expected = 400
    response = httpx.post(
        f"{echo_server.base_url}/distiller/create",
        headers={**headers(), "Content-Type": "application/json"},
        content=body,
    )
    if isinstance(config, str):
        expected = response.status_code if response.status_code in (201, 422) else expected
    assert response.status_code == expected, response.text
    if expected == 400:
        assert "not valid JSON" in response.json()["error"]["message"]
    if expected == 422:
        assert response.json()["error"]["message"].startswith(
            ("invalid project configuration", "configuration")
        )


def test_nan_in_a_json_body_is_refused(echo_server: EngineProcess) -> None:
    body = '{"project": "nan", "config": {"base_config": {"llm_config": {"temperature": NaN}}}}'
    response = httpx.post(
        f"{echo_server.base_url}/distiller/create",
        headers={**headers(), "Content-Type": "application/json"},
        content=body,
    )
    assert response.status_code == 400
    assert "NaN is not JSON" in response.json()["error"]["message"]
