"""First run: the app starts its own embedded engine, seeds the examples, answers."""

from __future__ import annotations

from pathlib import Path

from app.launch import LaunchOptions
from app.main import DistillerApp
from tests.conftest import wait_until
from tests.test_app_session import (
    ADVISOR_ROLES,
    SIZE,
    ask,
    connection_text,
    turn_finished,
    wait_for,
)


async def test_fresh_data_dir_gets_the_examples_and_the_engine_stops_on_exit(
    tmp_path: Path,
) -> None:
    app = DistillerApp(
        LaunchOptions(
            data_dir=tmp_path / "store",
            uuid="first-run",
            audio="null",
            engine_args=("--default-provider", "echo", "--no-speech"),
        )
    )
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: len(app.browser.projects) == 2, timeout=60)
        assert set(app.browser.projects) == {"advisor-flow", "voice-assistant"}
        hint = str(app.conversation.query_one("#conversation-hint").render())
        assert "example projects" in hint
        engine = app.engine.process
        assert engine is not None and engine.running

        app.browser.tree.focus()
        assert app.browser.select("advisor-flow")
        await pilot.pause()
        await pilot.press("enter")
        await wait_for(pilot, lambda: "connected" in connection_text(app))
        await ask(pilot, "hello engine")
        await wait_for(pilot, lambda: turn_finished(app, ADVISOR_ROLES))
    # Quitting does not wait for the engine's shutdown, but the engine does end.
    await wait_until(lambda: not engine.running, 30, "the embedded engine to exit after quit")
    assert (tmp_path / "store").is_dir()
