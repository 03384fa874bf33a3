"""The Realtime Distiller terminal app: layout, bindings and message routing.

Behaviour lives in small pieces the App composes: `EngineLink` (start-up),
`SessionController` (the live conversation and its reconnects), `AudioLink` and
`MicPump` (sound), `project_actions` (the project keys), `export`. Workers own
the network and post messages; the App routes them to widgets.
"""

from __future__ import annotations

import uuid as uuid_module
from pathlib import Path
from typing import Any

from textual import work
from textual.app import App, ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header
from textual.worker import Worker

from app import project_actions
from app.bindings import APP_BINDINGS, palette_commands
from app.examples import load_example_executors
from app.launch import LaunchOptions
from app.messages import (
    ActivityChanged,
    AudioChanged,
    EngineFailed,
    EngineReady,
    HandsFreeChanged,
    LatencyMeasured,
    ModelStates,
    SessionFailed,
    SessionState,
)
from app.projects import ProjectService
from app.session import SessionTarget, session_opener
from app.settings import AppSettings, default_data_dir
from app.startup import EngineLink
from app.talk_pane import TalkPane
from styles import stylesheet
from widgets import ConversationView, InputBar, ModelStatus, ProjectBrowser, StatusBar


class DistillerApp(App[None]):
    """Keyboard-first client for Realtime Distiller projects."""

    TITLE = "Realtime Distiller"
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]  # noqa: RUF012
    CSS_PATH = [stylesheet("app.tcss"), stylesheet("dialogs.tcss")]  # noqa: RUF012
    BINDINGS = APP_BINDINGS

    def __init__(
        self, options: LaunchOptions | None = None, settings: AppSettings | None = None
    ) -> None:
        super().__init__()
        self.options = options or LaunchOptions(offline=True)
        self.settings = settings or AppSettings()
        self.uuid = self.options.uuid or f"user-{uuid_module.uuid4().hex[:8]}"
        self.data_dir = self.options.data_dir or self.settings.data_dir or default_data_dir()
        api_key = self.options.api_key or self.settings.api_key
        self.engine = EngineLink(self.options, self.data_dir, api_key)
        self.projects: ProjectService | None = None
        self.engine_problem: str | None = None
        # Kept as attributes: workers' late messages may arrive while the app unmounts.
        self.talk = TalkPane(uuid=self.uuid, data_dir=self.data_dir, id="main")
        self.status = StatusBar(id="status")
        if self.settings.keymap:
            self.set_keymap(self.settings.keymap)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="body"):
            with Vertical(id="side"):
                yield ProjectBrowser(id="browser")
                yield ModelStatus(id="model-status")
            yield self.talk
        yield self.status
        yield Footer()

    browser = property(lambda self: self.query_one(ProjectBrowser))
    conversation = property(lambda self: self.query_one(ConversationView))
    input_bar = property(lambda self: self.query_one(InputBar))

    def on_mount(self) -> None:
        if self.settings.theme:
            self.theme = self.settings.theme
        self.status.set_uuid(self.uuid)
        self.query_one(ModelStatus).display = False
        if self.options.offline:
            self.browser.set_message("")
            return
        self.browser.tree.focus()
        self.start_engine()
        self.talk.probe_audio(self.options.audio, self.settings)

    async def on_unmount(self) -> None:
        await self.talk.close()
        self.engine.stop()

    # ---------------------------------------------------------------- engine

    @work(group="startup", exit_on_error=False)
    async def start_engine(self) -> None:
        if self.options.server_url is None:
            self.status.set_connection("starting", "embedded engine")
            self.query_one(ModelStatus).show_starting(
                f"Starting the embedded engine ({self.data_dir})…"
            )
        client = await self.engine.start(self.post_message)
        if client is not None and self.engine.process is not None:
            self.run_worker(self.engine.watch_models(self.post_message), group="models")

    async def on_engine_failed(self, message: EngineFailed) -> None:
        self.engine_problem = f"No engine: {message.reason}"
        self.status.set_connection("offline", "no engine")
        self.browser.set_message(self.engine_problem)
        self.query_one(ModelStatus).show_starting(f"Engine failed: {message.reason}")
        await self.conversation.add_notice(message.reason, error=True)

    def on_model_states(self, message: ModelStates) -> None:
        if self.query_one(ModelStatus).show_states(message.states):
            self.workers.cancel_group(self, "models")

    async def on_engine_ready(self, message: EngineReady) -> None:
        self.projects = ProjectService(message.client)
        executors = dict(self.options.executor_dict)
        if not executors:
            try:
                executors = load_example_executors()
            except Exception as exc:  # a broken example must not stop the app
                self.notify(f"Example custom agents not loaded: {exc}", severity="warning")
        self.talk.opener = session_opener(message.client, executors)
        self.status.set_connection("ready", "pick a project")
        listed = await project_actions.refresh(self.browser, self.projects)
        if listed == [] and message.embedded and self.options.seed_examples:
            await project_actions.seed_examples(self, self.projects)
        if self.options.project:
            await self.connect_to(self.options.project, self.options.version)

    def on_audio_changed(self, message: AudioChanged) -> None:
        status = self.status
        status.set_audio(
            message.device, message.text_only_reason, message.echo_cancellation, message.echo_detail
        )

    # -------------------------------------------------------------- projects

    @work(group="projects", exclusive=True, exit_on_error=False)
    async def action_refresh_projects(self) -> None:
        await project_actions.refresh(self.browser, self.projects)

    def action_new_project(self) -> None:
        project_actions.new_project(self)

    @work(group="dialogs", exit_on_error=False)
    async def action_view_config(self) -> None:
        await project_actions.view_config(self)

    def action_diff_versions(self) -> None:
        project_actions.diff_versions(self)

    def action_open_conversations(self) -> None:
        project_actions.open_conversations(self)

    # ---------------------------------------------------------------- session

    async def on_project_browser_connect_requested(
        self, message: ProjectBrowser.ConnectRequested
    ) -> None:
        await self.connect_to(message.project, message.version)

    async def action_connect(self) -> None:
        if (selection := project_actions.selected(self)) is not None:
            await self.connect_to(selection.project, selection.version)

    async def connect_to(
        self, project: str, version: int | None, reopen: project_actions.Reopened | None = None
    ) -> None:
        """Talk to a project version; ``reopen`` continues a past conversation instead."""
        if self.talk.opener is None:
            self.notify("The engine is not ready yet.", severity="warning")
            return
        if reopen is not None:
            self.uuid = reopen.uuid
            self.status.set_uuid(self.uuid)
            await self.conversation.clear_conversation()
        self.browser.select(project, version)
        self.status.set_target(project, version)
        earlier = reopen.said if reopen is not None else ()
        await self.talk.connect(SessionTarget(project, version, self.uuid), earlier)

    async def action_disconnect(self) -> None:
        if self.talk.controller is not None:
            self.talk.set_hands_free(False)
            self.talk.stop_session()
            self.status.set_connection("ready", "disconnected")
            await self.conversation.add_notice("Disconnected.")

    def on_session_state(self, message: SessionState) -> None:
        connected = message.state == "connected"
        self.status.set_connection(message.state, "" if connected else message.detail)
        if connected:
            self.status.set_sample_rate(message.sample_rate if message.speech else None)

    def on_session_failed(self, message: SessionFailed) -> None:
        self.status.set_connection("offline", "failed")

    def on_latency_measured(self, message: LatencyMeasured) -> None:
        self.status.set_latency(message.seconds)

    def on_activity_changed(self, message: ActivityChanged) -> None:
        self.status.set_activity(message.activity)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return True if action != "skip_agent" or self.talk.can_skip else None

    def action_skip_agent(self) -> None:
        self.talk.skip()

    def action_toggle_mic(self) -> None:
        self.talk.toggle_mic()

    def action_toggle_hands_free(self) -> None:
        self.talk.toggle_hands_free()

    def on_hands_free_changed(self, message: HandsFreeChanged) -> None:
        self.status.set_hands_free(message.on, barge_in=message.barge_in)

    def action_export(self, fmt: str = "md") -> Path | None:
        return self.talk.export(fmt)

    def action_copy_last(self) -> None:
        self.talk.copy_last()

    def action_focus_input(self) -> None:
        self.input_bar.input.focus()

    def action_focus_browser(self) -> None:
        self.browser.tree.focus()

    def get_system_commands(self, screen: Any) -> Any:
        yield from super().get_system_commands(screen)
        yield from palette_commands(self)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """A crashed worker is shown inline, never as a crash of the app."""
        worker = event.worker
        if worker.error is not None and event.state.name == "ERROR":
            self.notify(f"{worker.name or worker.group}: {worker.error}", severity="error")
