"""The SDK's HTTP half against a real server: projects, listings, and every HTTP error."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import yaml

from app.engine import EngineProcess, free_port
from protocol import (
    AsyncDistillerClient,
    AuthenticationError,
    ProjectCreationError,
    ProjectNotFoundError,
    ProjectSummary,
    ProjectVersion,
    ServerUnreachableError,
)
from tests.wire import flow_config

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    """A server that accepts exactly one key, so a wrong key is refused."""
    server = EngineProcess(
        tmp_path_factory.mktemp("keyed-data"),
        provider="echo",
        extra_args=["--no-speech", "--api-key", "acme:right-key"],
    )
    server.start()
    yield server
    server.stop()


def test_create_from_yaml_then_download_gives_the_same_config(
    client: AsyncDistillerClient,
) -> None:
    rd = client.realtime_distiller
    assert rd.create_project(config_path=str(EXAMPLES / "advisor_flow.yaml"), project="yaml-made")
    written = yaml.safe_load((EXAMPLES / "advisor_flow.yaml").read_text())
    assert rd.download_project(project="yaml-made") == written


def test_versions_start_at_zero_and_each_can_be_downloaded(client: AsyncDistillerClient) -> None:
    rd = client.realtime_distiller
    first, second = flow_config("A"), flow_config("A", "B")
    rd.create_project(json_config=first, project="two-versions")
    rd.create_project(json_config=second, project="two-versions")
    assert rd.download_project(project="two-versions") == second
    assert rd.download_project(project="two-versions", project_version="0") == first
    assert rd.download_project(project="two-versions", project_version=1) == second


def test_listings_are_typed(client: AsyncDistillerClient) -> None:
    rd = client.realtime_distiller
    rd.create_project(json_config=flow_config("A"), project="listed-a")
    rd.create_project(json_config=flow_config("A", "B"), project="listed-a")
    summary = next(p for p in rd.list_projects() if p.name == "listed-a")
    assert isinstance(summary, ProjectSummary)
    assert (summary.latest_version, summary.version_count) == (1, 2)
    assert isinstance(summary.last_created_at, datetime)
    versions = rd.list_versions("listed-a")
    assert all(isinstance(v, ProjectVersion) for v in versions)
    assert [v.version for v in versions] == [0, 1]
    assert versions[1].agents == ("A", "B", "Flow")
    assert versions[0].created_at <= versions[1].created_at


def test_unknown_project_or_version_names_what_was_asked(client: AsyncDistillerClient) -> None:
    rd = client.realtime_distiller
    with pytest.raises(ProjectNotFoundError, match="project 'ghost' not found") as missing:
        rd.download_project(project="ghost")
    assert missing.value.project == "ghost" and missing.value.version is None
    rd.create_project(json_config=flow_config("A"), project="one-version")
    with pytest.raises(ProjectNotFoundError, match="'one-version' version 5") as missing_version:
        rd.download_project(project="one-version", project_version="5")
    assert missing_version.value.version == "5"
    with pytest.raises(ProjectNotFoundError, match="ghost"):
        rd.list_versions("ghost")


def test_rejected_config_carries_the_servers_reasons(client: AsyncDistillerClient) -> None:
    broken = flow_config("A")
    broken["super_agents"][0]["config"]["agent_list"].append({"agent_name": "Nobody"})
    with pytest.raises(ProjectCreationError) as rejected:
        client.realtime_distiller.create_project(json_config=broken, project="broken")
    assert "unknown agent 'Nobody'" in rejected.value.reasons
    assert rejected.value.status_code == 422
    assert "'broken' was rejected" in str(rejected.value)


def test_each_config_problem_arrives_on_its_own(client: AsyncDistillerClient) -> None:
    """Two problems, one of them containing "; ", come as a list: nothing to split by regex."""
    broken = flow_config("A")
    broken["super_agents"][0]["config"]["agent_list"].append({"agent_name": "Nobody"})
    broken["utility_agents"][0]["config"]["llm_config"] = {"provider": "bogus"}
    with pytest.raises(ProjectCreationError) as rejected:
        client.realtime_distiller.create_project(json_config=broken, project="two-problems")
    problems = rejected.value.problems
    assert len(problems) == 2, problems
    assert (
        "utility_agents[0].config.llm_config.provider: unsupported value 'bogus'; "
        "supported: embedded, echo, openai"
    ) in problems
    assert any(
        p.startswith("super_agents[0].config.agent_list[1]") and "unknown agent 'Nobody'" in p
        for p in problems
    ), problems
    assert "; ".join(problems) in rejected.value.reasons  # the SDK's one-line text stays


def test_wrong_api_key_is_refused(keyed_server: EngineProcess) -> None:
    client = AsyncDistillerClient(api_key="wrong-key", base_url=keyed_server.base_url)
    with pytest.raises(AuthenticationError, match="API key was not accepted"):
        client.realtime_distiller.list_projects()
    with pytest.raises(AuthenticationError):
        client.realtime_distiller.create_project(json_config=flow_config("A"), project="x")
    good = AsyncDistillerClient(api_key="right-key", base_url=keyed_server.base_url)
    assert good.account == "acme"


def test_unreachable_server_is_named() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    client = AsyncDistillerClient(api_key="k", base_url=url)
    with pytest.raises(ServerUnreachableError, match=f"cannot reach the Distiller server at {url}"):
        client.realtime_distiller.download_project(project="anything")


def test_bad_names_are_refused_before_any_request() -> None:
    # Nothing listens on this port: a request would raise ServerUnreachableError instead.
    client = AsyncDistillerClient(api_key="k", base_url=f"http://127.0.0.1:{free_port()}")
    rd = client.realtime_distiller
    with pytest.raises(ValueError, match="may contain only letters"):
        rd.create_project(json_config=flow_config("A"), project="bad name")
    with pytest.raises(ValueError, match="may contain only letters"):
        rd.download_project(project="bad/name")
    with pytest.raises(ValueError, match="uuid 'a b'"):
        rd(project="fine", uuid="a b")
    with pytest.raises(ValueError, match="project_version must be a non-negative integer"):
        rd.download_project(project="fine", project_version="latest")


def test_bad_config_files_are_explained(client: AsyncDistillerClient, tmp_path: Path) -> None:
    rd = client.realtime_distiller
    with pytest.raises(FileNotFoundError, match=r"not found: .*missing\.yaml"):
        rd.create_project(config_path=str(tmp_path / "missing.yaml"), project="p")
    bad = tmp_path / "bad.yaml"
    bad.write_text("orchestrator: [unclosed\n")
    with pytest.raises(ValueError, match=r"bad\.yaml is not valid YAML"):
        rd.create_project(config_path=str(bad), project="p")
    listy = tmp_path / "list.yaml"
    listy.write_text("- just\n- a list\n")
    with pytest.raises(ValueError, match="must be a YAML mapping, but it is a list"):
        rd.create_project(config_path=str(listy), project="p")


def test_key_and_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("API_KEY", raising=False)
    monkeypatch.delenv("DISTILLER_BASE_URL", raising=False)
    monkeypatch.delenv("AIR_BASE_URL", raising=False)
    with pytest.raises(ValueError, match="no API key"):
        AsyncDistillerClient()
    monkeypatch.setenv("API_KEY", "from-env")
    assert AsyncDistillerClient().base_url == "http://127.0.0.1:8765"
    monkeypatch.setenv("AIR_BASE_URL", "http://air.example:1")
    assert AsyncDistillerClient().base_url == "http://air.example:1"
    monkeypatch.setenv("DISTILLER_BASE_URL", "http://ours.example:2/")
    assert AsyncDistillerClient().base_url == "http://ours.example:2"
    assert (
        AsyncDistillerClient(base_url="https://given.example").base_url == "https://given.example"
    )
    with pytest.raises(ValueError, match="base_url must look like"):
        AsyncDistillerClient(base_url="ftp://nope")


def test_the_server_side_import_stays_light() -> None:
    """The server imports protocol.events: that must not load the client's dependencies,
    and the client must not load the audio stack until a voice method runs."""
    code = (
        "import sys\n"
        "import protocol.events\n"
        "assert not {'httpx', 'websockets', 'yaml'} & set(sys.modules), sorted(sys.modules)\n"
        "from protocol import AsyncDistillerClient, CancelOnKeypress\n"
        "assert 'httpx' in sys.modules and 'websockets' in sys.modules\n"
        "assert not {'audio', 'sounddevice', 'numpy'} & set(sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def test_a_yaml_error_names_the_file_and_line(tmp_path: Path) -> None:
    from protocol.client.client import load_config_file

    broken = tmp_path / "broken.yaml"
    broken.write_text("orchestrator:\n  agent_list: [1, 2\nbase_config: {}\n")
    with pytest.raises(ValueError) as error:
        load_config_file(broken)
    assert f'"{broken}", line' in str(error.value)
    assert "<unicode string>" not in str(error.value)
