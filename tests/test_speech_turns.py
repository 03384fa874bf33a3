"""Streaming turn detection: barge-in when the user starts, end of turn after a pause."""

from __future__ import annotations

import jiwer
import pytest

from server.models import ModelRegistry
from server.speech.tts import TextToSpeech
from server.speech.turns import TurnDetector
from server.speech.vad import VadModel
from tests.speech_helpers import duration_s, feed_in_chunks, silence, white_noise, words

SENTENCE = "Please book a table for two people at seven tonight."


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    return ModelRegistry(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def vad(registry: ModelRegistry) -> VadModel:
    return registry.vad()


@pytest.fixture(scope="module")
def tts(registry: ModelRegistry) -> TextToSpeech:
    return registry.tts()


@pytest.mark.parametrize("rate", [16000, 24000, 48000])
def test_speech_then_a_pause_starts_then_ends_the_turn(
    vad: VadModel, tts: TextToSpeech, rate: int
) -> None:
    speech = tts.synthesize(SENTENCE, rate)
    speech_s = duration_s(speech, rate)
    detector = TurnDetector(vad, rate, silence_ms=600, min_speech_ms=300)

    updates = feed_in_chunks(detector, silence(500, rate) + speech + silence(1000, rate), rate)

    starts = [t for t, u in updates if u.started]
    ends = [t for t, u in updates if u.ended]
    assert len(starts) == 1 and len(ends) == 1
    # Started once 300 ms of speech was heard, ended 600 ms after the speech stopped.
    assert 0.5 + 0.3 <= starts[0] < 0.5 + 1.0
    assert 0.5 + speech_s + 0.3 < ends[0] <= 0.5 + speech_s + 0.9
    assert any(u.speech_active for _, u in updates)
    assert not updates[-1][1].speech_active
    # The utterance is the speech with a little pre-roll and tail, not the silences.
    assert speech_s - 0.3 < duration_s(detector.utterance(), rate) < speech_s + 0.6


def test_the_utterance_is_what_the_user_said(
    registry: ModelRegistry, vad: VadModel, tts: TextToSpeech
) -> None:
    rate = 24000
    detector = TurnDetector(vad, rate)
    feed_in_chunks(detector, silence(700, rate) + tts.synthesize(SENTENCE, rate), rate)
    assert detector.has_speech

    transcript = registry.asr().transcribe(detector.utterance(), rate)

    assert jiwer.wer(words(SENTENCE), words(transcript)) <= 0.2, transcript


@pytest.mark.parametrize(
    "audio",
    [silence(3000, 16000), white_noise(3000, 16000, 0.02), white_noise(3000, 16000, 0.2, seed=1)],
    ids=["silence", "quiet hiss", "loud hiss"],
)
def test_silence_and_noise_never_start_a_turn(vad: VadModel, audio: bytes) -> None:
    detector = TurnDetector(vad, 16000)

    updates = feed_in_chunks(detector, audio, 16000)

    assert not any(u.started or u.ended for _, u in updates)
    assert not detector.has_speech
    assert detector.utterance() == b""


def test_speech_shorter_than_min_speech_is_ignored(vad: VadModel, tts: TextToSpeech) -> None:
    detector = TurnDetector(vad, 16000, min_speech_ms=5000)

    updates = feed_in_chunks(
        detector, tts.synthesize(SENTENCE, 16000) + silence(1000, 16000), 16000
    )

    assert any(u.speech_active for _, u in updates)  # heard it, but too short to be a turn
    assert not any(u.started or u.ended for _, u in updates)


def test_two_sentences_with_a_pause_are_two_turns(vad: VadModel, tts: TextToSpeech) -> None:
    rate = 16000
    first = tts.synthesize("What time is it?", rate)
    second = tts.synthesize("And what day is it today?", rate)
    detector = TurnDetector(vad, rate)
    utterances: list[bytes] = []

    audio = first + silence(1000, rate) + second + silence(1000, rate)
    for offset in range(0, len(audio), 640):  # 20 ms chunks, as from a microphone
        if detector.feed(audio[offset : offset + 640]).ended:
            utterances.append(detector.utterance())

    assert len(utterances) == 2
    assert duration_s(utterances[0], rate) == pytest.approx(duration_s(first, rate), abs=0.4)
    assert duration_s(utterances[1], rate) == pytest.approx(duration_s(second, rate), abs=0.4)


def test_a_short_pause_inside_a_sentence_does_not_end_the_turn(
    vad: VadModel, tts: TextToSpeech
) -> None:
    rate = 16000
    detector = TurnDetector(vad, rate, silence_ms=800)
    audio = (
        tts.synthesize("I would like", rate)
        + silence(300, rate)
        + tts.synthesize("a large pizza.", rate)
        + silence(1200, rate)
    )

    updates = feed_in_chunks(detector, audio, rate)

    assert sum(u.ended for _, u in updates) == 1
    assert sum(u.started for _, u in updates) == 1


def test_one_big_chunk_reports_both_start_and_end(vad: VadModel, tts: TextToSpeech) -> None:
    rate = 16000
    detector = TurnDetector(vad, rate)

    update = detector.feed(tts.synthesize(SENTENCE, rate) + silence(1000, rate))

    assert update.started and update.ended
    assert update.speech_ms > 1000
    assert duration_s(detector.utterance(), rate) > 1.5


def test_reset_forgets_the_utterance(vad: VadModel, tts: TextToSpeech) -> None:
    detector = TurnDetector(vad, 16000)
    detector.feed(tts.synthesize(SENTENCE, 16000))
    assert detector.has_speech

    detector.reset()

    assert not detector.has_speech
    assert detector.utterance() == b""


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"silence_ms": 0}, "silence_ms"),
        ({"min_speech_ms": -5}, "min_speech_ms"),
        ({"sample_rate": 1000}, "sample_rate"),
    ],
)
def test_bad_settings_are_clear_errors(vad: VadModel, kwargs: dict, message: str) -> None:
    settings = {"sample_rate": 16000} | kwargs
    with pytest.raises(ValueError, match=message):
        TurnDetector(vad, **settings)
