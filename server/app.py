"""The ASGI application: HTTP API and realtime WebSocket over one store."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from server import conversations_api, http_api, realtime
from server.drain import Drain
from server.history_writer import HistoryWriter
from server.http_common import ApiError
from server.llm import ProviderFactory
from server.presence import DatabasePresence, LocalPresence
from server.settings import Settings
from server.store import Store, StoreError, StoreUnavailable, make_store

log = logging.getLogger(__name__)
MAX_BODY_BYTES = 2_000_000


def create_app(settings: Settings, *, speech: Any = None, models: Any = None) -> FastAPI:
    """Build the server. ``speech`` provides per-session voice (None: text only)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await app.state.store.open()
        await app.state.presence.open()
        app.state.history_writer.start()
        yield
        await app.state.history_writer.close()
        await app.state.presence.close()
        await app.state.store.close()

    app = FastAPI(title="Realtime Distiller (embedded)", lifespan=lifespan)
    app.state.settings = settings
    store: Store = make_store(settings.store_url, settings.data_dir)
    app.state.store = store
    app.state.history_writer = HistoryWriter(store)
    url = getattr(store, "url", None)  # a database shared by replicas: presence lives there
    app.state.presence = DatabasePresence(url, store.where) if url else LocalPresence()
    app.state.live_sessions = app.state.presence.live
    app.state.drain = Drain(settings.drain_timeout_s)
    app.state.speech = speech
    app.state.models = models
    speaking = speech is not None and speech.speech_enabled
    app.state.admission = speech.admission if speaking else None  # --no-speech: nothing to admit
    embedded = speech.embedded_provider if speech is not None else None
    app.state.providers = ProviderFactory(embedded)
    app.include_router(http_api.router)
    app.include_router(conversations_api.router)
    app.include_router(realtime.router)

    @app.middleware("http")
    async def limit_body(request: Request, call_next):  # type: ignore[no-untyped-def]
        length = request.headers.get("content-length")
        if length and length.isdigit() and int(length) > MAX_BODY_BYTES:
            return ApiError(
                413, f"request body of {length} bytes is over the limit of {MAX_BODY_BYTES} bytes"
            ).response()
        return await call_next(request)

    @app.exception_handler(ApiError)
    async def api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(StoreError)
    async def store_error(_: Request, exc: StoreError) -> JSONResponse:
        return ApiError(503 if isinstance(exc, StoreUnavailable) else 500, str(exc)).response()

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return ApiError(exc.status_code, str(exc.detail)).response()

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
        return ApiError(422, f"invalid request: {exc.errors()}").response()

    return app
