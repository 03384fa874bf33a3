"""A stand-in OpenAI-compatible endpoint on a loopback port (an external service, not ours).

Chat: it streams a fixed reply as server-sent events. Audio: transcriptions
answer a fixed transcript, speech answers a 24 kHz WAV tone whose length grows
with the text. Every request is recorded, so tests can check what our
``openai`` LLM provider and speech engines sent.
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import struct
import threading
import wave
from email import policy
from email.parser import BytesParser
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from app.engine import free_port
from tests.conftest import wait_until_sync


class FakeOpenAI:
    SPEECH_RATE = 24000

    def __init__(
        self, reply: str = "Bonds are loans you make.", transcript: str = "what about bonds"
    ) -> None:
        self.reply = reply
        self.transcript = transcript
        self.requests: list[dict[str, Any]] = []
        self.audio_requests: list[dict[str, Any]] = []
        self.audio_delay_s = 0.0  # > the client's timeout: a hung endpoint
        self.audio_status = 200
        self.port = free_port()
        app = Starlette(
            routes=[
                Route("/v1/chat/completions", self._chat, methods=["POST"]),
                Route("/v1/audio/transcriptions", self._transcribe, methods=["POST"]),
                Route("/v1/audio/speech", self._speech, methods=["POST"]),
            ]
        )
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

    async def _audio_answer(self, request: Request, record: dict[str, Any]) -> Response | None:
        record["authorization"] = request.headers.get("authorization")
        self.audio_requests.append(record)
        await asyncio.sleep(self.audio_delay_s)
        if self.audio_status != 200:
            return JSONResponse({"error": {"message": "no"}}, status_code=self.audio_status)
        return None

    async def _transcribe(self, request: Request) -> Response:
        raw = await request.body()
        head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
        message = BytesParser(policy=policy.default).parsebytes(head + raw)
        fields: dict[str, Any] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[name] = part.get_content()
        with wave.open(io.BytesIO(fields.pop("file")), "rb") as audio:
            fields["rate"] = audio.getframerate()
            fields["seconds"] = audio.getnframes() / audio.getframerate()
        refused = await self._audio_answer(request, {"path": "transcriptions", **fields})
        return refused or JSONResponse({"text": self.transcript})

    async def _speech(self, request: Request) -> Response:
        body = await request.json()
        refused = await self._audio_answer(request, {"path": "speech", **body})
        if refused:
            return refused
        samples = int(self.SPEECH_RATE * 0.06 * len(body["input"]))  # ~60 ms a character
        tone = b"".join(
            struct.pack("<h", int(8000 * math.sin(2 * math.pi * 220 * i / self.SPEECH_RATE)))
            for i in range(samples)
        )
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as out:
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(self.SPEECH_RATE)
            out.writeframes(tone)
        return Response(buffer.getvalue(), media_type="audio/wav")

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        wait_until_sync(lambda: self._server.started, 10, "the fake OpenAI endpoint to listen")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=5)
