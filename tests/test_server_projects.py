"""Projects over HTTP: versions, download, listing, errors — against a real server.

Every test here runs twice: on the default SQLite store and on PostgreSQL.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from app.engine import EngineProcess
from tests.conftest import STORES, new_store_args
from tests.wire import create, flow_config, headers


@pytest.fixture(scope="module", params=STORES)
def echo_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[EngineProcess]:
    """The echo server of conftest, once per store backend."""
    server = EngineProcess(
        tmp_path_factory.mktemp("projects-data"),
        provider="echo",
        extra_args=["--no-speech", *new_store_args(request.param, request)],
    )
    server.start()
    yield server
    server.stop()


def download(server: EngineProcess, project: str, version: object = None) -> httpx.Response:
    return httpx.post(
        f"{server.base_url}/distiller/download",
        headers=headers(),
        json={"project": project, "project_version": version, "sdk_version": "test"},
    )


def decoded(response: httpx.Response) -> dict:
    return json.loads(json.loads(response.json()["config"]))


def test_versions_count_from_zero_and_download_each(echo_server: EngineProcess) -> None:
    configs = [flow_config("A", "B"), flow_config("A", "B", "C"), flow_config("X")]
    for expected, config in enumerate(configs):
        response = create(echo_server, "versioned", config)
        assert response.status_code == 201
        assert response.json()["project_version"] == expected
    for version, config in enumerate(configs):
        assert decoded(download(echo_server, "versioned", str(version))) == config
    assert decoded(download(echo_server, "versioned")) == configs[-1]  # latest by default


def test_download_of_unknown_project_or_version_is_404(echo_server: EngineProcess) -> None:
    create(echo_server, "known", flow_config("A"))
    missing = download(echo_server, "nope")
    assert missing.status_code == 404
    assert missing.json()["error"]["message"] == "project 'nope' not found"
    missing_version = download(echo_server, "known", "7")
    assert missing_version.status_code == 404
    assert "version 7 not found" in missing_version.json()["error"]["message"]


def test_listing_projects_and_versions(echo_server: EngineProcess) -> None:
    create(echo_server, "listed", flow_config("A", "B"))
    create(echo_server, "listed", {**flow_config("A"), "speech_config": {"sample_rate": 24000}})
    projects = httpx.get(f"{echo_server.base_url}/distiller/projects", headers=headers()).json()
    entry = next(p for p in projects["projects"] if p["name"] == "listed")
    assert entry["latest_version"] == 1 and entry["version_count"] == 2
    assert entry["last_created_at"].startswith("20")
    detail = httpx.get(
        f"{echo_server.base_url}/distiller/projects/listed", headers=headers()
    ).json()
    assert [v["version"] for v in detail["versions"]] == [0, 1]
    assert detail["versions"][0]["agents"] == ["A", "B", "Flow"]
    assert all(v["speech"] for v in detail["versions"])
    unknown = httpx.get(f"{echo_server.base_url}/distiller/projects/ghost", headers=headers())
    assert unknown.status_code == 404 and "ghost" in unknown.json()["error"]["message"]


def test_concurrent_creates_never_duplicate_or_skip(echo_server: EngineProcess) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        responses = list(
            pool.map(lambda _: create(echo_server, "racy", flow_config("A")), range(24))
        )
    assert all(r.status_code == 201 for r in responses)
    assert sorted(r.json()["project_version"] for r in responses) == list(range(24))


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"project": "bad name!", "config": {}}, 400, "may contain only letters"),
        ({"project": "../etc", "config": {}}, 400, "may contain only letters"),
        ({"project": "ok"}, 400, "missing field 'config'"),
        ({"project": "ok", "config": "orchestrator: [unclosed"}, 422, "not valid YAML"),
        (
            {
                "project": "ok",
                "config": {"orchestrator": {"agent_list": [{"agent_name": "Nobody"}]}},
            },
            422,
            "orchestrator.agent_list[0].agent_name: unknown agent 'Nobody'",
        ),
    ],
)
def test_bad_creates_are_refused_with_a_reason(
    echo_server: EngineProcess, body, status, message
) -> None:
    response = httpx.post(f"{echo_server.base_url}/distiller/create", headers=headers(), json=body)
    assert response.status_code == status
    assert message in response.json()["error"]["message"]
    assert (
        httpx.post(
            f"{echo_server.base_url}/distiller/download", headers=headers(), json={"project": "ok"}
        ).status_code
        == 404
    )  # nothing half-created


def test_body_that_is_not_json_is_a_400(echo_server: EngineProcess) -> None:
    response = httpx.post(
        f"{echo_server.base_url}/distiller/create", headers=headers(), content=b"{not json"
    )
    assert response.status_code == 400
    assert "not valid JSON" in response.json()["error"]["message"]


def test_unknown_route_uses_the_error_shape(echo_server: EngineProcess) -> None:
    response = httpx.get(f"{echo_server.base_url}/distiller/nothing-here", headers=headers())
    assert response.status_code == 404
    assert "message" in response.json()["error"]


def test_config_validate_accepts_objects_and_yaml_text(echo_server: EngineProcess) -> None:
    url = f"{echo_server.base_url}/distiller/config/validate"
    assert httpx.post(url, headers=headers(), json={"config": flow_config("A")}).status_code == 200
    yaml_text = (Path(__file__).parent / "data" / "two_agents.yaml").read_text()
    assert httpx.post(url, headers=headers(), json={"config": yaml_text}).status_code == 200
    bad = httpx.post(url, headers=headers(), json={"config": {"speech_config": {"sample_rate": 1}}})
    assert bad.status_code == 422
    assert "speech_config.sample_rate" in bad.json()["error"]["message"]


def test_projects_survive_a_restart(tmp_path: Path, store_args: list[str]) -> None:
    args = ["--no-speech", *store_args]
    with EngineProcess(tmp_path, provider="echo", extra_args=args) as server:
        create(server, "durable", flow_config("A"))
        create(server, "durable", flow_config("A", "B"))
    with EngineProcess(tmp_path, provider="echo", extra_args=args) as server:
        assert decoded(download(server, "durable", "0")) == flow_config("A")
        assert create(server, "durable", flow_config("B")).json()["project_version"] == 2
