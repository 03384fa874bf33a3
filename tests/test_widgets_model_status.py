"""The models-loading indicator follows the engine's /healthz states."""

from __future__ import annotations

from textual.app import App, ComposeResult

from widgets.model_status import ModelStatus


async def test_model_status_names_what_is_loading_and_hides_when_ready() -> None:
    class StatusApp(App[None]):
        def compose(self) -> ComposeResult:
            yield ModelStatus()

    async with StatusApp().run_test() as pilot:
        status = pilot.app.query_one(ModelStatus)
        settled = status.show_states({"asr": "loading", "tts": "ready", "vad": "not loaded"})
        await pilot.pause()
        assert not settled and status.display
        assert "Loading models: asr" in str(status.query_one("#model-status-text").render())
        assert status.show_states({"asr": "ready", "tts": "ready", "vad": "ready"})
        assert not status.display
        status.show_states({"asr": "error: model file missing", "tts": "ready"})
        assert status.display
        assert "asr (error: model file missing)" in str(
            status.query_one("#model-status-text").render()
        )
