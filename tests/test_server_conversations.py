"""Past conversations (ours): listed per project and account, searched, renamed, deleted."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from app.engine import EngineProcess
from protocol import AsyncDistillerClient
from protocol.client.errors import NotFoundError
from tests.conftest import STORES, new_store_args, wait_until
from tests.wire import create, flow_config, headers

ACME, GLOBEX = "acme-secret", "globex-secret"


@pytest.fixture(scope="module", params=STORES)
def server(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[EngineProcess]:
    """One engine per store backend: every conversation feature runs on both."""
    keys = ["--api-key", f"acme:{ACME}", "--api-key", f"globex:{GLOBEX}"]
    engine = EngineProcess(
        tmp_path_factory.mktemp("conversations"),
        provider="echo",
        extra_args=["--no-speech", *keys, *new_store_args(request.param, request)],
    )
    engine.start()
    assert create(engine, "helpdesk", flow_config("Helper"), key=ACME).status_code == 201
    yield engine
    engine.stop()


def sdk(server: EngineProcess, key: str = ACME) -> AsyncDistillerClient:
    return AsyncDistillerClient(api_key=key, base_url=server.base_url)


async def talk(server: EngineProcess, uuid: str, *questions: str) -> None:
    client = sdk(server)
    async with client.realtime_distiller(project="helpdesk", uuid=uuid) as session:
        for question in questions:
            await session.send_text_query(question)
            async for _ in session.responses():
                pass
    client.close()


def listed(server: EngineProcess, query: str = "", key: str = ACME) -> list[str]:
    page, _ = sdk(server, key).realtime_distiller.conversations.list("helpdesk", query=query)
    return [c.uuid for c in page]


async def test_conversations_are_listed_newest_first_titled_by_their_first_question(
    server: EngineProcess,
) -> None:
    await talk(server, "u-printer", "my printer is jammed", "it still jams")
    await talk(server, "u-vpn", "the vpn drops every hour")
    # History is written in batches off the response path: wait until it is there.
    await wait_until(lambda: {"u-printer", "u-vpn"} <= set(listed(server)), 20, "both listed")
    page, next_offset = sdk(server).realtime_distiller.conversations.list("helpdesk")
    by_uuid = {c.uuid: c for c in page}
    assert [c.uuid for c in page][:2] == ["u-vpn", "u-printer"]
    assert by_uuid["u-printer"].title == "my printer is jammed"
    assert by_uuid["u-printer"].questions == 2 and by_uuid["u-vpn"].questions == 1
    assert next_offset is None

    said = sdk(server).realtime_distiller.conversations.read("helpdesk", "u-printer")
    assert [(e.role, e.text.strip()) for e in said][:2] == [
        ("user", "my printer is jammed"),
        ("assistant", "my printer is jammed"),  # the echo agent
    ]
    assert said[0].agent == "" and said[1].agent == "Helper"


async def test_search_rename_delete_and_pages(server: EngineProcess) -> None:
    await talk(server, "u-search-a", "where is the invoice for march")
    await talk(server, "u-search-b", "reset my password please")
    await wait_until(lambda: "u-search-b" in listed(server), 20, "the conversation to be listed")
    assert listed(server, "INVOICE") == ["u-search-a"]  # words said, any case
    past = sdk(server).realtime_distiller.conversations
    past.rename("helpdesk", "u-search-b", "Password trouble")
    assert listed(server, "trouble") == ["u-search-b"]  # titles are searched too
    page, _ = past.list("helpdesk", query="trouble")
    assert page[0].title == "Password trouble"

    first, next_offset = past.list("helpdesk", limit=1)
    assert len(first) == 1 and next_offset == 1
    second, _ = past.list("helpdesk", limit=1, offset=next_offset)
    assert second[0].uuid != first[0].uuid

    past.delete("helpdesk", "u-search-b")
    assert "u-search-b" not in listed(server)
    with pytest.raises(NotFoundError, match="u-search-b"):
        past.read("helpdesk", "u-search-b")
    with pytest.raises(NotFoundError):
        past.rename("helpdesk", "u-search-b", "gone")


async def test_another_account_sees_and_changes_nothing(server: EngineProcess) -> None:
    await talk(server, "u-private", "my salary question")
    await wait_until(lambda: "u-private" in listed(server), 20, "the conversation to be listed")
    assert listed(server, key=GLOBEX) == []
    base = f"{server.base_url}/distiller/conversations/helpdesk/u-private"
    for method in ("GET", "DELETE"):
        assert httpx.request(method, base, headers=headers(GLOBEX)).status_code == 404
    renamed = httpx.patch(base, json={"title": "mine"}, headers=headers(GLOBEX))
    assert renamed.status_code == 404
    assert httpx.get(base).status_code == 401
    assert "u-private" in listed(server)  # untouched


def test_bad_requests_name_the_problem(server: EngineProcess) -> None:
    base = f"{server.base_url}/distiller/conversations/helpdesk"
    bad_limit = httpx.get(f"{base}?limit=0", headers=headers(ACME))
    assert bad_limit.status_code == 400 and "limit" in bad_limit.json()["error"]["message"]
    bad_uuid = httpx.get(f"{base}/bad%20uuid", headers=headers(ACME))
    assert bad_uuid.status_code == 400 and "uuid" in bad_uuid.json()["error"]["message"]
    empty_title = httpx.patch(f"{base}/u-vpn", json={"title": " "}, headers=headers(ACME))
    assert empty_title.status_code == 422 and "title" in empty_title.json()["error"]["message"]
