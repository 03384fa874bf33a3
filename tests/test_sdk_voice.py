"""The voice wrappers end to end: real servers, the audio actor on its null and WAV-file backends.

Text-only projects check printing and the per-agent cancel logic without
models; the ``speech_server`` tests put a spoken question in and check the
answer's audio that comes out.
"""

from __future__ import annotations

import asyncio
import re
import wave
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from app.engine import EngineProcess
from protocol import AsyncDistillerClient, RealtimeSession
from tests.conftest import wait_until
from tests.wire import flow_config

TIMEOUT = 60.0


async def test_send_text_and_respond_prints_each_agent(
    client: AsyncDistillerClient, capsys: pytest.CaptureFixture[str]
) -> None:
    client.realtime_distiller.create_project(
        json_config=flow_config("Researcher", "Writer"), project="voice-print"
    )
    async with client.realtime_distiller(project="voice-print", uuid="printer") as vc:
        await asyncio.wait_for(vc.send_text_and_respond("saving for a house"), TIMEOUT)
        assert not vc.response_active
    printed = capsys.readouterr().out
    assert printed == "[Researcher] saving for a house\n[Writer] saving for a house\n"


async def test_cancel_event_skips_one_agent_and_rearms_at_the_next(
    client: AsyncDistillerClient,
    wire_log: Callable[[], list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = flow_config("First", "Second", "Third", word_delay_ms=80)
    client.realtime_distiller.create_project(json_config=config, project="voice-skip")
    query = "one two three four five six seven eight nine ten eleven twelve"
    cancel_event = asyncio.Event()
    rearmed: list[bool] = []

    async def press_space_twice(vc: RealtimeSession) -> None:
        # Each press lands while an agent is speaking: waited for, not slept for.
        await wait_until(lambda: vc.conversation.can_skip, TIMEOUT, "the first agent to speak")
        cancel_event.set()
        await wait_until(  # Second started: re-armed
            lambda: not cancel_event.is_set(), TIMEOUT, "the next agent to re-arm the skip"
        )
        rearmed.append(True)
        await wait_until(lambda: vc.conversation.can_skip, TIMEOUT, "the second agent to speak")
        cancel_event.set()

    async with client.realtime_distiller(project="voice-skip", uuid="skipper") as vc:
        presser = asyncio.create_task(press_space_twice(vc))
        await asyncio.wait_for(vc.send_text_and_respond(query, cancel_event=cancel_event), TIMEOUT)
        await presser
    assert rearmed == [True]
    assert wire_log().count("response.cancel") == 2
    lines = capsys.readouterr().out.splitlines()
    assert [line.split("]")[0] + "]" for line in lines] == ["[First]", "[Second]", "[Third]"]
    assert len(lines[0].split()) < 13 and len(lines[1].split()) < 13  # both cut short
    assert lines[2] == f"[Third] {query}"  # the agent nobody skipped is whole
    assert not cancel_event.is_set()  # Third started after the second press: re-armed


async def test_bad_audio_settings_are_named(
    echo_server: EngineProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = AsyncDistillerClient(api_key="k", base_url=echo_server.base_url)
    client.realtime_distiller.create_project(json_config=flow_config("Solo"), project="voice-bad")
    async with client.realtime_distiller(project="voice-bad", uuid="bad-audio") as vc:
        with pytest.raises(ValueError, match=r"sample_rate 24000 does not match .* 16000"):
            await vc.send_text_and_respond("hi", sample_rate=24000)
        monkeypatch.setenv("DISTILLER_AUDIO", "file:only-one-part")
        with pytest.raises(ValueError, match=r"must look like file:MIC\.wav:SPEAKER\.wav"):
            await vc.send_text_and_respond("hi")
        monkeypatch.setenv("DISTILLER_AUDIO", "tape-recorder")
        with pytest.raises(ValueError, match="unknown audio backend 'tape-recorder'"):
            await vc.listen_and_respond()
        monkeypatch.setenv("DISTILLER_AUDIO", "null")  # and the session still works
        await asyncio.wait_for(vc.send_text_and_respond("still here"), TIMEOUT)


# --------------------------------------------------------------------------
# With the speech stack: real ASR and TTS in the server
# --------------------------------------------------------------------------

SPOKEN_QUESTION = "What is the capital of France?"


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A spoken question followed by a second of silence (the user stops talking)."""
    from server.models import ModelRegistry

    tts = ModelRegistry(tmp_path_factory.mktemp("voice-models")).tts()
    speech = tts.synthesize(SPOKEN_QUESTION, 16000)
    path = tmp_path_factory.mktemp("voice-input") / "question.wav"
    write_wav(path, bytes(3200) + speech + bytes(32000), 16000)
    return path


def write_wav(path: Path, pcm: bytes, rate: int) -> None:
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(pcm)


def read_wav(path: Path) -> tuple[np.ndarray, int]:
    with wave.open(str(path), "rb") as wav:
        return np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2"), wav.getframerate()


def loudness(samples: np.ndarray) -> float:
    return float(np.sqrt(np.mean((samples.astype(np.float64) / 32768) ** 2)))


def speech_project(client: AsyncDistillerClient, name: str, *agents: str, **flow: Any) -> str:
    config = flow_config(*agents, **flow)
    config["speech_config"] = {"sample_rate": 16000, "tts": {"engine": "piper"}}
    client.realtime_distiller.create_project(json_config=config, project=name)
    return name


async def test_typed_question_is_answered_aloud(
    speech_server: EngineProcess, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    answer = tmp_path / "answer.wav"
    client = AsyncDistillerClient(
        api_key="k", base_url=speech_server.base_url, audio_backend=f"file::{answer}"
    )
    project = speech_project(client, "spoken-answer", "Speaker")
    async with client.realtime_distiller(project=project, uuid="typist") as vc:
        await asyncio.wait_for(vc.send_text_and_respond("the weather is sunny today"), TIMEOUT)
    samples, rate = read_wav(answer)
    assert rate == 16000
    assert len(samples) / rate > 0.8  # a spoken sentence, not a click
    assert loudness(samples) > 0.01
    assert capsys.readouterr().out == "[Speaker] the weather is sunny today\n"


async def test_spoken_question_is_heard_and_answered_aloud(
    speech_server: EngineProcess,
    question_wav: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer = tmp_path / "answer.wav"
    monkeypatch.setenv("DISTILLER_AUDIO", f"file:{question_wav}:{answer}")  # no audio_backend=
    client = AsyncDistillerClient(api_key="k", base_url=speech_server.base_url)
    project = speech_project(client, "spoken-question", "Listener")
    async with client.realtime_distiller(project=project, uuid="speaker") as vc:
        await asyncio.wait_for(vc.listen_and_respond(sample_rate=16000), TIMEOUT)
    printed = capsys.readouterr().out
    heard = re.search(r"You: (.*)\n", printed)
    assert heard is not None, printed
    assert "capital of france" in heard.group(1).lower()
    assert "[Listener] " in printed  # the echo agent repeats what it heard
    samples, _ = read_wav(answer)
    assert len(samples) / 16000 > 0.8 and loudness(samples) > 0.01


async def test_skipping_a_spoken_agent_cuts_its_audio_and_the_next_one_speaks(
    speech_server: EngineProcess,
    tmp_path: Path,
    wire_log: Callable[[], list[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    sentence = "this is a long answer that takes several seconds to read out loud to the user"
    full, skipped = tmp_path / "full.wav", tmp_path / "skipped.wav"
    base = speech_server.base_url
    plain = AsyncDistillerClient(api_key="k", base_url=base, audio_backend=f"file::{full}")
    project = speech_project(plain, "spoken-skip", "First", "Second")
    async with plain.realtime_distiller(project=project, uuid="listener-a") as vc:
        await asyncio.wait_for(vc.send_text_and_respond(sentence), TIMEOUT)
    capsys.readouterr()

    cutting = AsyncDistillerClient(api_key="k", base_url=base, audio_backend=f"file::{skipped}")
    cancel_event = asyncio.Event()

    async def skip_first_agent(vc: RealtimeSession) -> None:
        await wait_until(lambda: vc.response_active, TIMEOUT, "the response to start")
        await asyncio.sleep(1.0)  # First is speaking
        cancel_event.set()

    async with cutting.realtime_distiller(project=project, uuid="listener-b") as vc:
        presser = asyncio.create_task(skip_first_agent(vc))
        await asyncio.wait_for(
            vc.send_text_and_respond(sentence, cancel_event=cancel_event), TIMEOUT
        )
        await presser
    assert wire_log().count("response.cancel") == 1
    assert not cancel_event.is_set()  # re-armed when Second started
    printed = capsys.readouterr().out
    assert f"[Second] {sentence}" in printed
    full_samples, _ = read_wav(full)
    cut_samples, _ = read_wav(skipped)
    # Second's whole answer plus a second of First: clearly less than both in full.
    assert len(full_samples) / 16000 - len(cut_samples) / 16000 > 1.0
    assert loudness(cut_samples) > 0.01
