"""Turn-taking with real models: a pause mid-sentence is waited out, a finished question is not.

The server runs Silero VAD, Whisper, Smart Turn and the echo LLM. Speech comes
from two synthesisers (Piper without sampling noise, and espeak-ng), put in a
simulated room (reverberation and a noise bed) by `bench.turn_set`, and is
streamed at real speed where the decision races the audio.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import jiwer
import numpy as np
import pytest

from app.engine import EngineProcess
from bench.turn_set import RATE, espeak, reverberate, room_noise
from bench.turns import spoken_words
from server.model_loading import ModelLoadError
from server.speech.end_of_turn import decide, load_end_of_turn, words_signal
from server.speech.pcm import float_to_pcm16, pcm16_to_float
from server.speech.tts import load_tts
from tests.conftest import wait_until
from tests.speech_helpers import words
from tests.test_server_voice import frame_types, speak, voice_config
from tests.wire import create, flow_config, session

FIRST = "My phone number is five five five"
SECOND = "one two three four."
QUESTION = "What time does the pool open?"


@pytest.fixture(scope="module")
def piper():  # type: ignore[no-untyped-def]
    return load_tts(varied=False)


def voice(name: str, text: str, piper: Any) -> np.ndarray:
    if name == "piper":
        return pcm16_to_float(piper.synthesize(text, RATE))
    return espeak(text, 160)


def in_room(*parts: np.ndarray, pause_ms: int = 0, tail_ms: int = 0, lead_ms: int = 200) -> bytes:
    """The parts with ``pause_ms`` between them and ``tail_ms`` after, reverberant and noisy."""
    gap = np.zeros(RATE * pause_ms // 1000, dtype=np.float32)
    pieces = [np.zeros(RATE * lead_ms // 1000, dtype=np.float32)]
    for part in parts:
        pieces += [part, gap]
    pieces[-1] = np.zeros(RATE * tail_ms // 1000, dtype=np.float32)
    wet = reverberate(np.concatenate(pieces))
    return float_to_pcm16(wet + room_noise(wet.size))


def turn_config(mode: str, silence_ms: int) -> dict[str, Any]:
    config = voice_config("Assistant", rate=RATE, tts_engine="none")
    config["speech_config"]["turn_detection"] |= {"mode": mode, "silence_ms": silence_ms}
    return config


async def transcripts_of(
    server: EngineProcess, project: str, pcm: bytes, *, count: int
) -> list[str]:
    """Stream ``pcm`` at real speed; the first ``count`` final transcripts of the session."""
    async with session(server, project, f"u-{project}") as peer:
        await speak(peer, pcm, RATE, chunk_ms=50, realtime=1.0)
        texts = []
        while len(texts) < count:
            frame = await peer.recv(timeout=60)
            if frame["type"] == "response.audio_transcript.done":
                texts.append(frame["text"])
    return texts


# -- the decision on its own ---------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    ["I want apples, bananas and", "Please book me a flight to the", "I'd like, um...",
     "My number is five, five, five.", "The code is 739.", "Let me think.",
     "My address is 22."],
)  # fmt: skip
def test_unfinished_words_keep_the_turn_open_whatever_the_audio_says(text: str) -> None:
    assert words_signal(text) is False
    assert not decide(0.99, text).complete


@pytest.mark.parametrize("text", ["How far is the moon?", "What is it for?", "Where is it?"])
def test_a_question_ends_the_turn_even_when_the_audio_model_doubts(text: str) -> None:
    assert decide(0.1, text).complete


def test_a_question_ending_on_too_is_left_to_the_audio() -> None:
    """Whisper writes an unfinished "a flight to" as "a flight too?"."""
    assert decide(0.2, "Can you book me a flight too?").reason == "audio"
    assert not decide(0.2, "Can you book me a flight too?").complete


def test_words_whisper_was_unsure_of_never_end_a_turn() -> None:
    """A fragment Whisper completed with a guess ("Uh, how about" -> "a halibale.")."""
    assert decide(0.99, "a halibale.", avg_logprob=-0.9).reason == "unsure words"
    assert not decide(0.99, "What time is it?", avg_logprob=-0.9).complete
    assert decide(0.99, "a halibut.", avg_logprob=-0.1).complete


@pytest.mark.parametrize(
    "text",
    ["which platform does the next train leave from.", "Where are you from", "What is it for."],
)
def test_a_question_whisper_wrote_without_its_mark_may_end_on_a_preposition(text: str) -> None:
    assert decide(0.9, text).complete  # the audio decides, not the last word
    assert not decide(0.2, text).complete


@pytest.mark.parametrize("text", ["What I really want to know is", "Can you tell me about"])
def test_a_statement_or_question_that_stops_on_its_verb_or_preposition_is_unfinished(
    text: str,
) -> None:
    assert words_signal(text) is False


def test_without_cues_in_the_words_the_audio_model_decides() -> None:
    assert decide(0.9, "I need a taxi to the station.").complete
    assert not decide(0.2, "I need a taxi to the station.").complete
    assert decide(0.2, "My phone number is 555-1234.").reason == "audio"  # seven digits: maybe done


def test_the_model_scores_clipped_noisy_and_silent_audio_without_failing() -> None:
    model = load_end_of_turn()
    rng = np.random.default_rng(0)
    clipped = np.clip(espeak("What time does the pool open?", 160) * 20, -1, 1)
    for audio in (clipped, rng.standard_normal(RATE * 3) * 0.3, np.zeros(RATE), np.zeros(0)):
        probability = model.probability(np.asarray(audio, dtype=np.float32))
        assert 0.0 <= probability <= 1.0


def test_a_damaged_model_file_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "smart-turn.onnx"
    broken.write_bytes(b"not an onnx model")
    with pytest.raises(ModelLoadError, match=r"file damaged: .*smart-turn\.onnx"):
        load_end_of_turn(broken)


# -- the engine, end to end --------------------------------------------------------------


@pytest.mark.parametrize("name", ["piper", "espeak"])
async def test_a_pause_mid_number_is_waited_out_in_smart_mode_and_cut_in_silence_300(
    speech_server: EngineProcess, piper: Any, name: str
) -> None:
    pcm = in_room(voice(name, FIRST, piper), voice(name, SECOND, piper), pause_ms=900,
                  tail_ms=2500)  # fmt: skip
    create(speech_server, f"smart-{name}", turn_config("smart", 2000))
    create(speech_server, f"silence-{name}", turn_config("silence", 300))

    (smart,) = await transcripts_of(speech_server, f"smart-{name}", pcm, count=1)
    cut, rest = await transcripts_of(speech_server, f"silence-{name}", pcm, count=2)

    assert "phone" in spoken_words(smart) and "4" in spoken_words(smart)  # one turn, all of it
    assert "phone" in spoken_words(cut) and "4" not in spoken_words(cut)  # ended in the pause
    assert "4" in spoken_words(rest)


@pytest.mark.parametrize("name", ["piper", "espeak"])
async def test_a_finished_question_ends_the_turn_long_before_silence_ms(
    speech_server: EngineProcess, piper: Any, name: str
) -> None:
    # 1.5 s of room noise after the question, then nothing: with silence_ms at
    # 5000 only the end-of-turn detector can end this turn.
    pcm = in_room(voice(name, QUESTION, piper), tail_ms=1500)
    create(speech_server, f"done-{name}", turn_config("smart", 5000))
    (text,) = await transcripts_of(speech_server, f"done-{name}", pcm, count=1)
    assert jiwer.wer(words(QUESTION), words(text)) <= 0.35


async def test_clipped_speech_still_ends_its_turn_in_smart_mode(
    speech_server: EngineProcess, piper: Any
) -> None:
    loud = np.clip(voice("espeak", QUESTION, piper) * 20, -1, 1)  # a microphone overdriven
    create(speech_server, "clipped", turn_config("smart", 5000))
    (text,) = await transcripts_of(speech_server, "clipped", in_room(loud, tail_ms=1500), count=1)
    assert "pool" in words(text) or "open" in words(text)


async def test_the_same_audio_gives_nothing_in_silence_mode_with_that_limit(
    speech_server: EngineProcess, piper: Any
) -> None:
    pcm = in_room(voice("piper", QUESTION, piper), tail_ms=1500)
    create(speech_server, "done-silence", turn_config("silence", 5000))
    async with session(speech_server, "done-silence", "u-done-silence") as peer:
        await speak(peer, pcm, RATE, chunk_ms=50, realtime=1.0)
        with pytest.raises(TimeoutError):  # still listening: 5 s of silence were not heard
            while True:
                frame = await peer.recv(timeout=2.0)
                assert frame["type"] == "response.audio_transcript.delta"


async def test_without_the_model_turns_end_on_silence_and_healthz_says_why(
    tmp_path: Path, piper: Any
) -> None:
    # A `pipecat` package without the model file shadows the installed one.
    fake = tmp_path / "shadow" / "pipecat"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("")
    old = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(fake.parent), old]))
    try:
        server = EngineProcess(tmp_path / "data", provider="echo")
        server.start(timeout=180)
    finally:
        if old is None:
            del os.environ["PYTHONPATH"]
        else:
            os.environ["PYTHONPATH"] = old
    try:
        create(server, "fallback", turn_config("smart", 600))
        pcm = in_room(voice("piper", QUESTION, piper), tail_ms=1200)
        (text,) = await transcripts_of(server, "fallback", pcm, count=1)
        assert jiwer.wer(words(QUESTION), words(text)) <= 0.35
        turn = httpx.get(f"{server.base_url}/healthz").json()["models"]["turn"]
        assert turn.startswith("error") and "pipecat-ai" in turn and "not found" in turn
    finally:
        server.stop()


async def test_a_committed_turn_hears_the_same_words_while_a_core_is_busy(
    speech_server: EngineProcess, piper: Any
) -> None:
    from server.speech.asr import load_asr

    pcm = piper.synthesize("What is the weather like in Paris today?", RATE)
    expected = load_asr().transcribe(pcm, RATE)  # the same audio, offline, on a quiet core
    create(speech_server, "busy", voice_config("Assistant", rate=RATE, tts_engine="none"))
    burner = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        for attempt in range(3):
            async with session(speech_server, "busy", f"u-busy-{attempt}") as peer:
                await speak(peer, pcm, RATE)  # all at once, then stop recording
                await peer.send({"type": "input_audio_buffer.commit"})
                frames = await peer.until("response.done", timeout=90)
            done = next(f for f in frames if f["type"] == "response.audio_transcript.done")
            assert done["text"] == expected
    finally:
        burner.kill()
        burner.wait()


# -- answering ahead: the answer is begun while the pause that ends the turn runs ----------

# A pause after the last voiced sample that the VAD hears as ~128 ms of silence (its
# reverberation tail is speech to it): well past the 32 ms that start the draft and the
# verdict, well short of the 200 ms that may end a turn.
SHORT_PAUSE_MS = {"piper": 230, "espeak": 290}


def voiced(samples: np.ndarray) -> np.ndarray:
    """Piper's own trailing silence cut off, so the pause is the one the test makes."""
    loud = np.flatnonzero(np.abs(samples) > 0.01)
    return samples[: loud[-1] + 1]


def question_then_short_pause(name: str, piper: Any) -> bytes:
    return in_room(voiced(voice(name, QUESTION, piper)), tail_ms=SHORT_PAUSE_MS[name])


def prepared_answers(server: EngineProcess) -> dict[str, int]:
    return httpx.get(f"{server.base_url}/healthz").json()["prepared_answers"]


@pytest.mark.parametrize("name", ["piper", "espeak"])
async def test_a_finished_question_is_answered_during_its_pause_and_shown_after_it(
    speech_server: EngineProcess, piper: Any, name: str
) -> None:
    create(speech_server, f"ahead-{name}", turn_config("smart", 5000))
    before = prepared_answers(speech_server)
    async with session(speech_server, f"ahead-{name}", f"u-ahead-{name}") as peer:
        # The question and a pause too short to end the turn, sent at once: the engine
        # hears no more audio, so the turn cannot end, but its answer is begun.
        await speak(peer, question_then_short_pause(name, piper), RATE)
        await wait_until(
            lambda: prepared_answers(speech_server)["started"] > before["started"],
            message=lambda: f"an answer begun in the pause ({prepared_answers(speech_server)})",
        )
        early = [f["type"] for f in peer.received]
        await speak(peer, float_to_pcm16(room_noise(RATE)), RATE)  # the pause goes on
        frames = await peer.until("response.done", timeout=60)
    assert not any(t.startswith("response.") and "transcript" not in t for t in early)
    types = frame_types(frames)
    assert types.index("response.audio_transcript.done") < types.index("response.created")
    done = next(f for f in frames if f["type"] == "response.audio_transcript.done")
    assert jiwer.wer(words(QUESTION), words(done["text"])) <= 0.35
    assert frames[-1]["metadata"]["timings"]["prepared"] is True
    after = prepared_answers(speech_server)
    assert after["shown"] == before["shown"] + 1 and after["dropped"] == before["dropped"]


async def ask_then_talk_on(
    peer: Any, server: EngineProcess, piper: Any, before: dict[str, int], until: str
) -> list[dict]:
    """The question, a pause in which the turn is judged over, then more words: the frames
    up to ``until``."""
    await speak(peer, question_then_short_pause("piper", piper), RATE)
    await wait_until(
        lambda: prepared_answers(server)["started"] > before["started"],
        message=lambda: f"a turn judged over in the pause ({prepared_answers(server)})",
    )
    more = in_room(voice("piper", "And on Sundays?", piper), tail_ms=1500, lead_ms=0)
    await speak(peer, more, RATE, chunk_ms=50, realtime=1.0)
    return await peer.until(until, timeout=60)


async def test_an_answer_begun_in_a_pause_the_user_talks_on_through_is_never_seen(
    speech_server: EngineProcess, piper: Any
) -> None:
    create(speech_server, "talks-on", turn_config("smart", 5000))
    before = prepared_answers(speech_server)
    async with session(speech_server, "talks-on", "u-talks-on") as peer:
        frames = await ask_then_talk_on(peer, speech_server, piper, before, "response.done")
    types = frame_types(frames)
    assert types.count("response.created") == 1  # one turn, one answer: the whole of it
    assert types.index("response.audio_transcript.done") < types.index("response.created")
    heard = words(next(f for f in frames if f["type"] == "response.audio_transcript.done")["text"])
    assert "pool" in heard and "sundays" in heard
    answer = " ".join(f["content"] for f in frames if f["type"] == "response.text.delta")
    assert "sundays" in words(answer)  # answered on every word, not on the first question
    assert prepared_answers(speech_server)["dropped"] == before["dropped"] + 1


async def test_a_client_executor_is_asked_only_once_the_turn_is_over(
    speech_server: EngineProcess, piper: Any
) -> None:
    config = flow_config("Tool", custom=("Tool",))  # an agent the client runs
    config["speech_config"] = turn_config("smart", 5000)["speech_config"]
    create(speech_server, "tool-ahead", config)
    before = prepared_answers(speech_server)
    async with session(speech_server, "tool-ahead", "u-tool-ahead") as peer:
        # "executor": the first frame without a type
        frames = await ask_then_talk_on(peer, speech_server, piper, before, "executor")
    types = frame_types(frames)
    assert types.count("executor") == 1 and types[-1] == "executor"
    assert types.index("response.audio_transcript.done") < types.index("executor")
    assert "sundays" in words(frames[-1]["kwargs"]["query"])  # asked about the whole turn


def test_the_end_of_turn_model_is_preloaded_with_the_speech_models(
    speech_server: EngineProcess,
) -> None:
    """At start the engine loads it beside VAD, ASR and TTS, so no first turn waits for it."""
    import httpx

    from tests.conftest import wait_until_sync

    seen: dict[str, str] = {}

    def loaded() -> bool:
        seen.update(httpx.get(f"{speech_server.base_url}/healthz", timeout=10).json()["models"])
        return all(seen.get(name) == "ready" for name in ("vad", "asr", "tts", "turn"))

    wait_until_sync(loaded, 300, lambda: f"every speech model to be ready: {seen}", interval=0.5)


def llm_prompts(server: EngineProcess) -> dict[str, int]:
    return httpx.get(f"{server.base_url}/healthz").json()["llm_prompts"]


def on_the_embedded_model(config: dict[str, Any]) -> dict[str, Any]:
    config["base_config"]["llm_config"] = {"provider": "embedded"}
    return config


async def test_the_conversation_is_read_while_the_user_asks_so_the_answer_reads_only_the_question(
    speech_server: EngineProcess, piper: Any
) -> None:
    create(speech_server, "read-ahead", on_the_embedded_model(turn_config("smart", 5000)))
    create(speech_server, "someone-else", on_the_embedded_model(flow_config("Chef")))
    question = "Could you tell me what time the swimming pool opens on Sunday mornings?"
    async with session(speech_server, "read-ahead", "u-read-ahead") as peer:
        await peer.send({"type": "input_text", "text": "I am staying here until Monday."})
        await peer.until("response.done", timeout=60)
        async with session(speech_server, "someone-else", "u-someone-else") as other:
            # another conversation on the box: the model now holds that one
            await other.send({"type": "input_text", "text": "What can I cook with rice?"})
            await other.until("response.done", timeout=60)
        before = llm_prompts(speech_server)
        await speak(peer, in_room(voice("piper", question, piper), tail_ms=1500), RATE, 50, 1.0)
        frames = await peer.until("response.done", timeout=60)
    after = llm_prompts(speech_server)
    assert "response.audio_transcript.done" in frame_types(frames)
    assert after["read_ahead"] > before["read_ahead"]
    read = after["prompt_tokens"] - before["prompt_tokens"]
    unread = read - (after["reused_tokens"] - before["reused_tokens"])
    assert read > 100 and unread <= 40  # the spoken question, not the conversation before it
