"""The app as a new user tries it: skip keys, queued questions, text mode, exports, errors.

Each test drives the real app (Textual pilot) against the real engine on a
loopback port; each one failed before the fix it guards.
"""

from __future__ import annotations

import json

from app.cli import parse_options
from app.engine import EngineProcess, free_port
from protocol import AsyncDistillerClient
from tests.conftest import wait_until
from tests.test_app_session import (
    SIZE,
    app_for,
    ask,
    connection_text,
    create_project,
    turn_finished,
    wait_for,
)
from tests.test_app_speech import _wait_for_tts
from tests.wire import flow_config

LONG = " ".join(f"word{i}" for i in range(60))
"""Sixty words at 80 ms each: about five seconds per agent, time to act mid-answer."""


def slow_project(server: EngineProcess, name: str, *agents: str, speech: bool = False) -> None:
    """A flow whose echo agents stream one word every 80 ms (time to act mid-answer)."""
    config = flow_config(*agents, word_delay_ms=80)
    if speech:
        config["speech_config"] = {"sample_rate": 16000, "tts": {"engine": "piper"}}
    client = AsyncDistillerClient(api_key=server.api_key, base_url=server.base_url)
    try:
        client.realtime_distiller.create_project(json_config=config, project=name)
    finally:
        client.close()


async def test_space_skips_the_agent_even_when_the_project_browser_has_focus(
    echo_server: EngineProcess,
) -> None:
    slow_project(echo_server, "slow-space", "First", "Second")
    app = app_for(echo_server, "pilot-space", project="slow-space")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "connected" in connection_text(app))
        await ask(pilot, LONG)
        await wait_for(pilot, lambda: app.talk.can_skip)
        app.browser.tree.focus()  # the docs send users here: ctrl+b, then space
        expanded = [node.is_expanded for node in app.browser.tree.root.children]
        await pilot.press("space")
        await wait_for(pilot, lambda: turn_finished(app, ["First", "Second"]), timeout=30)
        first, second = app.conversation.current_turn.answers
        assert first.state == "skipped" and len(first.text.split()) < 60
        assert second.state == "done" and second.text.strip() == LONG
        # The tree did not fold or unfold.
        assert [node.is_expanded for node in app.browser.tree.root.children] == expanded


async def test_a_question_asked_while_an_answer_streams_gets_its_own_answers(
    echo_server: EngineProcess,
) -> None:
    slow_project(echo_server, "slow-queue", "Researcher", "Strategist")
    app = app_for(echo_server, "pilot-queue", project="slow-queue")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "connected" in connection_text(app))
        await ask(pilot, "what about bonds " + LONG)
        await wait_for(pilot, lambda: app.talk.can_skip)  # Researcher is answering
        await ask(pilot, "and crypto " + LONG)

        def both_answered() -> bool:
            turns = app.conversation.turns
            return len(turns) == 2 and all(
                [a.role for a in t.answers] == ["Researcher", "Strategist"]
                and all(a.state == "done" for a in t.answers)
                for t in turns
            )

        await wait_for(pilot, both_answered, timeout=60)
        bonds, crypto = app.conversation.turns
        assert all("bonds" in a.text and "crypto" not in a.text for a in bonds.answers)
        assert all("crypto" in a.text and "bonds" not in a.text for a in crypto.answers)


async def test_text_mode_is_not_paced_by_speech_nobody_hears(
    speech_server: EngineProcess,
) -> None:
    await _wait_for_tts(speech_server)
    slow_project(speech_server, "text-mode", "Solo", speech=True)
    app = app_for(speech_server, "pilot-text", project="text-mode", audio="none")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "connected" in connection_text(app), timeout=60)
        assert app.status.field_text("audio").startswith("text only")
        await ask(pilot, "hello there")
        await wait_for(pilot, lambda: turn_finished(app, ["Solo"]), timeout=60)
        solo = app.conversation.current_turn.answers[0]
        assert "first_text_s" in solo.timings
        assert solo.timings.get("first_audio_s") is None  # the engine spoke nothing for nobody


async def test_an_unreachable_server_is_an_error_not_an_empty_list() -> None:
    app = app_for_url(f"http://127.0.0.1:{free_port()}")
    async with app.run_test(size=SIZE) as pilot:

        def message() -> str:
            return str(app.browser.query_one("#project-empty").render())

        await wait_for(pilot, lambda: "No engine" in message())
        assert "127.0.0.1" in message() and "offline" in connection_text(app)
        await pilot.press("f2")
        await pilot.pause()
        notices = [str(n.message) for n in app._notifications]
        assert any("No engine" in n and "127.0.0.1" in n for n in notices)
        assert not any("Select a project first" in n for n in notices)


def app_for_url(url: str):  # type: ignore[no-untyped-def]
    from app.launch import LaunchOptions
    from app.main import DistillerApp

    return DistillerApp(
        LaunchOptions(server_url=url, api_key="k", uuid="pilot-nowhere", audio="null")
    )


async def test_export_records_the_version_talked_to_its_date_and_uuid(
    echo_server: EngineProcess, tmp_path_factory
) -> None:  # type: ignore[no-untyped-def]
    create_project(echo_server, "advisor-export")
    data_dir = tmp_path_factory.mktemp("export-data")
    app = app_for(echo_server, "pilot-export", project="advisor-export", data_dir=data_dir)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "connected" in connection_text(app))
        await ask(pilot, "how do bonds work")
        await wait_for(
            pilot, lambda: turn_finished(app, ["Researcher", "Strategist", "Market Data"])
        )
        document = json.loads(app.action_export("json").read_text())  # type: ignore[union-attr]
        markdown = app.action_export("md").read_text()  # type: ignore[union-attr]
    assert document["project"] == "advisor-export" and document["version"] == 0
    assert document["uuid"] == "pilot-export" and document["exported_at"]
    assert document["turns"][0]["user"] == "how do bonds work"
    assert markdown.startswith("# Conversation with advisor-export (v0)")
    assert "`pilot-export`" in markdown and document["exported_at"] in markdown


def test_the_device_flags_the_audio_errors_name_exist(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from audio.sounddevice_backend import DEVICE_HINT

    _, settings = parse_options(
        ["--config", str(tmp_path / "none.yaml"), "--input-device", "2", "--output-device", "hdmi"]
    )
    assert settings.input_device == 2 and settings.output_device == "hdmi"  # type: ignore[attr-defined]
    assert "--input-device" in DEVICE_HINT and "--output-device" in DEVICE_HINT


async def ask_once(server: EngineProcess, uuid: str, question: str, roles: list[str]) -> None:
    """One launch of the app: connect, ask, read the answer, quit."""
    app = app_for(server, uuid, project="advisor-history")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "connected" in connection_text(app))
        await ask(pilot, question)
        await wait_for(pilot, lambda: turn_finished(app, roles))


async def test_yesterdays_conversation_is_listed_reopened_and_continued(
    echo_server: EngineProcess,
) -> None:
    from app.screens import ConversationsScreen

    create_project(echo_server, "advisor-history")
    roles = ["Researcher", "Strategist", "Market Data"]
    for uuid, question in (("day-one", "how do bonds work"), ("day-two", "what about stocks")):
        await ask_once(echo_server, uuid, question, roles)
    past = AsyncDistillerClient(api_key="k", base_url=echo_server.base_url)
    past_conversations = past.realtime_distiller.conversations

    def both_saved() -> bool:
        page, _ = past_conversations.list("advisor-history")
        return {c.uuid for c in page} == {"day-one", "day-two"}

    await wait_until(both_saved, 20, "both conversations to be saved")

    # The app is started again (a new uuid), and the first conversation is reopened.
    app = app_for(echo_server, "day-three")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "advisor-history" in app.browser.projects)
        app.browser.tree.focus()
        assert app.browser.select("advisor-history")
        await pilot.pause()
        await pilot.press("ctrl+o")
        await wait_for(pilot, lambda: isinstance(app.screen, ConversationsScreen))
        screen = app.screen
        await wait_for(pilot, lambda: screen.options.option_count == 2)
        titles = [str(screen.options.get_option_at_index(i).prompt) for i in range(2)]
        assert titles[0].startswith("what about stocks")  # newest first
        await pilot.press("enter")  # from the search box to the list
        await pilot.press("down", "enter")  # the older one: day-one
        await wait_for(pilot, lambda: "connected" in connection_text(app))
        assert app.status.field_text("uuid") == "uuid day-one"
        earlier = app.conversation.turns[0]
        assert earlier.user.text == "how do bonds work"
        assert [a.role for a in earlier.answers] == roles
        await ask(pilot, "and what are the risks")
        await wait_for(
            pilot, lambda: len(app.conversation.turns) == 2 and turn_finished(app, roles)
        )
    said = past_conversations.read("advisor-history", "day-one")
    questions = [e.text for e in said if e.role == "user"]
    assert questions == ["how do bonds work", "and what are the risks"]
    past.close()
