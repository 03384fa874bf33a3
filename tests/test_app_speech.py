"""Pilot test with the real speech stack: skip the first agent while it speaks.

The engine synthesises speech with the embedded Piper voice and paces it at
about real time; the app plays it through the WAV-file audio backend (these
machines have no sound card), so "during the first agent's speech" is real.
"""

from __future__ import annotations

from pathlib import Path

import httpx

from app.engine import EngineProcess
from app.main import DistillerApp
from tests.conftest import wait_until
from tests.test_app_session import SIZE, app_for, ask, connection_text, create_project, wait_for

TTS_LOAD_TIMEOUT = 300.0
"""Generous: the engine loads its models in the background, slowly on a busy 2-core machine."""


def _answers(app: DistillerApp) -> list[str]:
    turn = app.conversation.current_turn
    return [a.role for a in turn.answers] if turn is not None else []


async def _wait_for_tts(server: EngineProcess) -> None:
    """Poll ``/healthz`` until the engine's TTS model is ready; fail if it cannot load."""
    seen: dict[str, str] = {}

    def ready() -> bool:
        seen.update(httpx.get(f"{server.base_url}/healthz", timeout=10).json().get("models", {}))
        tts = seen.get("tts", "absent")
        assert not tts.startswith("error"), f"the engine's TTS model failed to load: {tts}"
        return tts == "ready"

    await wait_until(
        ready, TTS_LOAD_TIMEOUT, lambda: f"the TTS model to load (models: {seen})", interval=0.5
    )


async def test_space_skips_the_speaking_agent_and_the_next_one_answers(
    speech_server: EngineProcess, tmp_path: Path
) -> None:
    await _wait_for_tts(speech_server)
    create_project(speech_server, "advisor-speech")
    speaker = tmp_path / "speaker.wav"
    app = app_for(speech_server, "pilot-speech", project="advisor-speech", audio=f"file::{speaker}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "connected" in connection_text(app), timeout=60)
        assert app.status.field_text("rate") == "16000 Hz"
        assert app.talk.audio is not None and app.talk.audio.is_open
        await ask(pilot, "what should I know about saving for retirement")

        # The first agent is speaking: its audio has started to arrive.
        await wait_for(
            pilot, lambda: _answers(app) == ["Researcher"] and app.talk.last_latency is not None, 60
        )
        assert app.input_bar.skip_enabled
        app.conversation.focus()  # space types into the input bar; elsewhere it skips
        await pilot.press("space")
        turn = app.conversation.current_turn
        assert turn is not None
        researcher = turn.answers[0]
        assert researcher.state == "skipped"
        assert "skipped" in researcher.query_one(".state-badge").render().plain

        # The skip re-arms for the next agent, which answers in full.
        await wait_for(pilot, lambda: "Strategist" in _answers(app), timeout=60)
        assert app.input_bar.skip_enabled
        await wait_for(
            pilot, lambda: not app.conversation.answering and len(_answers(app)) == 3, timeout=120
        )
        strategist = turn.answers[1]
        assert strategist.state == "done"
        assert "retirement" in strategist.text
        assert researcher.state == "skipped"  # confirmed by the engine's response.done
        assert app.status.field_text("latency").startswith("latency ")
        assert app.talk.last_latency is not None
