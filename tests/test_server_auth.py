"""Who may use the server: open mode on loopback, keys otherwise, accounts kept apart."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import websockets

from app.engine import EngineProcess
from tests.wire import connect, create, flow_config, headers

ROUTES = [
    ("POST", "/authentication/validate", None),
    ("POST", "/distiller/create", {"project": "p", "config": flow_config("A")}),
    ("POST", "/distiller/download", {"project": "p"}),
    ("POST", "/distiller/config/validate", {"config": flow_config("A")}),
    ("GET", "/distiller/projects", None),
    ("GET", "/distiller/projects/p", None),
]


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    server = EngineProcess(
        tmp_path_factory.mktemp("keyed"),
        provider="echo",
        extra_args=[
            "--no-speech",
            "--api-key",
            "acme:acme-secret",
            "--api-key",
            "globex:globex-secret",
        ],
    )
    server.start()
    yield server
    server.stop()


def test_open_mode_accepts_any_key_as_local(echo_server: EngineProcess) -> None:
    response = httpx.post(
        f"{echo_server.base_url}/authentication/validate", headers=headers("anything")
    )
    assert response.json() == {"organization_id": "local"}


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_open_mode_still_needs_a_bearer_key(echo_server: EngineProcess, method, path, body) -> None:
    response = httpx.request(method, echo_server.base_url + path, json=body)
    assert response.status_code == 401
    assert "API key" in response.json()["error"]["message"]


@pytest.mark.parametrize("key", [None, "wrong", "acme-secre", "acme-secret2"])
@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
def test_keyed_server_refuses_bad_keys(
    keyed_server: EngineProcess, method, path, body, key
) -> None:
    response = httpx.request(
        method, keyed_server.base_url + path, json=body, headers=headers(key) if key else {}
    )
    assert response.status_code == 401


def test_key_decides_the_account(keyed_server: EngineProcess) -> None:
    response = httpx.post(
        f"{keyed_server.base_url}/authentication/validate", headers=headers("globex-secret")
    )
    assert response.json() == {"organization_id": "globex"}


def test_accounts_cannot_see_each_others_projects(keyed_server: EngineProcess) -> None:
    assert (
        create(keyed_server, "secret-plan", flow_config("A"), key="acme-secret").status_code == 201
    )
    url = keyed_server.base_url
    other = headers("globex-secret")
    listing = httpx.get(f"{url}/distiller/projects", headers=other).json()["projects"]
    assert "secret-plan" not in [p["name"] for p in listing]
    assert httpx.get(f"{url}/distiller/projects/secret-plan", headers=other).status_code == 404
    assert (
        httpx.post(
            f"{url}/distiller/download", headers=other, json={"project": "secret-plan"}
        ).status_code
        == 404
    )
    # globex's own project of the same name is separate, starting at version 0
    assert (
        create(keyed_server, "secret-plan", flow_config("B"), key="globex-secret").json()[
            "project_version"
        ]
        == 0
    )


async def test_websocket_refuses_missing_wrong_or_foreign_keys(
    keyed_server: EngineProcess,
) -> None:
    create(keyed_server, "voice", flow_config("A"), key="acme-secret")
    for key, account in [("wrong", "acme"), ("globex-secret", "acme"), ("", "acme")]:
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with connect(keyed_server, "voice", "u1", key=key, account=account):
                pass
        assert refused.value.response.status_code == 403
    async with connect(keyed_server, "voice", "u1", key="acme-secret", account="acme") as ws:
        assert '"session.created"' in await ws.recv()


def test_non_loopback_without_keys_refuses_to_start(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "server",
            "--host",
            "0.0.0.0",
            "--data-dir",
            str(tmp_path),
            "--no-speech",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=Path(__file__).resolve().parent.parent,
    )
    assert result.returncode == 2
    assert "refusing to listen on 0.0.0.0 without API keys" in result.stderr
