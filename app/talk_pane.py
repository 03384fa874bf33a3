"""The talk pane: the conversation, the level meter and the input bar, and the live session.

It owns the `SessionController` of the project being talked to, the microphone
pump and the exports. The App hands it what it needs as attributes (the
session opener, the audio link, the uuid) and forwards the keys; the
controller's messages reach this pane first and then bubble on to the App,
which keeps the status bar.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.worker import Worker

from app.audio_link import AudioLink, MicPump, choose_backend
from app.clipboard import copy_text
from app.export import ExportHeader, records_from, to_json, to_markdown
from app.messages import (
    ActivityChanged,
    AudioChanged,
    ConversationChanged,
    HandsFreeChanged,
    LatencyMeasured,
    SessionFailed,
    SessionState,
)
from app.session import SessionController, SessionOpener, SessionTarget
from app.settings import AppSettings
from protocol.conversation import AgentText, Conversation, Play
from protocol.projects import SaidEntry
from widgets import ConversationView, InputBar, LevelMeter


class TalkPane(Vertical):
    """Where the user talks to one project; see the module docstring."""

    def __init__(self, *, uuid: str, data_dir: Path, id: str | None = None) -> None:
        super().__init__(id=id)
        self.uuid = uuid
        self.data_dir = data_dir
        self.opener: SessionOpener | None = None
        self.audio: AudioLink | None = None
        self.mic: MicPump | None = None
        self.text_only_reason: str | None = "checking audio…"
        self.controller: SessionController | None = None
        self.version: int | None = None
        self.session_speech = False
        self.hands_free = False
        """The mic stays open for the whole conversation (and across reconnects)."""
        self.last_latency: float | None = None
        self._asked_at: float | None = None

    def compose(self) -> ComposeResult:
        yield ConversationView(id="conversation")
        yield LevelMeter(id="level")
        yield InputBar(id="input-bar")

    conversation = property(lambda self: self.query_one(ConversationView))
    input_bar = property(lambda self: self.query_one(InputBar))
    meter = property(lambda self: self.query_one(LevelMeter))

    @work(group="audio", thread=True, exit_on_error=False)
    def probe_audio(self, spec: Any, settings: AppSettings) -> None:
        """Pick the audio backend off the loop (PortAudio can be slow to probe)."""
        backend, reason = choose_backend(spec, settings)
        link = AudioLink(backend, echo_cancellation=settings.echo_cancellation) if backend else None
        self.app.call_from_thread(self.set_audio, link, reason)

    def set_audio(self, link: AudioLink | None, reason: str | None) -> None:
        self.audio, self.text_only_reason = link, reason
        self._report_audio()
        self.mic = MicPump(link) if link is not None else None
        self.meter.set_sources(
            link.input_levels if link else None, link.output_levels if link else None
        )
        self.update_controls()

    # ---------------------------------------------------------------- session

    async def connect(self, target: SessionTarget, earlier: Sequence[SaidEntry] = ()) -> None:
        """Open (or switch) the live session; the controller does the network part.

        ``earlier``: what was said before in a reopened conversation, shown first.
        """
        assert self.opener is not None
        previous = self.stop_session()
        self.uuid = target.uuid
        conversation = Conversation(plays_audio=self.audio is not None)
        self.conversation.begin_conversation()
        for action in conversation.restore(earlier):
            await self.conversation.apply(action)
        self.controller = SessionController(
            self.opener, target, self.post_message, speaker=self.audio, conversation=conversation
        )
        self.run_worker(self._run(self.controller, previous), group="session", exit_on_error=False)
        self.input_bar.input.focus()

    async def _run(self, controller: SessionController, previous: Worker[None] | None) -> None:
        """Run once the previous session has closed its socket (one live connection per uuid)."""
        if previous is not None:
            with contextlib.suppress(Exception):  # WorkerCancelled: it was cancelled, as asked
                await previous.wait()
        await controller.run()

    def stop_session(self) -> Worker[None] | None:
        """Stop the session; returns its worker, still closing, if there was one."""
        if self.mic is not None:
            self.mic.stop()
        if self.controller is not None:
            self.controller.stop()
            self.controller = None
        running = [w for w in self.workers if w.group == "session" and not w.is_finished]
        for worker in running:
            worker.cancel()  # closes its socket on the way out
        return running[-1] if running else None

    async def close(self) -> None:
        """The app is quitting: end the session and release the sound device."""
        self.stop_session()
        if self.audio is not None:
            await self.audio.close()

    def _stale(self, message: object) -> bool:
        """News from a session that was replaced or closed since it was posted."""
        controller = self.controller
        return controller is None or getattr(message, "controller", None) is not controller

    async def on_session_state(self, message: SessionState) -> None:
        if self._stale(message):
            message.stop()
            return
        if message.state == "connected":
            self.session_speech, self.version = message.speech, message.version
            if self.audio is not None and message.speech and message.sample_rate:
                try:
                    await self.audio.open(message.sample_rate, self._on_playback_state)
                except Exception as exc:  # e.g. the device vanished: fall back to text
                    self.notify(f"Audio off: {exc}", severity="warning")
            await self.conversation.add_notice(f"Connected to {self.target_text} as {self.uuid}.")
            if self.hands_free and self._mic_problem() is None and not self._recording:
                self.pump_microphone()  # hands-free picks up again after a reconnect
            self._report_hands_free()
        elif message.state == "lost" and self.mic is not None:
            self.mic.stop(commit=False)
        self.update_controls()

    async def on_session_failed(self, message: SessionFailed) -> None:
        if self._stale(message):
            message.stop()
            return
        self.controller = None
        await self.conversation.add_notice(message.reason, error=True)
        self.update_controls()

    async def on_conversation_changed(self, message: ConversationChanged) -> None:
        message.stop()
        if self._stale(message):
            return
        for action in message.actions:
            # Latency: to the first audio, or in text mode to the first words.
            answered = Play if self.audio is not None else AgentText
            if isinstance(action, answered) and self._asked_at is not None:
                self.last_latency = time.monotonic() - self._asked_at
                self._asked_at = None
                self.post_message(LatencyMeasured(self.last_latency))
            await self.conversation.apply(action)
        self.update_controls()

    @on(InputBar.QuerySubmitted)
    def ask(self, message: InputBar.QuerySubmitted) -> None:
        message.stop()
        if self.controller is None:
            self.notify("Connect to a project first (enter on a project).", severity="warning")
            return
        self.input_bar.clear()
        self._asked_at = time.monotonic()
        self.controller.ask(message.text)

    @property
    def can_skip(self) -> bool:
        return self.controller is not None and self.controller.conversation.can_skip

    @on(InputBar.SkipRequested)
    def skip(self) -> None:
        """Skip the current agent: the API document's per-agent ``response.cancel``."""
        if self.controller is not None:
            self.controller.skip()

    def update_controls(self) -> None:
        activity = self.controller.conversation.activity if self.controller else ""
        self.post_message(ActivityChanged(activity))
        live = self.controller is not None and self.controller.connected
        audio_open = self.audio is not None and self.audio.is_open
        recording = self.mic is not None and self.mic.recording
        available = live and self.session_speech and audio_open
        self.input_bar.set_mic(available=available, recording=recording, hands_free=self.hands_free)
        self.input_bar.set_skip_enabled(self.can_skip)
        self.app.refresh_bindings()

    # ------------------------------------------------------------- microphone

    def _on_playback_state(self, sounding: bool) -> None:
        """The speaker started or stopped: meter mode and barge-in timing."""
        if not (self.mic and self.mic.recording):
            self.meter.mode = "speaker" if sounding else "idle"
        if self.controller is not None:
            self.controller.playback(sounding)

    def _mic_problem(self) -> str | None:
        """Why the microphone cannot be used now, or None."""
        if self.mic is None:
            return f"Text only: {self.text_only_reason}"
        if self.controller is None or not self.controller.connected:
            return "Connect to a project first."
        if not self.session_speech or self.audio is None or not self.audio.is_open:
            return "This project has no speech_config: type instead."
        return None

    @property
    def _recording(self) -> bool:
        return self.mic is not None and self.mic.recording

    @on(InputBar.MicToggled)
    def toggle_mic(self) -> None:
        """Push-to-talk: start recording, or stop (which ends the turn); ends hands-free too."""
        if (problem := self._mic_problem()) is not None:
            self.notify(problem, severity="warning")
        elif self.hands_free:
            self.set_hands_free(False)
        elif self.mic is not None and self.mic.recording:
            self.mic.stop()
        else:
            self.pump_microphone()

    def toggle_hands_free(self) -> None:
        """Hands-free on: the mic stays open and the engine hears every turn (and barge-in)."""
        if self.hands_free:
            self.set_hands_free(False)
        elif (problem := self._mic_problem()) is not None:
            self.notify(problem, severity="warning")
        else:
            self.set_hands_free(True)

    def set_hands_free(self, on: bool) -> None:
        self.hands_free = on
        if on and not self._recording:
            self.pump_microphone()
        elif not on and self.mic is not None and self.mic.recording:
            self.mic.stop(commit=False)  # the engine's VAD ends turns in this mode
        self._report_hands_free()
        self.update_controls()
        if on:
            barge = self.controller is not None and self.controller.conversation.barge_in
            self.notify(
                "Hands-free: talk any time"
                + ("; speak over an answer to interrupt it." if barge else ".")
                + ("" if barge else " This project has no barge-in: answers play to the end.")
            )

    def _report_hands_free(self) -> None:
        barge = self.controller is not None and self.controller.conversation.barge_in
        self.post_message(HandsFreeChanged(self.hands_free, barge_in=barge))

    def _report_audio(self) -> None:
        """The device and whether its microphone is cleaned of the speaker (to the status bar)."""
        link = self.audio
        if link is None:
            self.post_message(AudioChanged(None, self.text_only_reason))
            return
        active = link.echo_status.startswith("on")
        on = active or (link.echo_cancellation and not link.is_open)
        detail = link.echo_status if link.is_open else ""
        self.post_message(
            AudioChanged(link.device_name, None, echo_cancellation=on, echo_detail=detail)
        )

    @work(group="mic", exclusive=True, exit_on_error=False)
    async def pump_microphone(self) -> None:
        controller, mic = self.controller, self.mic
        if controller is None or mic is None:
            return
        self.meter.mode = "mic"  # the captured level, after the echo canceller
        self.call_after_refresh(self.update_controls)
        await mic.run(controller.mic_chunk, controller.commit_audio, on_open=self._report_audio)
        self._asked_at = time.monotonic()
        self.meter.mode = "idle"
        self.update_controls()

    # ------------------------------------------------------- export, clipboard

    @property
    def target_text(self) -> str:
        target = self.controller.target if self.controller else None
        if target is None:
            return "—"
        return f"{target.project} ({'latest' if target.version is None else f'v{target.version}'})"

    def export(self, fmt: str = "md") -> Path | None:
        """Write the conversation to Markdown (``md``) or JSON (``json``)."""
        controller = self.controller
        turns = records_from(controller.conversation) if controller else []
        if controller is None or not turns:
            self.notify("Nothing to export yet.")
            return None
        now = datetime.now().astimezone()
        header = ExportHeader(controller.target.project, self.version, self.uuid, now)
        folder = self.data_dir / "exports"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{header.project}-{now:%Y%m%d-%H%M%S}.{fmt}"
        text = to_json(turns, header) if fmt == "json" else to_markdown(turns, header)
        path.write_text(text, encoding="utf-8")
        self.notify(f"Exported to {path}")
        return path

    def copy_last(self) -> None:
        turn = self.conversation.current_turn
        if turn is None or not turn.answers:
            self.notify("No answer to copy yet.")
            return
        text = "\n\n".join(f"{a.role}: {a.text}" for a in turn.answers)
        saved = copy_text(self.app, text, self.data_dir / "exports")
        self.notify(f"Copied the last answer (also saved to {saved}).")
