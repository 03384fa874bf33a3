"""Speech off the replica: ``asr.engine: openai`` / ``tts.engine: openai`` against a stand-in
OpenAI-compatible audio endpoint on loopback (a third-party service, so a fake is fair)."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from app.engine import EngineProcess, free_port
from server.speech.openai_audio import (
    Endpoint,
    RemoteRecognizer,
    RemoteVoice,
    SpeechEndpointError,
)
from tests.fake_openai import FakeOpenAI
from tests.speech_helpers import duration_s, rms
from tests.test_server_voice import speak
from tests.wire import create, flow_config, session, text_of


@pytest.fixture
def endpoint() -> Iterator[FakeOpenAI]:
    with FakeOpenAI(transcript="  how are   my bonds ") as fake:
        yield fake


def tone(seconds: float, rate: int) -> bytes:
    return b"".join(
        struct.pack("<h", int(6000 * math.sin(2 * math.pi * 300 * i / rate)))
        for i in range(int(seconds * rate))
    )


def test_speech_is_sent_as_wav_and_the_transcript_comes_back(endpoint: FakeOpenAI) -> None:
    asr = RemoteRecognizer(Endpoint(endpoint.base_url, "whisper-large-v3"), language="en")
    assert asr.transcribe(tone(1.5, 16000), 16000) == "how are my bonds"
    sent = endpoint.audio_requests[-1]
    assert sent["model"] == "whisper-large-v3" and sent["language"] == "en"
    assert sent["rate"] == 16000 and sent["seconds"] == pytest.approx(1.5)


def test_speech_comes_back_at_the_session_rate(endpoint: FakeOpenAI) -> None:
    voice = RemoteVoice(Endpoint(endpoint.base_url, "kokoro"), voice="af_sky", speed=1.25)
    pcm = voice.synthesize("**Hello** there", 16000)  # ~60 ms a character, made at 24 kHz
    assert duration_s(pcm, 16000) == pytest.approx(0.06 * len("Hello there"), abs=0.01)
    assert rms(pcm) > 0.1
    sent = endpoint.audio_requests[-1]
    assert sent["input"] == "Hello there"  # markdown is not read aloud
    assert (sent["model"], sent["voice"], sent["speed"]) == ("kokoro", "af_sky", 1.25)
    assert voice.synthesize("...", 16000) == b""  # nothing speakable: no request
    assert len(endpoint.audio_requests) == 1


def test_the_key_comes_from_the_named_environment_variable(
    endpoint: FakeOpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    voice = RemoteVoice(Endpoint(endpoint.base_url, "tts-1", api_key_env="SPEECH_KEY"), "alloy")
    with pytest.raises(SpeechEndpointError, match=r"SPEECH_KEY .* is not set"):
        voice.synthesize("hello", 16000)
    monkeypatch.setenv("SPEECH_KEY", "sk-test")
    voice.synthesize("hello", 16000)
    assert endpoint.audio_requests[-1]["authorization"] == "Bearer sk-test"


def test_failures_name_the_endpoint_and_say_what_happened(endpoint: FakeOpenAI) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(
        SpeechEndpointError, match=f"speech endpoint {dead}/audio/speech is unreachable"
    ):
        RemoteVoice(Endpoint(dead, "tts-1"), "alloy").synthesize("hello", 16000)
    endpoint.audio_status = 401
    with pytest.raises(SpeechEndpointError, match="answered 401"):
        RemoteRecognizer(Endpoint(endpoint.base_url, "whisper-1"), "en").transcribe(
            tone(0.5, 16000), 16000
        )
    endpoint.audio_status = 200
    endpoint.audio_delay_s = 2.0
    slow = Endpoint(endpoint.base_url, "whisper-1", timeout_s=0.3)
    with pytest.raises(SpeechEndpointError, match=r"did not answer within 0\.3 s"):
        RemoteRecognizer(slow, "en").transcribe(tone(0.5, 16000), 16000)


# -- through the server: a replica with no local ASR or TTS model ---------------------------


def remote_speech_config(base_url: str) -> dict:
    config = flow_config("Assistant")
    config["speech_config"] = {
        "sample_rate": 16000,
        "asr": {"engine": "openai", "base_url": base_url, "model": "whisper-large-v3"},
        "tts": {"engine": "openai", "base_url": base_url, "model": "kokoro", "voice": "af_sky"},
        "turn_detection": {"silence_ms": 500},
    }
    return config


@pytest.fixture(scope="module")
def question() -> bytes:
    """A spoken question (our Piper voice, made in the test) and a second of silence."""
    from server.speech.tts import load_tts

    return load_tts().synthesize("How are my bonds doing?", 16000) + bytes(32000)


async def test_a_server_hears_and_speaks_through_the_endpoint_without_local_models(
    tmp_path: Path, question: bytes
) -> None:
    with (
        FakeOpenAI(transcript="how are my bonds doing") as fake,
        EngineProcess(tmp_path, provider="echo", lazy_models=True) as server,
    ):
        create(server, "remote", remote_speech_config(fake.base_url))
        async with session(server, "remote", "listener") as peer:
            await speak(peer, question, 16000)
            frames = await peer.until("response.done", timeout=60)
        done = next(f for f in frames if f["type"] == "response.audio_transcript.done")
        assert done["text"] == "how are my bonds doing"
        assert text_of(frames, "Assistant") == "how are my bonds doing"
        audio = b"".join(
            base64.b64decode(f["audio"]) for f in frames if f["type"] == "response.audio.delta"
        )
        assert duration_s(audio, 16000) == pytest.approx(
            0.06 * len("how are my bonds doing"), abs=0.05
        )
        models = httpx.get(f"{server.base_url}/healthz").json()["models"]
        assert models.get("asr", "not loaded") == "not loaded"  # nothing local but the VAD
        assert models.get("tts", "not loaded") == "not loaded"
        paths = {r["path"] for r in fake.audio_requests}
        assert paths == {"transcriptions", "speech"}


async def test_an_unreachable_speech_endpoint_is_told_and_the_session_goes_on(
    tmp_path: Path, question: bytes
) -> None:
    dead = f"http://127.0.0.1:{free_port()}/v1"
    with EngineProcess(tmp_path, provider="echo", lazy_models=True) as server:
        create(server, "deaf", remote_speech_config(dead))
        async with session(server, "deaf", "talker") as peer:
            await speak(peer, question, 16000)
            error = (await peer.until("error", timeout=60))[-1]
            assert error["error_detail"]["message"].startswith(
                f"speech recognition failed: speech endpoint {dead}/audio/transcriptions is "
                "unreachable"
            )
            await peer.send({"type": "input_text", "text": "typed instead"})
            frames = await peer.until("response.done", timeout=60)
        assert text_of(frames, "Assistant") == "typed instead"  # the text still arrives
        (spoken,) = frames[-1]["metadata"]["errors"]["speech"]
        assert spoken.startswith(
            f"speech synthesis failed for Assistant: speech endpoint {dead}/audio/speech is "
            "unreachable"
        )
