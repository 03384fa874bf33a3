"""Project operations for the browser, on the SDK's (blocking) HTTP calls.

Every call runs in a thread so the UI's event loop never waits on the network.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import yaml

from protocol.client.client import load_config_file
from protocol.client.errors import ProjectCreationError
from protocol.names import name_problem
from protocol.projects import ConversationSummary, SaidEntry
from widgets.project_browser import ProjectInfo


class ProjectService:
    """Lists, reads and creates projects through an `AsyncDistillerClient`."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self._distiller = client.realtime_distiller

    async def load_all(self) -> list[ProjectInfo]:
        """Every project with all its versions."""
        return await asyncio.to_thread(self._load_all_blocking)

    def _load_all_blocking(self) -> list[ProjectInfo]:
        projects = []
        for summary in self._distiller.list_projects():
            versions = self._distiller.list_versions(summary.name)
            projects.append(
                ProjectInfo(
                    name=summary.name,
                    versions=tuple(versions),
                )
            )
        return projects

    async def config(self, project: str, version: int | None) -> dict[str, Any]:
        return await asyncio.to_thread(self._distiller.download_project, project, version)

    async def config_yaml(self, project: str, version: int | None) -> str:
        """A stored configuration as YAML, keys in their stored order."""
        config = await self.config(project, version)
        return yaml.safe_dump(config, sort_keys=False, allow_unicode=True)

    async def create(self, path: str, name: str) -> list[str]:
        """Create project ``name`` from a YAML file; the problems, or [] when created."""
        problems = []
        if not path:
            problems.append("YAML file: enter the path of a project configuration")
        name_issue = name_problem(name, "project name")
        if name_issue:
            problems.append(name_issue)
        if problems:
            return problems
        try:
            config = load_config_file(Path(path).expanduser())
        except (OSError, ValueError) as exc:
            return [str(exc)]
        try:
            await asyncio.to_thread(
                lambda: self._distiller.create_project(project=name, json_config=config)
            )
        except ProjectCreationError as exc:
            return exc.problems
        return []

    async def conversations(
        self, project: str, words: str, offset: int
    ) -> tuple[list[ConversationSummary], int | None]:
        """A page of the project's past conversations matching ``words``."""
        past = self._distiller.conversations
        return await asyncio.to_thread(past.list, project, query=words, offset=offset)

    async def conversation(self, project: str, uuid: str) -> list[SaidEntry]:
        return await asyncio.to_thread(self._distiller.conversations.read, project, uuid)

    async def rename_conversation(self, project: str, uuid: str, title: str) -> None:
        await asyncio.to_thread(self._distiller.conversations.rename, project, uuid, title)

    async def delete_conversation(self, project: str, uuid: str) -> None:
        await asyncio.to_thread(self._distiller.conversations.delete, project, uuid)

    async def create_from_file(self, path: Path, name: str) -> None:
        """Create without the dialog (first-run examples); raises on any problem."""
        problems = await self.create(str(path), name)
        if problems:
            raise ValueError(f"{path}: " + "; ".join(problems))
