"""Pilot tests: the app driven by keys against the real embedded engine.

The engine runs for real on a loopback port (``echo_server`` from conftest:
the deterministic echo LLM, no speech models). The app's own custom agent
("Market Data" of the advisor example) is served through its executor_dict.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot

from app.engine import EngineProcess
from app.launch import LaunchOptions
from app.main import DistillerApp
from protocol import AsyncDistillerClient
from tests.conftest import wait_until
from widgets import role_class

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
ADVISOR_YAML = EXAMPLES / "advisor_flow.yaml"
ADVISOR_ROLES = ["Researcher", "Strategist", "Market Data"]
SIZE = (120, 40)


async def wait_for(
    pilot: Pilot[None], condition: Callable[[], object], timeout: float = 20
) -> None:
    """Let the app run until ``condition`` holds; fail showing the app's state if it never does."""
    app = pilot.app

    def state() -> str:
        connection = app.status.field_text("connection") if isinstance(app, DistillerApp) else ""
        return f"the condition (connection: {connection!r})"

    await wait_until(condition, timeout, state)


def create_project(server: EngineProcess, name: str, yaml_path: Path = ADVISOR_YAML) -> None:
    client = AsyncDistillerClient(api_key=server.api_key, base_url=server.base_url)
    try:
        client.realtime_distiller.create_project(project=name, config_path=yaml_path)
    finally:
        client.close()


def app_for(server: EngineProcess, uuid: str, **options: object) -> DistillerApp:
    """The app pointed at ``server``; the sound card is replaced by the null backend."""
    options.setdefault("audio", "null")
    return DistillerApp(
        LaunchOptions(
            server_url=server.base_url,
            api_key=server.api_key,
            uuid=uuid,
            seed_examples=False,
            **options,  # type: ignore[arg-type]
        )
    )


def connection_text(app: DistillerApp) -> str:
    return app.status.field_text("connection")


def turn_finished(app: DistillerApp, roles: list[str]) -> bool:
    turn = app.conversation.current_turn
    return (
        turn is not None
        and [a.role for a in turn.answers] == roles
        and all(a.state != "streaming" for a in turn.answers)
        and not app.conversation.answering
    )


async def ask(pilot: Pilot[None], text: str) -> None:
    app = pilot.app
    assert isinstance(app, DistillerApp)
    app.input_bar.input.focus()
    await pilot.press(*text, "enter")


async def test_browse_connect_and_see_role_tagged_streamed_answers(
    echo_server: EngineProcess,
) -> None:
    create_project(echo_server, "advisor-browse")
    app = app_for(echo_server, "pilot-browse")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "advisor-browse" in app.browser.projects)
        # Browse with the keyboard: the project node, then enter connects to its latest.
        app.browser.tree.focus()
        assert app.browser.select("advisor-browse")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "connected" in connection_text(app))
        assert app.status.field_text("target") == "advisor-browse:latest"
        assert app.focused is app.input_bar.input  # ready to type at once

        await ask(pilot, "how do bonds work")
        await wait_for(pilot, lambda: turn_finished(app, ADVISOR_ROLES))

        turn = app.conversation.current_turn
        assert turn is not None
        assert turn.user.text == "how do bonds work"
        researcher, strategist, market = turn.answers
        # The echo provider streams the query back, word by word, per agent.
        assert "how do bonds work" in researcher.text
        assert "how do bonds work" in strategist.text
        # Market Data is a CustomAgent that the app itself ran (executor_dict).
        assert "Market snapshot (demo data)" in market.text
        for answer in turn.answers:
            assert answer.query_one(".role-tag").render().plain == answer.role
            assert answer.has_class(role_class(answer.role))
            assert answer.state == "done"
        # Timings from response.done are shown under the answers.
        assert "first text" in researcher.timings_text


async def test_switch_version_reconnects_to_that_version(echo_server: EngineProcess) -> None:
    create_project(echo_server, "advisor-versions")
    single = EXAMPLES / "voice_assistant.yaml"
    create_project(echo_server, "advisor-versions", single)  # v1: one agent
    app = app_for(echo_server, "pilot-versions", project="advisor-versions", version=0)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "connected" in connection_text(app))
        assert app.status.field_text("target") == "advisor-versions:0"
        await ask(pilot, "first question")
        await wait_for(pilot, lambda: turn_finished(app, ADVISOR_ROLES))

        # Pick v1 in the browser and connect to it.
        app.browser.tree.focus()
        assert app.browser.select("advisor-versions", 1)
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: app.status.field_text("target") == "advisor-versions:1")
        await wait_for(pilot, lambda: "connected" in connection_text(app))
        await ask(pilot, "second question")
        await wait_for(pilot, lambda: turn_finished(app, ["Assistant"]))
        assert "second question" in app.conversation.current_turn.answers[0].text


async def test_create_project_from_yaml_shows_errors_and_creates_nothing(
    echo_server: EngineProcess, tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text(
        ADVISOR_YAML.read_text().replace(
            '- agent_name: "Market Data"\n', '- agent_name: "Market Datum"\n'
        )
    )
    app = app_for(echo_server, "pilot-create")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: app.projects is not None)
        await pilot.press("ctrl+n")
        await wait_for(pilot, lambda: app.screen.query("#create-path"))
        await pilot.press(*str(broken))
        app.screen.query_one("#create-name").value = "made-in-dialog"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Not created" in app.screen.errors_text)
        errors = app.screen.errors_text
        assert "Market Datum" in errors
        assert "super_agents" in errors  # the key path of the problem
        client = AsyncDistillerClient(api_key=echo_server.api_key, base_url=echo_server.base_url)
        try:
            names = [p.name for p in client.realtime_distiller.list_projects()]
        finally:
            client.close()
        assert "made-in-dialog" not in names

        # Fix the path: the same dialog now creates the project and closes.
        path_input = app.screen.query_one("#create-path")
        path_input.value = str(ADVISOR_YAML)
        app.screen.query_one("#create-name").value = "made-in-dialog"
        path_input.focus()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "made-in-dialog" in app.browser.projects)
        assert app.browser.selection is not None
        assert app.browser.selection.project == "made-in-dialog"


async def test_reconnects_after_the_server_restarts_and_keeps_typed_text(
    tmp_path: Path,
) -> None:
    server = EngineProcess(
        tmp_path / "data", provider="echo", extra_args=["--no-speech", "--executor-timeout", "2"]
    )
    server.start()
    try:
        create_project(server, "advisor-restart")
        app = app_for(server, "pilot-restart", project="advisor-restart")
        async with app.run_test(size=SIZE) as pilot:
            await wait_for(pilot, lambda: "connected" in connection_text(app))
            await ask(pilot, "before the restart")
            await wait_for(pilot, lambda: turn_finished(app, ADVISOR_ROLES))

            await asyncio.to_thread(server.stop)
            await wait_for(
                pilot, lambda: any(s in connection_text(app) for s in ("lost", "reconnecting"))
            )
            # Typed while the engine is down: kept, and sent once it is back.
            await ask(pilot, "while it was down")
            await asyncio.to_thread(server.start)
            await wait_for(pilot, lambda: "connected" in connection_text(app), timeout=30)
            await wait_for(pilot, lambda: turn_finished(app, ADVISOR_ROLES))
            turn = app.conversation.current_turn
            assert turn is not None
            assert turn.user.text == "while it was down"
            assert "while it was down" in turn.answers[0].text
            assert app.status.field_text("uuid") == "uuid pilot-restart"
    finally:
        server.stop()


@pytest.mark.parametrize("fmt", ["md", "json"])
async def test_export_writes_the_conversation(
    echo_server: EngineProcess, tmp_path: Path, fmt: str
) -> None:
    create_project(echo_server, f"advisor-export-{fmt}")
    app = app_for(
        echo_server, f"pilot-export-{fmt}", project=f"advisor-export-{fmt}", data_dir=tmp_path
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "connected" in connection_text(app))
        await ask(pilot, "export me")
        await wait_for(pilot, lambda: turn_finished(app, ADVISOR_ROLES))
        path = app.action_export(fmt)
    assert path is not None and path.parent == tmp_path / "exports"
    text = path.read_text()
    assert "export me" in text
    assert "Market Data" in text
    if fmt == "json":
        import json

        document = json.loads(text)
        assert document["uuid"] == f"pilot-export-{fmt}"
        assert [a["role"] for a in document["turns"][0]["answers"]] == ADVISOR_ROLES


async def test_unknown_project_is_an_inline_error_not_a_crash(echo_server: EngineProcess) -> None:
    app = app_for(echo_server, "pilot-unknown", project="no-such-project")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: app.conversation.query(".inline-error") and "failed" in connection_text(app),
        )
        error = str(app.conversation.query_one(".inline-error").render())
        assert "no-such-project" in error
        # Still usable: the browser lists projects and the app keeps running.
        assert app.is_running


async def test_view_config_and_diff_two_versions(echo_server: EngineProcess) -> None:
    from app.screens import ConfigScreen, DiffScreen
    from widgets import ConfigView, DiffView

    create_project(echo_server, "advisor-config")
    create_project(echo_server, "advisor-config", EXAMPLES / "voice_assistant.yaml")
    app = app_for(echo_server, "pilot-config")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "advisor-config" in app.browser.projects)
        app.browser.tree.focus()
        assert app.browser.select("advisor-config", 0)
        await pilot.pause()
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigScreen))
        yaml_text = app.screen.query_one(ConfigView).yaml_text
        assert "FlowSuperAgent" in yaml_text and "Market Data" in yaml_text
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, ConfigScreen))

        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DiffScreen))
        view = app.screen.query_one(DiffView)
        await wait_for(pilot, lambda: view.diff_text)
        assert view.diff_text.startswith("--- advisor-config v0\n+++ advisor-config v1\n")
        assert "-    max_tokens: 120\n+    max_tokens: 80\n" in view.diff_text
