"""``distiller-server``: run the embedded Realtime Distiller engine."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from pathlib import Path

from server.llm.base import DEFAULT_PROVIDER, PROVIDERS
from server.settings import (
    DEFAULT_HOST,
    DEFAULT_PORT,
    Settings,
    SettingsError,
    check_exposure,
    default_data_dir,
    keys_from_environment,
    parse_api_keys,
)
from server.store import StoreError, make_store, store_url_problem


async def _check_store(settings: Settings) -> None:
    """Open the store once before serving: a wrong URL or a newer schema stops the start."""
    store = make_store(settings.store_url, settings.data_dir)
    try:
        await store.open()
    finally:
        await store.close()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="distiller-server",
        description="The embedded Realtime Distiller engine (HTTP + WebSocket), offline.",
    )
    parser.add_argument(
        "--host", default=DEFAULT_HOST, help="address to listen on (default %(default)s)"
    )
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="port (default %(default)s)")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help=f"where projects and history are stored (default {default_data_dir()})",
    )
    parser.add_argument(
        "--api-key",
        action="append",
        default=[],
        metavar="ACCOUNT:KEY",
        help="accept this bearer key for ACCOUNT (repeatable; or DISTILLER_API_KEYS=a:k,...)",
    )
    parser.add_argument(
        "--default-provider",
        default=DEFAULT_PROVIDER,
        choices=list(PROVIDERS),
        help="LLM provider for projects that do not name one (default %(default)s)",
    )
    parser.add_argument(
        "--lazy-models", action="store_true", help="load models on first use, not at start"
    )
    parser.add_argument("--no-speech", action="store_true", help="text only: load no speech models")
    parser.add_argument("--ping-interval", type=float, default=10.0, help="seconds between PINGs")
    parser.add_argument(
        "--executor-timeout", type=float, default=30.0, help="seconds to wait for a custom agent"
    )
    parser.add_argument(
        "--idle-timeout",
        type=float,
        default=0.0,
        help="close idle sessions after this many seconds (0 = never)",
    )
    parser.add_argument(
        "--pong-timeout",
        type=float,
        default=300.0,
        help="close sessions that answer no PING for this many seconds (0 = never)",
    )
    parser.add_argument(
        "--store",
        default=os.environ.get("DISTILLER_STORE_URL") or None,
        metavar="URL",
        help="sqlite:///DIR (default: the data dir) or postgresql://USER@HOST:PORT/DB for "
        "several replicas; credentials from the URL or PG* variables. Also DISTILLER_STORE_URL",
    )
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=30.0,
        help="on SIGTERM, seconds running answers get to finish before exit (default %(default)s)",
    )
    parser.add_argument(
        "--max-speech-sessions",
        type=int,
        default=None,
        help="refuse new sessions with spoken answers beyond this many "
        "(default: derived from Piper's speed measured at start)",
    )
    parser.add_argument(
        "--max-speech-backlog",
        type=float,
        default=1.0,
        help="refuse new spoken turns while speech synthesis is this many seconds behind",
    )
    parser.add_argument(
        "--log-level", default="info", choices=["debug", "info", "warning", "error"]
    )
    return parser


def settings_from_args(args: argparse.Namespace) -> Settings:
    keys = parse_api_keys(keys_from_environment() + list(args.api_key))
    settings = Settings(
        host=args.host,
        port=args.port,
        data_dir=args.data_dir or default_data_dir(),
        api_keys=keys,
        default_provider=args.default_provider,
        lazy_models=args.lazy_models,
        ping_interval_s=args.ping_interval,
        executor_timeout_s=args.executor_timeout,
        idle_timeout_s=args.idle_timeout,
        pong_timeout_s=args.pong_timeout,
        store_url=args.store,
        drain_timeout_s=args.drain_timeout,
        max_speech_sessions=args.max_speech_sessions,
        max_speech_backlog_s=args.max_speech_backlog,
    )
    problem = store_url_problem(args.store) if args.store else None
    if problem:
        raise SettingsError(problem)
    check_exposure(settings)
    return settings


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        print(f"distiller-server: {exc}", file=sys.stderr)
        return 2
    try:
        asyncio.run(_check_store(settings))
    except StoreError as exc:
        print(f"distiller-server: {exc}", file=sys.stderr)
        return 2

    import uvicorn

    from server.app import create_app
    from server.drain import DrainingServer
    from server.voice_setup import build_speech

    speech, models = build_speech(settings, enabled=not args.no_speech)
    app = create_app(settings, speech=speech, models=models)
    mode = (
        "open mode (any bearer key = account 'local')"
        if settings.open_mode
        else (f"{len(settings.api_keys)} API key(s)")
    )
    print(
        f"distiller-server on http://{settings.host}:{settings.port} "
        f"store={app.state.store.where} auth={mode} provider={settings.default_provider}",
        file=sys.stderr,
        flush=True,
    )
    config = uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=args.log_level,
        ws_max_size=64 * 1024 * 1024,
        ws_ping_interval=None,
        ws_ping_timeout=None,
        ws_per_message_deflate=False,  # audio is base64: compression costs CPU, saves little
    )
    busy = app.state.presence.busy_sessions
    DrainingServer(config, app.state.drain, busy).run()
    return 0
