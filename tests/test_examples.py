"""The scripts in examples/ run as written, as a user would start them, against a real server.

Text examples use the echo server; voice examples use the speech server with
the WAV-file audio backend (a spoken question in, the answer recorded).
"""

from __future__ import annotations

import os
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import yaml

from app.engine import EngineProcess

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def run_example(
    server: EngineProcess, script: str, *args: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "API_KEY": server.api_key}
    env.pop("DISTILLER_AUDIO", None)
    return subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--base-url", server.base_url, *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def succeeded(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def test_create_then_download_the_advisor_project(echo_server: EngineProcess) -> None:
    out = succeeded(run_example(echo_server, "create_project.py", "--project", "ex-advisor"))
    assert out == "Project 'ex-advisor' created: version 0\n"
    out = succeeded(run_example(echo_server, "create_project.py", "--project", "ex-advisor"))
    assert out == "Project 'ex-advisor' created: version 1\n"
    out = succeeded(
        run_example(
            echo_server, "download_project.py", "--project", "ex-advisor", "--project-version", "0"
        )
    )
    assert yaml.safe_load(out) == yaml.safe_load((EXAMPLES / "advisor_flow.yaml").read_text())


def test_create_the_voice_assistant_project(echo_server: EngineProcess) -> None:
    config = str(EXAMPLES / "voice_assistant.yaml")
    out = succeeded(
        run_example(echo_server, "create_project.py", "--config", config, "--project", "ex-voice")
    )
    assert out == "Project 'ex-voice' created: version 0\n"


def test_text_query_runs_the_flow_with_the_client_side_agent(echo_server: EngineProcess) -> None:
    question = "How can I protect my investments?"
    out = succeeded(
        run_example(echo_server, "text_query.py", "--project", "ex-text", "--query", question)
    )
    lines = out.splitlines()
    assert lines[0] == "Created project 'ex-text' from advisor_flow.yaml"
    assert lines[1] == f"[Researcher] {question}"  # the echo provider repeats the question
    assert lines[2] == f"[Strategist] {question}"
    snapshot = "S&P 500 up 0.4%, Nasdaq up 0.7%, gold down 0.2%."
    assert lines[3] == f"[Market Data] Market snapshot (demo data): {snapshot}"


def test_example_failures_are_one_clear_line(echo_server: EngineProcess) -> None:
    result = run_example(echo_server, "download_project.py", "--project", "never-made")
    assert result.returncode == 1
    assert result.stderr == "error: project 'never-made' not found on the server\n"
    result = run_example(echo_server, "text_query.py", "--project", "bad name")
    assert result.returncode == 1
    assert "may contain only letters, digits" in result.stderr


# --------------------------------------------------------------------------
# Voice examples (need the speech stack)
# --------------------------------------------------------------------------


SPOKEN_QUESTION = "What is the capital of France?"


def heard_question(out: str) -> bool:
    return any(
        line.startswith("You: ") and "capital of france" in line.lower()
        for line in out.splitlines()
    )


@pytest.fixture(scope="module")
def question_wav(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ "What is a bond?" spoken by the Piper voice, then a second of silence."""
    from server.models import ModelRegistry

    speech = (
        ModelRegistry(tmp_path_factory.mktemp("ex-models")).tts().synthesize(SPOKEN_QUESTION, 16000)
    )
    path = tmp_path_factory.mktemp("ex-input") / "question.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(16000)
        wav.writeframes(bytes(3200) + speech + bytes(32000))
    return path


def spoken_seconds(path: Path) -> float:
    """Seconds of audio in the WAV, after checking it is not silence."""
    with wave.open(str(path), "rb") as wav:
        samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
        rate = wav.getframerate()
    assert samples.size and np.sqrt(np.mean((samples / 32768.0) ** 2)) > 0.01, "silent answer"
    return samples.size / rate


def test_speak_answer_writes_the_spoken_answer(
    speech_server: EngineProcess, tmp_path: Path
) -> None:
    answer = tmp_path / "answer.wav"
    out = succeeded(
        run_example(
            speech_server,
            "speak_answer.py",
            "--text",
            "What is a bond?",
            "--audio",
            f"file::{answer}",
        )
    )
    assert "[Assistant] What is a bond?" in out
    assert spoken_seconds(answer) > 0.5


def test_voice_query_hears_the_question_and_answers_aloud(
    speech_server: EngineProcess, question_wav: Path, tmp_path: Path
) -> None:
    answer = tmp_path / "answer.wav"
    out = succeeded(
        run_example(
            speech_server,
            "voice_query.py",
            "--uuid",
            "ex-voice-user",
            "--audio",
            f"file:{question_wav}:{answer}",
        )
    )
    assert heard_question(out), out
    assert spoken_seconds(answer) > 0.5


def test_audio_file_query_streams_a_wav(
    speech_server: EngineProcess, question_wav: Path, tmp_path: Path
) -> None:
    answer = tmp_path / "answer.wav"
    out = succeeded(
        run_example(
            speech_server,
            "audio_file_query.py",
            str(question_wav),
            "--out",
            str(answer),
            "--uuid",
            "ex-file-user",
        )
    )
    assert heard_question(out), out
    assert spoken_seconds(answer) > 0.5


def test_cancel_examples_run_headless(speech_server: EngineProcess, tmp_path: Path) -> None:
    answer = tmp_path / "answer.wav"
    # No terminal: CancelOnKeypress warns and never fires, so the whole flow plays.
    result = run_example(
        speech_server,
        "cancel_example.py",
        *("--project", "ex-cancel", "--text", "Good morning", "--audio", f"file::{answer}"),
    )
    out = succeeded(result)
    assert "standard input is not a terminal" in result.stderr
    assert "[Researcher]" in out and "[Strategist]" in out and "[Market Data]" in out
    assert spoken_seconds(answer) > 1.0
    out = succeeded(
        run_example(
            speech_server,
            "cancel_response.py",
            *("--project", "ex-cancel", "--after-chunks", "2"),  # the default, longer question
        )
    )
    assert "[Researcher] cancelled after 2 audio chunks" in out
    assert "done; skipped: Researcher" in out
