"""Speech off the replica: OpenAI-compatible ``/v1/audio/transcriptions`` and
``/v1/audio/speech`` endpoints (vLLM, speaches, OpenAI and others).

`RemoteRecognizer` and `RemoteVoice` have the same blocking interface as the
embedded Whisper and Piper (they run on the same worker threads), so a replica
configured with ``asr.engine: openai`` / ``tts.engine: openai`` needs no local
speech model but Silero VAD. Timeouts and errors read like the ``openai`` LLM
provider's: a hung endpoint becomes "did not answer within N s", a dead one "is
unreachable", a refusal quotes the endpoint's answer. The API key comes from the
environment variable named by ``api_key_env``, never from the project file.
"""

from __future__ import annotations

import io
import os
import threading
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass

import httpx
import numpy as np

from server.speech.asr import Transcript
from server.speech.pcm import check_sample_rate, float_to_pcm16, pcm16_to_float, resample

DEFAULT_BASE_URL = "http://127.0.0.1:8000/v1"
REPORT_EVERY_S = 5.0  # partial transcripts retry often; say a failure once in a while


class SpeechEndpointError(RuntimeError):
    """The speech endpoint failed; the message names it and says how."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    """Where an OpenAI-compatible audio endpoint is and how to call it."""

    base_url: str = DEFAULT_BASE_URL
    model: str = ""
    api_key_env: str = ""
    timeout_s: float = 30.0

    def headers(self) -> dict[str, str]:
        if not self.api_key_env:
            return {}
        key = os.environ.get(self.api_key_env)
        if not key:
            raise SpeechEndpointError(
                f"environment variable {self.api_key_env} (api_key_env) is not set"
            )
        return {"Authorization": f"Bearer {key}"}

    def post(self, client: httpx.Client, path: str, **kwargs: object) -> httpx.Response:
        url = f"{self.base_url.rstrip('/')}{path}"
        try:
            response = client.post(url, headers=self.headers(), **kwargs)  # type: ignore[arg-type]
        except httpx.TimeoutException:
            raise SpeechEndpointError(
                f"speech endpoint {url} did not answer within {self.timeout_s:g} s"
            ) from None
        except httpx.HTTPError as exc:
            raise SpeechEndpointError(f"speech endpoint {url} is unreachable: {exc}") from None
        if response.status_code >= 400:
            raise SpeechEndpointError(
                f"speech endpoint {url} answered {response.status_code}: {response.text[:300]}"
            )
        return response

    def client(self) -> httpx.Client:
        return httpx.Client(timeout=httpx.Timeout(self.timeout_s, connect=min(5.0, self.timeout_s)))


def wav_bytes(pcm16: bytes, sample_rate: int) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(sample_rate)
        out.writeframes(pcm16)
    return buffer.getvalue()


def pcm16_of_wav(data: bytes, sample_rate: int) -> bytes:
    """A WAV answer as PCM16 mono at ``sample_rate`` (mixed down and resampled)."""
    try:
        with wave.open(io.BytesIO(data), "rb") as source:
            if source.getsampwidth() != 2:
                raise SpeechEndpointError("speech endpoint sent WAV that is not 16-bit PCM")
            channels, rate = source.getnchannels(), source.getframerate()
            frames = source.readframes(source.getnframes())
    except (wave.Error, EOFError) as exc:
        raise SpeechEndpointError(f"speech endpoint sent audio that is not WAV: {exc}") from None
    samples = pcm16_to_float(frames[: len(frames) // 2 * 2])
    if channels > 1:
        samples = samples[: len(samples) // channels * channels].reshape(-1, channels).mean(1)
    return float_to_pcm16(resample(np.asarray(samples), rate, sample_rate))


class RemoteRecognizer:
    """Speech to text at ``POST {base_url}/audio/transcriptions``. Blocking, thread-safe.

    With ``report``, a failing endpoint is reported (at most every few seconds) and
    heard as silence, so the session's listener keeps running and the user is told;
    without it, `transcribe` raises SpeechEndpointError.
    """

    def __init__(
        self, endpoint: Endpoint, language: str, report: Callable[[str], None] | None = None
    ) -> None:
        self.endpoint = endpoint
        self.language = language
        self.name = endpoint.model
        self.report = report
        self._client = endpoint.client()
        self._reported_at = -REPORT_EVERY_S
        self._lock = threading.Lock()

    def transcribe(self, pcm16: bytes, sample_rate: int) -> str:
        if self.report is None:
            return self._transcribe(pcm16, sample_rate)
        try:
            return self._transcribe(pcm16, sample_rate)
        except SpeechEndpointError as exc:
            with self._lock:
                due = time.monotonic() - self._reported_at >= REPORT_EVERY_S
                if due:
                    self._reported_at = time.monotonic()
            if due:
                self.report(f"speech recognition failed: {exc}")
            return ""

    def transcribe_scored(self, pcm16: bytes, sample_rate: int) -> Transcript:
        """`transcribe`; the endpoint gives no confidence, so its words count as sure."""
        return Transcript(self.transcribe(pcm16, sample_rate), 0.0)

    def _transcribe(self, pcm16: bytes, sample_rate: int) -> str:
        rate = check_sample_rate(sample_rate)
        if not pcm16:
            return ""
        response = self.endpoint.post(
            self._client,
            "/audio/transcriptions",
            files={"file": ("speech.wav", wav_bytes(pcm16, rate), "audio/wav")},
            data={
                "model": self.endpoint.model,
                "language": self.language,
                "response_format": "json",
            },
        )
        try:
            text = response.json()["text"]
        except (ValueError, KeyError, TypeError):
            raise SpeechEndpointError(
                f"speech endpoint answered without a transcript: {response.text[:200]}"
            ) from None
        return " ".join(str(text).split())


class RemoteVoice:
    """Text to speech at ``POST {base_url}/audio/speech`` (WAV). Blocking, thread-safe."""

    def __init__(self, endpoint: Endpoint, voice: str, speed: float = 1.0) -> None:
        self.endpoint = endpoint
        self.voice = voice
        self.speed = speed
        self.name = f"{endpoint.model}:{voice}"
        self._client = endpoint.client()

    def synthesize(self, text: str, sample_rate: int) -> bytes:
        from server.speech.tts import speakable_text  # one rule for what is read aloud

        rate = check_sample_rate(sample_rate)
        clean = speakable_text(text)
        if not any(ch.isalnum() for ch in clean):
            return b""
        response = self.endpoint.post(
            self._client,
            "/audio/speech",
            json={
                "model": self.endpoint.model,
                "input": clean,
                "voice": self.voice,
                "response_format": "wav",
                "speed": self.speed,
            },
        )
        return pcm16_of_wav(response.content, rate)
