"""A stand-in OpenAI-compatible chat endpoint on a loopback port (an external service, not ours).

It streams a fixed reply as server-sent events and records every request, so
tests can check what our ``openai`` provider sent (model, messages, history).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

from app.engine import free_port
from tests.conftest import wait_until_sync


class FakeOpenAI:
    def __init__(self, reply: str = "Bonds are loans you make.") -> None:
        self.reply = reply
        self.requests: list[dict[str, Any]] = []
        self.port = free_port()
        app = Starlette(routes=[Route("/v1/chat/completions", self._chat, methods=["POST"])])
        self._server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning")
        )
        self._thread = threading.Thread(target=self._server.run, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    async def _chat(self, request: Request) -> StreamingResponse:
        body = await request.json()
        self.requests.append({"body": body, "authorization": request.headers.get("authorization")})

        async def chunks():  # type: ignore[no-untyped-def]
            for word in self.reply.split(" "):
                delta = {"choices": [{"delta": {"content": word + " "}}]}
                yield f"data: {json.dumps(delta)}\n\n"
            yield "data: [DONE]\n\n"

        return StreamingResponse(chunks(), media_type="text/event-stream")

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        wait_until_sync(lambda: self._server.started, 10, "the fake OpenAI endpoint to listen")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
