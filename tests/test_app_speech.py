"""Pilot test with the real speech stack: skip the first agent while it speaks.

The engine synthesises speech with the embedded Piper voice and paces it at
about real time; the app plays it through the WAV-file audio backend (these
machines have no sound card), so "during the first agent's speech" is real.
"""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.main import DistillerApp
from server.embedded import EmbeddedServer
from tests.test_app_session import SIZE, app_for, ask, connection_text, create_project, wait_for


def _answers(app: DistillerApp) -> list[str]:
    turn = app.conversation.current_turn
    return [a.role for a in turn.answers] if turn is not None else []


async def test_space_skips_the_speaking_agent_and_the_next_one_answers(
    speech_server: EmbeddedServer, tmp_path: Path
) -> None:
    models = httpx.get(f"{speech_server.base_url}/healthz").json().get("models", {})
    if "tts" not in models:
        pytest.skip(f"the engine reports no TTS model yet (models: {models})")
    create_project(speech_server, "advisor-speech")
    speaker = tmp_path / "speaker.wav"
    app = app_for(speech_server, "pilot-speech", project="advisor-speech", audio=f"file::{speaker}")
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: "connected" in connection_text(app), timeout=60)
        assert app.status.field_text("rate") == "16000 Hz"
        assert app.audio is not None and app.audio.is_open
        await ask(pilot, "what should I know about saving for retirement")

        # The first agent is speaking: its audio has started to arrive.
        await wait_for(pilot, lambda: _answers(app) == ["Researcher"] and app._got_audio, 60)
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
            pilot, lambda: not app._response_active and len(_answers(app)) == 3, timeout=120
        )
        strategist = turn.answers[1]
        assert strategist.state == "done"
        assert "retirement" in strategist.text
        assert researcher.state == "skipped"  # confirmed by the engine's response.done
        assert app.status.field_text("latency").startswith("latency ")
        assert app.last_latency is not None
