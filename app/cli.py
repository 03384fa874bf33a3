"""``distiller``: the terminal app's command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from app.bindings import BINDING_IDS
from app.launch import LaunchOptions
from app.settings import SettingsError, load_settings
from protocol.names import name_problem


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distiller",
        description=(
            "Talk to Realtime Distiller projects. Without --server, the embedded "
            "engine is started in the background and stopped on exit."
        ),
    )
    parser.add_argument("--server", metavar="URL", help="connect to a running server instead")
    parser.add_argument("--api-key", metavar="KEY", help="API key for --server")
    parser.add_argument("--data-dir", metavar="DIR", type=Path, help="embedded engine's store")
    parser.add_argument("--project", metavar="NAME", help="connect to this project at once")
    parser.add_argument("--version", metavar="N", type=int, help="project version (default latest)")
    parser.add_argument("--uuid", metavar="ID", help="user id for the conversation")
    parser.add_argument("--config", metavar="FILE", type=Path, help="settings file to use")
    parser.add_argument(
        "--audio",
        metavar="BACKEND",
        help="audio backend: 'none' (text only), 'null', 'sounddevice' or 'file:in.wav:out.wav'",
    )
    for side in ("input", "output"):
        parser.add_argument(
            f"--{side}-device",
            metavar="DEVICE",
            help=f"sound card {side} device: a name or an index (`python -m audio` lists them)",
        )
    parser.add_argument(
        "--no-aec",
        action="store_true",
        help="no echo cancellation on the microphone (it is on when a mic and a speaker are open)",
    )
    parser.add_argument(
        "--no-examples", action="store_true", help="do not seed an empty store with examples"
    )
    parser.add_argument(
        "--engine-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="extra argument for the embedded engine (repeatable), e.g. --engine-arg=--lazy-models",
    )
    return parser


def parse_options(argv: Sequence[str] | None = None) -> tuple[LaunchOptions, object]:
    """Parse flags and settings; exits with a message naming any bad value."""
    parser = _parser()
    args = parser.parse_args(argv)
    for value, what in ((args.project, "--project"), (args.uuid, "--uuid")):
        if value is not None and (problem := name_problem(value, what)):
            parser.error(problem)
    if args.version is not None and args.version < 0:
        parser.error("--version must be 0 or more")
    if args.version is not None and args.project is None:
        parser.error("--version needs --project")
    if args.api_key and not args.server:
        parser.error("--api-key needs --server (the embedded engine needs no key)")
    try:
        settings = load_settings(args.config)
    except SettingsError as exc:
        parser.error(str(exc))
    unknown = sorted(set(settings.keymap) - BINDING_IDS)
    if unknown:
        parser.error(
            f"{settings.path}: unknown binding id(s) {', '.join(unknown)}; "
            f"known: {', '.join(sorted(BINDING_IDS))}"
        )
    settings = replace(
        settings,
        input_device=_device(args.input_device, settings.input_device),
        output_device=_device(args.output_device, settings.output_device),
        echo_cancellation=settings.echo_cancellation and not args.no_aec,
    )
    server = args.server or settings.server_url
    options = LaunchOptions(
        server_url=server,
        api_key=args.api_key or (settings.api_key if server else None),
        data_dir=args.data_dir,
        project=args.project,
        version=args.version,
        uuid=args.uuid,
        engine_args=tuple(args.engine_arg),
        seed_examples=not args.no_examples,
        audio=args.audio,
    )
    return options, settings


def _device(flag: str | None, configured: str | int | None) -> str | int | None:
    """A ``--*-device`` flag wins over the settings file; digits mean a device index."""
    if flag is None:
        return configured
    return int(flag) if flag.isdigit() else flag


def main(argv: Sequence[str] | None = None) -> int:
    from app.main import DistillerApp

    options, settings = parse_options(argv)
    app = DistillerApp(options, settings)  # type: ignore[arg-type]
    app.run()
    return app.return_code or 0


if __name__ == "__main__":
    sys.exit(main())
