"""Snapshots of the app's screens on canned data (pytest-textual-snapshot).

No engine runs here: the app is started offline and fed the data its
workers would otherwise fetch, so every pixel is deterministic. Behaviour
against the real engine is covered by the Pilot tests in test_app_session.py.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime

import pytest
from textual.pilot import Pilot
from textual.widgets import Input

from app.launch import LaunchOptions
from app.main import DistillerApp
from app.screens import ConfigScreen, CreateProjectScreen, DiffScreen
from protocol import events as ev
from protocol.conversation import Conversation
from protocol.projects import ProjectVersion
from widgets import ProjectInfo

SIZE = (120, 40)
AGENTS = ("Researcher", "Market Data", "Advisor Flow")
FLOWS = (("Advisor Flow", ("Researcher", "Market Data")),)


def _at(hour: int) -> datetime:
    return datetime(2025, 3, 14, hour, 5, tzinfo=UTC)


PROJECTS = [
    ProjectInfo(
        "advisor-flow",
        (
            ProjectVersion(0, _at(9), AGENTS, False, FLOWS),
            ProjectVersion(1, _at(10), AGENTS, True, FLOWS),
            ProjectVersion(2, _at(11), ("Summarizer", *AGENTS), True, FLOWS),
        ),
    ),
    ProjectInfo("voice-assistant", (ProjectVersion(0, _at(12), ("Assistant",), True),)),
    ProjectInfo(
        "support_bot",
        (
            ProjectVersion(0, _at(8), ("Triage", "Billing"), False),
            ProjectVersion(1, _at(13), ("Triage", "Billing"), False),
        ),
    ),
]

CONFIG_V1 = """\
orchestrator:
  agent_list:
  - agent_name: Advisor Flow
utility_agents:
- agent_class: SearchAgent
  agent_name: Researcher
  agent_description: Finds background facts.
- agent_class: CustomAgent
  agent_name: Market Data
  agent_description: Live prices, served by the app.
super_agents:
- agent_class: FlowSuperAgent
  agent_name: Advisor Flow
  config:
    goal: Answer investment questions.
    agent_list:
    - agent_name: Researcher
      next_step:
      - Market Data
    - agent_name: Market Data
speech_config:
  sample_rate: 16000
"""

CONFIG_V2 = CONFIG_V1.replace("Finds background facts.", "Finds facts and cites sources.").replace(
    "sample_rate: 16000", "sample_rate: 24000\n  tts:\n    engine: piper"
)


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Times are shown in local time; pin it so snapshots match on every machine."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def steady(run_before: Callable[[Pilot[None]], Awaitable[None]]):  # type: ignore[no-untyped-def]
    """Stop every text cursor blinking, so a snapshot never depends on when it is taken."""

    async def wrapped(pilot: Pilot[None]) -> None:
        await run_before(pilot)
        for widget in pilot.app.screen.query(Input):
            widget.cursor_blink = False
        await pilot.pause()

    return wrapped


def offline_app() -> DistillerApp:
    return DistillerApp(LaunchOptions(offline=True, uuid="demo-user"))


async def _with_projects(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, DistillerApp)
    app.browser.set_projects(PROJECTS)
    app.browser.select("advisor-flow", 1)
    app.browser.tree.focus()
    await pilot.pause()


def test_browser_with_projects_and_versions(snap_compare) -> None:
    assert snap_compare(offline_app(), terminal_size=SIZE, run_before=steady(_with_projects))


def test_config_view(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        await _with_projects(pilot)
        await pilot.app.push_screen(ConfigScreen("advisor-flow", 1, CONFIG_V1))
        await pilot.pause()

    assert snap_compare(offline_app(), terminal_size=SIZE, run_before=steady(run_before))


def test_version_diff(snap_compare) -> None:
    configs = {1: CONFIG_V1, 2: CONFIG_V2}

    async def load(version: int) -> str:
        return configs[version]

    async def run_before(pilot: Pilot[None]) -> None:
        await _with_projects(pilot)
        await pilot.app.push_screen(DiffScreen("advisor-flow", [0, 1, 2], 1, 2, load))
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    assert snap_compare(offline_app(), terminal_size=SIZE, run_before=steady(run_before))


def test_conversation_with_two_agents_one_skipped(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, DistillerApp)
        await _with_projects(pilot)
        app.status.set_connection("connected")
        app.status.set_target("advisor-flow", 1)
        turn = await app.conversation.start_turn("How can I protect my investments?")
        researcher = await turn.start_answer("Researcher")
        await researcher.append("Diversification is the **first** line of defence:\n\n")
        await researcher.append("- spread money across asset classes\n- rebalance")
        researcher.mark("skipped")
        market = await turn.start_answer("Market Data")
        await market.append("The index is up 1.2% today; bond yields hold at 4.1%.")
        await turn.finish()
        researcher.show_timings("first text 0.08 s")
        market.show_timings("first text 0.31 s · first audio 0.74 s")
        app.conversation.focus()
        await pilot.pause()

    assert snap_compare(offline_app(), terminal_size=SIZE, run_before=steady(run_before))


def test_create_dialog_shows_validation_error(snap_compare) -> None:
    async def rejecting_create(path: str, name: str) -> list[str]:
        return [
            "super_agents[0].config.agent_list[1].agent_name: 'Market Datum' is not a "
            "defined agent",
            "speech_config.sample_rate: must be one of 8000, 16000, 22050, 24000, 48000",
        ]

    async def run_before(pilot: Pilot[None]) -> None:
        await _with_projects(pilot)
        screen = CreateProjectScreen(rejecting_create, path="examples/broken.yaml")
        await pilot.app.push_screen(screen)
        await pilot.pause()
        await pilot.click("#create-submit")
        await pilot.app.workers.wait_for_complete()
        # Where focus lands after a click races the screen's own mount focus on a
        # busy machine: put it where a user fixing the path would have it.
        screen.query_one("#create-path").focus()
        await pilot.hover("#create-errors")
        await pilot.pause()

    assert snap_compare(offline_app(), terminal_size=SIZE, run_before=steady(run_before))


def test_text_mode_status_bar(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, DistillerApp)
        await _with_projects(pilot)
        app.talk.set_audio(None, "no sound device found")
        app.status.set_connection("connected")
        app.status.set_target("advisor-flow", 1)
        app.status.set_sample_rate(16000)
        app.status.set_latency(0.74)
        await pilot.pause()

    assert snap_compare(offline_app(), terminal_size=(120, 12), run_before=steady(run_before))


async def _answering(pilot: Pilot[None]) -> None:
    """A finished turn, then a second question whose answer is still streaming."""
    app = pilot.app
    assert isinstance(app, DistillerApp)
    await _with_projects(pilot)
    app.talk.set_audio(None, "no sound device found (PortAudio: no default output device)")
    app.status.set_connection("connected")
    app.status.set_target("advisor-flow", 1)
    app.status.set_latency(0.74)
    conversation = Conversation()
    steps = [
        *conversation.receive(ev.SessionCreated()),
        *conversation.ask("How can I protect my investments?"),
        *conversation.receive(ev.ResponseCreated()),
        *conversation.receive(
            ev.ResponseTextDelta("Spread money across asset classes.", "Researcher")
        ),
        *conversation.receive(ev.ResponseTextDelta("The index is up 1.2% today.", "Market Data")),
        *conversation.receive(ev.ResponseDone()),
        *conversation.ask("And bonds?"),
        *conversation.receive(ev.ResponseCreated()),
        *conversation.receive(ev.ResponseTextDelta("Bonds pay a fixed", "Researcher")),
    ]
    for action in steps:
        await app.conversation.apply(action)
    app.input_bar.input.focus()
    await pilot.pause()


def test_narrow_terminal_keeps_input_and_latency_visible(snap_compare) -> None:
    assert snap_compare(offline_app(), terminal_size=(80, 24), run_before=steady(_answering))


def test_light_theme(snap_compare) -> None:
    async def run_before(pilot: Pilot[None]) -> None:
        pilot.app.theme = "textual-light"
        await _answering(pilot)

    assert snap_compare(offline_app(), terminal_size=SIZE, run_before=steady(run_before))


def test_hands_free_mode(snap_compare) -> None:
    """Hands-free: the mic stays open (its cleaned level in the meter) and the user
    interrupted the answer by speaking over it; the status bar says AEC and hands-free."""

    async def run_before(pilot: Pilot[None]) -> None:
        app = pilot.app
        assert isinstance(app, DistillerApp)
        await _with_projects(pilot)
        app.status.set_audio("room microphone", None, True, "on (WebRTC AEC3, 16000 Hz)")
        app.status.set_hands_free(True)
        app.status.set_connection("connected")
        app.status.set_target("voice-assistant", 0)
        app.browser.select("voice-assistant", 0)
        app.status.set_sample_rate(16000)
        levels = tuple(0.1 + 0.5 * abs(((i * 7) % 23) - 11) / 11 for i in range(200))
        app.talk.meter.set_sources(lambda: levels, None)
        app.talk.meter.mode = "mic"
        app.input_bar.set_mic(available=True, recording=True, hands_free=True)
        conversation = Conversation(plays_audio=True)
        steps = [
            *conversation.receive(ev.SessionCreated(vad_enabled=True)),
            *conversation.ask("Read me the quarterly report."),
            *conversation.receive(ev.ResponseCreated()),
            *conversation.receive(
                ev.ResponseTextDelta("The quarterly report shows that revenue grew", "Assistant")
            ),
            *conversation.receive(ev.ResponseInterrupted()),
            *conversation.receive(ev.ResponseDone()),
        ]
        for action in steps:
            await app.conversation.apply(action)
        app.talk.meter.poll()
        app.input_bar.input.focus()
        await pilot.pause()

    assert snap_compare(offline_app(), terminal_size=SIZE, run_before=steady(run_before))
