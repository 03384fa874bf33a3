"""The Realtime Distiller terminal app: browse projects, talk to them.

Network work happens in workers (the engine start-up, the project service,
the `SessionRunner`); the UI reacts to their messages and never awaits a
socket itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid as uuid_module
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import on, work
from textual.app import App, ComposeResult, SystemCommand
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Footer, Header
from textual.worker import Worker

from app.audio_link import AudioLink, choose_backend
from app.bindings import APP_BINDINGS
from app.clipboard import copy_text
from app.engine import LOCAL_API_KEY, EngineError, EngineProcess
from app.examples import example_files, load_example_executors
from app.export import records_from_view, to_json, to_markdown
from app.launch import LaunchOptions
from app.messages import QueryResent, SessionEvent, SessionFailed, SessionState
from app.projects import ProjectService
from app.screens import ConfigScreen, CreateProjectScreen, DiffScreen
from app.session import SessionRunner, SessionTarget, session_opener
from app.settings import AppSettings, default_data_dir
from app.timings import agent_timings, format_agent_timings, skipped_roles
from protocol import events as ev
from styles import stylesheet
from widgets import (
    AgentAnswer,
    ConversationView,
    InputBar,
    LevelMeter,
    ModelStatus,
    ProjectBrowser,
    Selection,
    StatusBar,
    TurnView,
)

HEALTH_POLL_SECONDS = 1.0
COMMIT_EVERY_S = 0.3


class DistillerApp(App[None]):
    """Keyboard-first client for Realtime Distiller projects."""

    TITLE = "Realtime Distiller"
    CSS_PATH = [stylesheet("app.tcss"), stylesheet("dialogs.tcss")]  # noqa: RUF012
    BINDINGS = APP_BINDINGS

    def __init__(
        self, options: LaunchOptions | None = None, settings: AppSettings | None = None
    ) -> None:
        super().__init__()
        self.options = options or LaunchOptions(offline=True)
        self.settings = settings or AppSettings()
        self.uuid = self.options.uuid or f"user-{uuid_module.uuid4().hex[:8]}"
        self.engine: EngineProcess | None = None
        self.base_url: str | None = None
        self.client: Any = None
        self.projects: ProjectService | None = None
        self.executor_dict: dict[str, Any] = dict(self.options.executor_dict)
        self.audio: AudioLink | None = None
        self.text_only_reason: str | None = "checking audio…"
        self.runner: SessionRunner | None = None
        self._session_worker: Worker[None] | None = None
        self.target: SessionTarget | None = None
        self.session_speech = False
        self.recording = False
        self._commit_on_stop = True
        self.last_latency: float | None = None
        # The response being shown.
        self._response_active = False
        self._answer: AgentAnswer | None = None
        self._skipped: set[str] = set()
        self._query_done_at: float | None = None
        self._got_audio = False
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            with Vertical(id="side"):
                yield ProjectBrowser(id="browser")
                yield ModelStatus(id="model-status")
            with Vertical(id="main"):
                yield ConversationView(id="conversation")
                yield LevelMeter(id="level")
                yield InputBar(id="input-bar")
        yield StatusBar(id="status")
        yield Footer()

    @property
    def browser(self) -> ProjectBrowser:
        return self.query_one(ProjectBrowser)

    @property
    def conversation(self) -> ConversationView:
        return self.query_one(ConversationView)

    @property
    def status(self) -> StatusBar:
        return self.query_one(StatusBar)

    @property
    def input_bar(self) -> InputBar:
        return self.query_one(InputBar)

    def on_mount(self) -> None:
        if self.settings.theme:
            self.theme = self.settings.theme
        self.status.set_uuid(self.uuid)
        self.query_one(ModelStatus).display = False
        if self.options.offline:
            self.browser.set_message("")
            return
        self.browser.tree.focus()
        self.startup()
        self.probe_audio()

    async def on_unmount(self) -> None:
        if self.runner is not None:
            self.runner.stop()
        if self.audio is not None:
            await self.audio.close()
        if self.engine is not None:
            self.engine.stop()
        if self.client is not None:
            self.client.close()

    # ----------------------------------------------------------------- startup

    @work(group="startup", exit_on_error=False)
    async def startup(self) -> None:
        """Start (or reach) the engine, list projects, seed examples, preselect."""
        from protocol import AsyncDistillerClient

        options = self.options
        status = self.query_one(ModelStatus)
        if options.server_url is None:
            data_dir = options.data_dir or self.settings.data_dir or default_data_dir()
            self.engine = EngineProcess(data_dir, extra_args=options.engine_args)
            self.status.set_connection("starting", "embedded engine")
            status.show_starting(f"Starting the embedded engine ({data_dir})…")
            self.engine.spawn()
            try:
                states = await self.engine.wait_ready(options.startup_timeout)
            except EngineError as exc:
                self.status.set_connection("lost", str(exc))
                status.show_starting(f"Engine failed: {exc}")
                await self.conversation.add_notice(str(exc), error=True)
                return
            self.base_url = self.engine.base_url
            api_key = options.api_key or LOCAL_API_KEY
            if not status.show_states(states):
                self.watch_models()
        else:
            self.base_url = options.server_url
            api_key = options.api_key or self.settings.api_key or ""
        try:
            self.client = AsyncDistillerClient(api_key=api_key or None, base_url=self.base_url)
        except ValueError as exc:
            self.status.set_connection("offline", str(exc))
            await self.conversation.add_notice(str(exc), error=True)
            return
        self.projects = ProjectService(self.client)
        self.status.set_connection("ready", "pick a project")
        if not self.executor_dict:
            try:
                self.executor_dict = load_example_executors()
            except Exception as exc:  # a broken example must not stop the app
                self.notify(f"Example custom agents not loaded: {exc}", severity="warning")
        listed = await self.refresh_projects_now()
        if listed is not None and not listed and self.engine is not None and options.seed_examples:
            await self.seed_examples()
        if options.project:
            self.connect_to(options.project, options.version)

    @work(group="models", exclusive=True, exit_on_error=False)
    async def watch_models(self) -> None:
        """Poll ``/healthz`` until no model is loading; the indicator follows it."""
        import httpx

        engine = self.engine
        if engine is None:
            return
        status = self.query_one(ModelStatus)
        async with httpx.AsyncClient() as client:
            while True:
                await asyncio.sleep(HEALTH_POLL_SECONDS)
                states = await engine.health(client)
                if states is not None and status.show_states(states):
                    return

    async def seed_examples(self) -> None:
        """First run: create the example projects so there is something to talk to."""
        assert self.projects is not None
        created = []
        for name, path in example_files():
            try:
                await self.projects.create_from_file(path, name)
                created.append(name)
            except Exception as exc:
                await self.conversation.add_notice(
                    f"Could not create example project {name}: {exc}", error=True
                )
        if created:
            await self.refresh_projects_now()
            self.conversation.set_hint(
                "Welcome! This is a fresh store, so the example projects "
                f"{', '.join(created)} were created for you. Pick one on the left and press "
                "enter, then type a question."
            )

    @work(group="audio", thread=True, exit_on_error=False)
    def probe_audio(self) -> None:
        """Pick the audio backend off the loop (PortAudio can be slow to probe)."""
        backend, reason = choose_backend(self.options.audio, self.settings)
        link = AudioLink(backend) if backend is not None else None
        self.call_from_thread(self._audio_ready, link, reason)

    def _audio_ready(self, link: AudioLink | None, reason: str | None) -> None:
        self.audio = link
        self.text_only_reason = reason
        level = self.query_one(LevelMeter)
        if link is not None:
            level.set_sources(link.input_levels, link.output_levels)
            self.status.set_audio(link.device_name)
        else:
            level.set_sources(None, None)
            self.status.set_audio(None, text_only_reason=reason or "no audio")
        self._update_mic()

    # --------------------------------------------------------------- projects

    async def refresh_projects_now(self) -> list[Any] | None:
        """Reload the browser; None (and an inline note) if the engine did not answer."""
        if self.projects is None:
            return None
        try:
            projects = await self.projects.load_all()
        except Exception as exc:
            self.browser.set_message(f"Could not list projects: {exc}")
            return None
        self.browser.set_projects(projects)
        return projects

    @work(group="projects", exclusive=True, exit_on_error=False)
    async def action_refresh_projects(self) -> None:
        await self.refresh_projects_now()

    def _selected(self) -> Selection | None:
        selection = self.browser.selection
        if selection is None:
            self.notify("Select a project first.", severity="warning")
        return selection

    def on_project_browser_connect_requested(
        self, message: ProjectBrowser.ConnectRequested
    ) -> None:
        self.connect_to(message.project, message.version)

    def action_connect(self) -> None:
        selection = self._selected()
        if selection is not None:
            self.connect_to(selection.project, selection.version)

    def action_new_project(self) -> None:
        if self.projects is None:
            self.notify("The engine is not ready yet.", severity="warning")
            return
        service = self.projects

        def created(name: str | None) -> None:
            if name:
                self.notify(f"Project {name} created.")
                self._reload_and_select(name)

        self.push_screen(CreateProjectScreen(service.create), created)

    @work(group="projects", exclusive=True, exit_on_error=False)
    async def _reload_and_select(self, name: str) -> None:
        await self.refresh_projects_now()
        info = self.browser.projects.get(name)
        self.browser.select(name, info.latest if info else None)

    @work(group="dialogs", exit_on_error=False)
    async def action_view_config(self) -> None:
        selection = self._selected()
        if selection is None or self.projects is None:
            return
        info = self.browser.version_info(selection)
        version = info.version if info else selection.version
        try:
            text = await self.projects.config_yaml(selection.project, version)
        except Exception as exc:
            self.notify(f"Could not load the configuration: {exc}", severity="error")
            return
        await self.push_screen(ConfigScreen(selection.project, version or 0, text))

    def action_diff_versions(self) -> None:
        selection = self._selected()
        if selection is None or self.projects is None:
            return
        project = self.browser.projects.get(selection.project)
        if project is None or len(project.versions) < 2:
            self.notify("This project has a single version: nothing to diff.")
            return
        versions = sorted(v.version for v in project.versions)
        new = selection.version if selection.version is not None else versions[-1]
        older = [v for v in versions if v < new]
        old = older[-1] if older else versions[1] if new == versions[0] else versions[0]
        if new == versions[0]:
            old, new = new, versions[1]
        service = self.projects

        async def load(version: int) -> str:
            return await service.config_yaml(selection.project, version)

        self.push_screen(DiffScreen(selection.project, versions, old, new, load))

    # ----------------------------------------------------------------- session

    def connect_to(self, project: str, version: int | None) -> None:
        """Open (or switch) the live session; the runner does the network part."""
        if self.client is None:
            self.notify("The engine is not ready yet.", severity="warning")
            return
        self._stop_session()
        self.browser.select(project, version)
        self.target = SessionTarget(project, version, self.uuid)
        self.status.set_target(project, version)
        self.runner = SessionRunner(
            session_opener(self.client, self.executor_dict), self.target, self.post_message
        )
        previous, self._session_worker = self._session_worker, None
        self._session_worker = self.run_worker(
            self._run_session(self.runner, previous),
            group="session",
            name=f"session {project}",
            exit_on_error=False,
        )
        self.input_bar.input.focus()

    async def _run_session(self, runner: SessionRunner, previous: Worker[None] | None) -> None:
        """Run a session once the previous one has closed its socket.

        The engine allows one live connection per (project, uuid); connecting
        before the old socket is closed would be refused as "already connected".
        """
        if previous is not None:
            with contextlib.suppress(Exception):
                await previous.wait()
        await runner.run()

    def _stop_session(self) -> None:
        if self.recording:
            self._stop_recording()
        if self.runner is not None:
            self.runner.stop()
            self.runner = None
        if self._session_worker is not None:
            self._session_worker.cancel()
        self._end_response()

    async def action_disconnect(self) -> None:
        if self.runner is None:
            return
        self._stop_session()
        self.status.set_connection("ready", "disconnected")
        await self.conversation.add_notice("Disconnected.")

    @on(InputBar.QuerySubmitted)
    async def send_query(self, message: InputBar.QuerySubmitted) -> None:
        if self.runner is None:
            self.notify("Connect to a project first (enter on a project).", severity="warning")
            return
        self.input_bar.clear()
        await self.conversation.start_turn(message.text)
        self._begin_query()
        self.runner.send_text(message.text)

    def _begin_query(self) -> None:
        self._query_done_at = time.monotonic()
        self._got_audio = False
        self._skipped = set()
        self._answer = None

    async def on_session_state(self, message: SessionState) -> None:
        if self._stale(message):
            return
        detail = message.detail
        if message.state == "connected":
            self.session_speech = message.speech
            self.status.set_sample_rate(message.sample_rate if message.speech else None)
            detail = ""
            if self.audio is not None and message.speech and message.sample_rate:
                try:
                    await self.audio.open(message.sample_rate, self._on_playback_state)
                except Exception as exc:  # e.g. the device vanished: fall back to text
                    self.status.set_audio(None, text_only_reason=str(exc))
            await self.conversation.add_notice(
                f"Connected to {self._target_text()} as {self.uuid}."
            )
        elif message.state == "lost":
            self._end_response()
            if self.recording:
                self._stop_recording()
            await self.conversation.add_notice(f"Connection lost: {detail}", error=True)
        self.status.set_connection(message.state, detail)
        self._update_mic()

    def _stale(self, message: object) -> bool:
        """News from a session that was replaced or closed since it was posted."""
        return self.runner is None or getattr(message, "runner", None) is not self.runner

    def _target_text(self) -> str:
        if self.target is None:
            return "—"
        version = "latest" if self.target.version is None else f"v{self.target.version}"
        return f"{self.target.project} ({version})"

    async def on_session_failed(self, message: SessionFailed) -> None:
        if self._stale(message):
            return
        self.status.set_connection("offline", "failed")
        self.runner = None
        self._end_response()
        await self.conversation.add_notice(message.reason, error=True)

    async def on_query_resent(self, message: QueryResent) -> None:
        if self._stale(message):
            return
        await self.conversation.add_notice(f"Asking again after reconnecting: {message.text}")
        self._begin_query()
        await self.conversation.start_turn(message.text)

    async def on_session_event(self, message: SessionEvent) -> None:
        if self._stale(message):
            return
        event = message.event
        view = self.conversation
        if isinstance(event, ev.TranscriptDelta | ev.TranscriptDone):
            turn = view.current_turn
            if turn is None or not turn.user.voice or turn.answers:
                turn = await view.start_turn(voice=True)
            if isinstance(event, ev.TranscriptDone):
                turn.user.show_transcript(event.text, final=True)
                self._begin_query()
                if self.recording:
                    self._stop_recording(commit=False)
            else:
                # Each delta carries the whole transcript so far (it is re-decoded).
                turn.user.show_transcript(event.delta, final=False)
        elif isinstance(event, ev.ResponseCreated):
            self._response_active = True
        elif isinstance(event, ev.ResponseTextDelta):
            await self._on_text(event)
        elif isinstance(event, ev.ResponseAudioDelta):
            self._on_audio(event.audio)
        elif isinstance(event, ev.ResponseDone):
            await self._on_done(event.metadata)
        elif isinstance(event, ev.ResponseInterrupted):
            if self._answer is not None:
                self._answer.mark("interrupted")
            if self.audio is not None:
                self.audio.drop_playback()
            self._end_response()
        elif isinstance(event, ev.Error):
            turn = view.current_turn
            if turn is not None and self._response_active:
                await turn.add_error(event.message)
            else:
                await view.add_notice(event.message, error=True)
        self._update_skip()

    async def _current_turn(self) -> TurnView:
        turn = self.conversation.current_turn
        return turn if turn is not None else await self.conversation.start_turn("")

    async def _on_text(self, event: ev.ResponseTextDelta) -> None:
        turn = await self._current_turn()
        self._response_active = True
        answer = await turn.answer_for(event.role)
        self._answer = answer
        await answer.append(event.content)

    def _on_audio(self, pcm: bytes) -> None:
        answer = self._answer
        if answer is not None and answer.state == "skipped":
            return  # what was queued before the skip took effect is not played
        if not self._got_audio and self._query_done_at is not None:
            self._got_audio = True
            self.last_latency = time.monotonic() - self._query_done_at
            self.status.set_latency(self.last_latency)
        if self.audio is not None:
            self.audio.play(pcm)

    async def _on_done(self, metadata: dict[str, Any]) -> None:
        turn = self.conversation.current_turn
        if turn is not None:
            skipped = skipped_roles(metadata)
            for answer in turn.answers:
                if answer.role in skipped and answer.state != "skipped":
                    answer.mark("skipped")
                answer.show_timings(
                    format_agent_timings(metadata, answer.role),
                    agent_timings(metadata, answer.role),
                )
            await turn.finish()
            errors = metadata.get("errors")
            if isinstance(errors, dict):
                for role, problem in errors.items():
                    await turn.add_error(f"{role}: {problem}")
        self._end_response()

    def _end_response(self) -> None:
        self._response_active = False
        self._answer = None
        if self.is_mounted:
            self._update_skip()

    # ---------------------------------------------------------------- skipping

    def _can_skip(self) -> bool:
        answer = self._answer
        return self._response_active and answer is not None and answer.state == "streaming"

    def _update_skip(self) -> None:
        self.input_bar.set_skip_enabled(self._can_skip())
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "skip_agent":
            return True if self._can_skip() else None
        return True

    def action_skip_agent(self) -> None:
        """Skip the current agent: the API document's per-agent ``response.cancel``."""
        answer = self._answer
        if not self._can_skip() or answer is None or self.runner is None:
            return
        answer.mark("skipped")
        self._skipped.add(answer.role)
        if self.audio is not None:
            self.audio.drop_playback()
        self.runner.cancel()
        self._update_skip()

    @on(InputBar.SkipRequested)
    def _skip_clicked(self) -> None:
        self.action_skip_agent()

    # ----------------------------------------------------------------- speaker

    def _on_playback_state(self, sounding: bool) -> None:
        """The actor's speaker started or stopped: meter mode and barge-in timing."""
        if not self.recording:
            self.query_one(LevelMeter).mode = "speaker" if sounding else "idle"
        if self.runner is not None:
            self.runner.playback(sounding)

    # -------------------------------------------------------------- microphone

    def _audio_open(self) -> bool:
        return self.audio is not None and self.audio.is_open

    def _update_mic(self) -> None:
        available = self._audio_open() and self.runner is not None and self.session_speech
        self.input_bar.set_mic(available=available, recording=self.recording)

    @on(InputBar.MicToggled)
    def action_toggle_mic(self) -> None:
        if self.audio is None:
            self.notify(f"Text only: {self.text_only_reason}", severity="warning")
            return
        if self.runner is None or not self.runner.connected:
            self.notify("Connect to a project first.", severity="warning")
            return
        if not self.session_speech or not self._audio_open():
            self.notify("This project has no speech_config: type instead.", severity="warning")
            return
        if self.recording:
            self._stop_recording()
        else:
            self._start_recording()

    def _start_recording(self) -> None:
        self.recording = True
        self.query_one(LevelMeter).mode = "mic"
        self.pump_microphone()
        self._update_mic()

    def _stop_recording(self, *, commit: bool = True) -> None:
        """Stop the mic; the pump sends what is left, then commits the turn."""
        self.recording = False
        self._commit_on_stop = commit
        self.query_one(LevelMeter).mode = "idle"
        self._update_mic()

    @work(group="mic", exclusive=True, exit_on_error=False)
    async def pump_microphone(self) -> None:
        """Move captured audio to the session while recording; the actor's read waits."""
        audio = self.audio
        if audio is None:
            return
        self._commit_on_stop = True
        await audio.start_capture()
        last_commit = time.monotonic()
        try:
            while self.recording:
                chunk = await audio.read()
                if not chunk:
                    break  # the mic (or the mic file) ended
                if self.runner is not None:
                    self.runner.send_audio(chunk)
                if time.monotonic() - last_commit >= COMMIT_EVERY_S and self.runner is not None:
                    # Like the SDK: frequent commits give live partial transcripts.
                    self.runner.commit_audio()
                    last_commit = time.monotonic()
        finally:
            await audio.stop_capture()
            if self.recording:
                self.recording = False
                self.query_one(LevelMeter).mode = "idle"
                self._update_mic()
            if self._commit_on_stop and self.runner is not None:
                self.runner.commit_audio()
                self._query_done_at = time.monotonic()

    # -------------------------------------------------------- export, clipboard

    def _export_dir(self) -> Path:
        data_dir = self.options.data_dir or self.settings.data_dir or default_data_dir()
        return data_dir / "exports"

    def action_export(self, fmt: str = "md") -> Path | None:
        """Write the conversation to Markdown (``md``) or JSON (``json``)."""
        turns = records_from_view(self.conversation)
        if not turns:
            self.notify("Nothing to export yet.")
            return None
        folder = self._export_dir()
        folder.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        project = self.target.project if self.target else "conversation"
        path = folder / f"{project}-{stamp}.{fmt}"
        if fmt == "json":
            text = to_json(
                turns,
                project=self.target.project if self.target else None,
                version=self.target.version if self.target else None,
                uuid=self.uuid,
            )
        else:
            text = to_markdown(turns, title=f"Conversation with {self._target_text()}")
        path.write_text(text, encoding="utf-8")
        self.notify(f"Exported to {path}")
        return path

    def action_copy_last(self) -> None:
        turn = self.conversation.current_turn
        answers = turn.answers if turn is not None else []
        if not answers:
            self.notify("No answer to copy yet.")
            return
        text = "\n\n".join(f"{a.role}: {a.text}" for a in answers)
        saved = copy_text(self, text, self._export_dir())
        self.notify(f"Copied the last answer (also saved to {saved}).")

    # ------------------------------------------------------------------- focus

    def action_focus_input(self) -> None:
        self.input_bar.input.focus()

    def action_focus_browser(self) -> None:
        self.browser.tree.focus()

    # ----------------------------------------------------------- command palette

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        yield SystemCommand("Connect", "Talk to the selected project version", self.action_connect)
        yield SystemCommand("Disconnect", "Close the live session", self.action_disconnect)
        yield SystemCommand("New project", "Create a project from YAML", self.action_new_project)
        yield SystemCommand(
            "View config", "Show the selected version's YAML", self.action_view_config
        )
        yield SystemCommand(
            "Diff versions", "Compare two versions of a project", self.action_diff_versions
        )
        yield SystemCommand("Toggle mic", "Start or stop recording", self.action_toggle_mic)
        yield SystemCommand("Skip agent", "Skip the current agent", self.action_skip_agent)
        yield SystemCommand(
            "Export conversation (Markdown)", "Save as .md", lambda: self.action_export("md")
        )
        yield SystemCommand(
            "Export conversation (JSON)", "Save as .json", lambda: self.action_export("json")
        )
        yield SystemCommand("Copy last answer", "To the clipboard", self.action_copy_last)
        yield SystemCommand(
            "Refresh projects", "Reload the project list", self.action_refresh_projects
        )

    # ----------------------------------------------------------------- workers

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A crashed worker is shown inline, never as a crash of the app."""
        worker = event.worker
        if worker.error is not None and event.state.name == "ERROR":
            self.notify(f"{worker.name or worker.group}: {worker.error}", severity="error")
