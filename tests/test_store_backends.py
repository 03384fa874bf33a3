"""Both store backends at their edges: migrations, a schema from the future, bad URLs,
and a database that goes away while sessions run and comes back."""

from __future__ import annotations

import json
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import websockets

from app.engine import EngineProcess, free_port
from deploy.postgres import TempPostgres
from server.store import HistoryEntry, HistoryTurn, make_store
from tests.conftest import wait_until_sync
from tests.wire import Peer, connect, create, flow_config, headers, session, text_of

TEXT_SERVER = ["--no-speech"]


def start_failure(data_dir: Path, *args: str) -> str:
    """The server's complaint when it refuses to start with ``args``."""
    server = EngineProcess(data_dir, provider="echo", extra_args=[*TEXT_SERVER, *args])
    with pytest.raises(RuntimeError, match="exited with code 2") as refused:
        server.start()
    return str(refused.value)


def versions(server: EngineProcess, project: str) -> list[int]:
    listing = httpx.get(f"{server.base_url}/distiller/projects/{project}", headers=headers())
    return [v["version"] for v in listing.json()["versions"]]


# -- schema versions ---------------------------------------------------------------------


def test_a_sqlite_store_from_before_migrations_is_adopted_unchanged(tmp_path: Path) -> None:
    """A data dir written before schema versions existed keeps its projects and numbering."""
    tmp_path.mkdir(exist_ok=True)
    db = sqlite3.connect(tmp_path / "distiller.sqlite3")
    db.executescript(
        "CREATE TABLE project_versions (account TEXT NOT NULL, project TEXT NOT NULL, "
        "version INTEGER NOT NULL, config_json TEXT NOT NULL, created_at TEXT NOT NULL, "
        "PRIMARY KEY (account, project, version));"
    )
    db.execute(
        "INSERT INTO project_versions VALUES ('local', 'old', 0, ?, '2025-01-01T00:00:00')",
        (json.dumps(flow_config("A")),),
    )
    db.commit()
    db.close()
    with EngineProcess(tmp_path, provider="echo", extra_args=TEXT_SERVER) as server:
        assert create(server, "old", flow_config("A")).json()["project_version"] == 1
        assert versions(server, "old") == [0, 1]


def test_a_sqlite_schema_from_the_future_is_refused_and_left_alone(tmp_path: Path) -> None:
    with EngineProcess(tmp_path, provider="echo", extra_args=TEXT_SERVER) as server:
        create(server, "kept", flow_config("A"))
    db = sqlite3.connect(tmp_path / "distiller.sqlite3")
    db.execute("PRAGMA user_version=99")
    db.commit()
    db.close()
    message = start_failure(tmp_path)
    assert "schema version 99" in message and "newer distiller-server" in message
    db = sqlite3.connect(tmp_path / "distiller.sqlite3")
    assert db.execute("SELECT COUNT(*) FROM project_versions").fetchone()[0] == 1
    assert db.execute("PRAGMA user_version").fetchone()[0] == 99


def test_a_postgres_schema_from_the_future_is_refused_and_left_alone(
    tmp_path: Path, postgres: TempPostgres
) -> None:
    url = postgres.create_database("future")
    with EngineProcess(
        tmp_path, provider="echo", extra_args=[*TEXT_SERVER, "--store", url]
    ) as server:
        create(server, "kept", flow_config("A"))
    postgres.psql("future", "INSERT INTO schema_version VALUES (7)")
    message = start_failure(tmp_path, "--store", url)
    assert "schema version 7" in message and "newer distiller-server" in message
    assert postgres.psql("future", "SELECT COUNT(*) FROM project_versions").strip() == "1"


def test_replicas_starting_together_migrate_once(tmp_path: Path, postgres: TempPostgres) -> None:
    url = postgres.create_database("together")
    replicas = [
        EngineProcess(
            tmp_path / f"r{i}", provider="echo", extra_args=[*TEXT_SERVER, "--store", url]
        )
        for i in range(3)
    ]
    try:
        with ThreadPoolExecutor(len(replicas)) as pool:  # all three migrate at the same time
            list(pool.map(lambda replica: replica.start(), replicas))
        versions = postgres.psql("together", "SELECT version FROM schema_version ORDER BY 1")
        assert versions.split() == ["1", "2", "3"]  # each migration ran once
    finally:
        for replica in replicas:
            replica.stop()


# -- bad store URLs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("mysql://db/x", "unknown store scheme 'mysql'"),
        ("just-a-path", "has no scheme"),
        (f"postgresql://distiller@127.0.0.1:{free_port()}/x", "cannot reach the database"),
        ("postgresql://distiller:s3cret@127.0.0.1:{port}/no_such_db", "does not exist"),
    ],
)
def test_a_bad_store_url_stops_the_start_with_the_reason(
    tmp_path: Path, postgres: TempPostgres, url: str, expected: str
) -> None:
    message = start_failure(tmp_path, "--store", url.format(port=postgres.port))
    assert expected in message
    assert "s3cret" not in message  # passwords never reach logs


def test_the_store_url_can_come_from_the_environment(
    tmp_path: Path, postgres: TempPostgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = postgres.create_database("from_env")
    monkeypatch.setenv("DISTILLER_STORE_URL", url)
    with EngineProcess(tmp_path, provider="echo", extra_args=TEXT_SERVER) as server:
        create(server, "envy", flow_config("A"))
    assert postgres.psql("from_env", "SELECT project FROM project_versions").strip() == "envy"


# -- the database goes away while sessions run --------------------------------------------


async def _told(peer: Peer, words: str, timeout: float = 20.0) -> str:
    """The next error frame, which must contain ``words``."""
    for frame in await peer.until("error", timeout):
        if frame.get("type") == "error":
            message = frame["error_detail"]["message"]
            assert words in message, message
            return message
    raise AssertionError("unreachable")


async def test_a_database_outage_is_told_survived_and_loses_no_history(tmp_path: Path) -> None:
    with TempPostgres() as pg:
        url = pg.create_database("outage")
        server = EngineProcess(tmp_path, provider="echo", extra_args=[*TEXT_SERVER, "--store", url])
        with server:
            assert create(server, "steady", flow_config("A")).status_code == 201
            async with session(server, "steady", "stays") as peer:
                await peer.send({"type": "input_text", "text": "before the outage"})
                await peer.until("response.done")
                pg.stop()
                await _told(peer, "unreachable")
                # The conversation goes on while the database is away ...
                await peer.send({"type": "input_text", "text": "during the outage"})
                assert text_of(await peer.until("response.done"), "A") == "during the outage"
                # ... creates say why they fail, and newcomers are asked to come back later.
                refused = create(server, "steady", flow_config("A"))
                assert refused.status_code == 503
                assert "unreachable" in refused.json()["error"]["message"]
                async with connect(server, "steady", "newcomer") as ws:
                    error = Peer(ws)
                    frame = await error.recv()
                    assert "unreachable" in frame["error_detail"]["message"]
                    with pytest.raises(websockets.ConnectionClosed) as closed:
                        await error.recv()
                    assert closed.value.rcvd.code == 1013
                pg.start()
                await _told(peer, "is back")
            assert create(server, "steady", flow_config("A")).json()["project_version"] == 1
            # The turn from the outage was kept and written once the database returned
            # (the writer retries on its own clock: wait for the database to show it).
            wait_until_sync(
                lambda: questions_asked(server, "steady", "stays") >= 2,
                message=lambda: f"{questions_asked(server, 'steady', 'stays')} question(s) stored",
            )
            async with session(server, "steady", "stays") as again:
                created = again.received[0]
            assert created["session"]["history_turns"] == 4  # both turns, each exactly once


def questions_asked(server: EngineProcess, project: str, uuid: str) -> int:
    """How many questions the store holds for one conversation, as the listing says."""
    listing = httpx.get(
        f"{server.base_url}/distiller/conversations/{project}", headers=headers(), timeout=10
    ).json()
    return sum(c["questions"] for c in listing["conversations"] if c["uuid"] == uuid)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
async def test_a_turn_written_again_after_a_lost_acknowledgement_is_stored_once(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    """A commit can succeed while its acknowledgement is lost with the connection; the
    writer then sends the same turn again, and the conversation must not show it twice."""
    if backend == "sqlite":
        store = make_store(None, tmp_path)
    else:
        postgres: TempPostgres = request.getfixturevalue("postgres")
        store = make_store(postgres.create_database("twice"), tmp_path)
    await store.open()
    try:
        turn = HistoryTurn("acme", "desk", "u1", [HistoryEntry("user", "", "hello", False)])
        answer = HistoryTurn("acme", "desk", "u1", [HistoryEntry("assistant", "A", "hi", False)])
        await store.append_history_batch([turn])
        await store.append_history_batch([turn, answer])  # the retry carries the first again
        texts = [e.text for e in await store.recent_history("acme", "desk", "u1", 10)]
        assert texts == ["hello", "hi"]
    finally:
        await store.close()
