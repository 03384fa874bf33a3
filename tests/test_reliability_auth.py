"""Auth under attack: every route and the WebSocket against missing, wrong and foreign keys.

`test_server_auth.py` covers the basics; this file proves the account wall
holds on every path a project can leak through (listing, versions, pinned
downloads, pinned connections), and that key checks are constant-time.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

import httpx
import pytest
import websockets

from app.engine import EngineProcess
from server import auth
from server.settings import Settings
from tests.wire import connect, create, flow_config, headers

ACME, GLOBEX = "acme-secret", "globex-secret"


@pytest.fixture(scope="module")
def two_accounts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineProcess]:
    server = EngineProcess(
        tmp_path_factory.mktemp("two-accounts"),
        provider="echo",
        extra_args=["--no-speech", "--api-key", f"acme:{ACME}", "--api-key", f"globex:{GLOBEX}"],
    )
    server.start()
    for _ in range(2):  # acme owns versions 0 and 1 of "plans"
        assert create(server, "plans", flow_config("A"), key=ACME).status_code == 201
    yield server
    server.stop()


# Every route that can reveal or change acme's project, asked with globex's valid key.
FOREIGN_READS = [
    ("POST", "/distiller/download", {"project": "plans"}),
    ("POST", "/distiller/download", {"project": "plans", "project_version": "0"}),
    ("POST", "/distiller/download", {"project": "plans", "project_version": "1"}),
    ("GET", "/distiller/projects/plans", None),
]


@pytest.mark.parametrize(("method", "path", "body"), FOREIGN_READS)
def test_another_accounts_key_finds_nothing(
    two_accounts: EngineProcess, method: str, path: str, body: dict | None
) -> None:
    response = httpx.request(
        method, two_accounts.base_url + path, json=body, headers=headers(GLOBEX)
    )
    assert response.status_code == 404
    assert "not found" in response.json()["error"]["message"]
    assert "A agent" not in response.text  # nothing of acme's config leaks into the error


def test_another_accounts_listing_and_creates_stay_separate(two_accounts: EngineProcess) -> None:
    url = two_accounts.base_url
    assert httpx.get(f"{url}/distiller/projects", headers=headers(GLOBEX)).json() == {
        "projects": []
    }
    # globex creating "plans" makes its own version 0 and leaves acme's numbering alone.
    assert (
        create(two_accounts, "plans", flow_config("G"), key=GLOBEX).json()["project_version"] == 0
    )
    acme = httpx.get(f"{url}/distiller/projects/plans", headers=headers(ACME)).json()
    assert [v["version"] for v in acme["versions"]] == [0, 1]
    assert all(v["agents"] == ["A", "Flow"] for v in acme["versions"])


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "",
        "Bearer",
        f"Basic {ACME}",
        f"Token {ACME}",
        f"Bearer {ACME.upper()}",
        f"Bearer {ACME}x",
        f"Bearer {ACME[:-1]}",
        "Bearer ☃".encode(),  # not ASCII: sent as raw UTF-8 bytes
    ],
)
def test_malformed_or_near_miss_keys_are_refused(
    two_accounts: EngineProcess, authorization: str | bytes | None
) -> None:
    sent = [] if authorization is None else [(b"Authorization", authorization)]
    response = httpx.post(f"{two_accounts.base_url}/authentication/validate", headers=sent)
    assert response.status_code == 401
    assert "API key" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("key", "account", "project"),
    [
        (GLOBEX, "acme", "plans"),  # a valid key, but for another account
        (GLOBEX, "acme", "plans:0"),  # the same, for a pinned version
        (ACME + "x", "acme", "plans"),  # a near miss
        ("", "acme", "plans"),  # no key at all
    ],
)
async def test_websocket_refuses_foreign_and_wrong_keys_at_the_handshake(
    two_accounts: EngineProcess, key: str, account: str, project: str
) -> None:
    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(two_accounts, project, "intruder", key=key, account=account):
            pass
    assert refused.value.response.status_code == 403


async def test_own_account_connects_but_cannot_reach_a_project_it_lacks(
    two_accounts: EngineProcess,
) -> None:
    # globex has its own "plans" now, but no version 1: acme's version 1 is not reachable.
    async with connect(two_accounts, "plans:1", "me", key=GLOBEX, account="globex") as ws:
        frame = await ws.recv()
        assert "project 'plans' version 1 not found" in frame


def test_every_configured_key_is_compared_in_constant_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """A match stops nothing early: each key goes through hmac.compare_digest, right or wrong."""
    compared: list[bytes] = []
    real = hmac.compare_digest

    def spy(a: bytes, b: bytes) -> bool:
        compared.append(a)
        return real(a, b)

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    settings = Settings(api_keys={"k1": "one", "k2": "two", "k3": "three"})
    assert auth.account_for(settings, "Bearer k1") == "one"
    assert sorted(compared) == [b"k1", b"k2", b"k3"]
    compared.clear()
    assert auth.account_for(settings, "Bearer nope") is None
    assert sorted(compared) == [b"k1", b"k2", b"k3"]
