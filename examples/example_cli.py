"""Command-line plumbing shared by the example scripts, kept out of their way.

Every example takes ``--base-url`` (else env ``DISTILLER_BASE_URL`` /
``AIR_BASE_URL``, else ``http://127.0.0.1:8765``) and ``--api-key`` (else env
``API_KEY``; a local server in open mode accepts any non-empty key).
"""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path

from protocol import AsyncDistillerClient, DistillerError, ProjectNotFoundError

HERE = Path(__file__).resolve().parent
ADVISOR_YAML = HERE / "advisor_flow.yaml"
VOICE_YAML = HERE / "voice_assistant.yaml"


def parser(description: str) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--base-url", default=None, help="server URL (default: env or local server)")
    p.add_argument("--api-key", default=os.getenv("API_KEY") or "local", help="API key")
    return p


def add_session_args(p: argparse.ArgumentParser, project: str, config: Path) -> None:
    p.add_argument("--project", default=project, help="project name (default %(default)s)")
    p.add_argument("--uuid", default="example-user", help="user id (default %(default)s)")
    p.add_argument("--project-version", default=None, help="pin a version (default latest)")
    p.add_argument(
        "--config",
        type=Path,
        default=config,
        help="YAML used to create the project if it does not exist yet",
    )


def add_audio_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--audio",
        default=None,
        help="audio backend: auto, null, or file:MIC.wav:SPEAKER.wav (default env DISTILLER_AUDIO)",
    )


def make_client(args: argparse.Namespace) -> AsyncDistillerClient:
    return AsyncDistillerClient(
        api_key=args.api_key,
        base_url=args.base_url,
        audio_backend=getattr(args, "audio", None),
    )


def ensure_project(client: AsyncDistillerClient, project: str, config: Path) -> None:
    """Create the project from ``config`` the first time, so each example runs on its own."""
    try:
        client.realtime_distiller.download_project(project=project)
    except ProjectNotFoundError:
        client.realtime_distiller.create_project(config_path=str(config), project=project)
        print(f"Created project '{project}' from {config.name}")


Main = Callable[[argparse.Namespace], Awaitable[None] | None]


def run(main: Main, args: argparse.Namespace) -> int:
    """Run an example's ``main`` (sync or async); a failure is one line on stderr, exit code 1."""
    try:
        if inspect.iscoroutinefunction(main):
            asyncio.run(main(args))
        else:
            main(args)
    except (DistillerError, OSError, ValueError, TimeoutError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0
