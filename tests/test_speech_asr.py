"""Whisper speech recognition, checked by a round trip through the Piper voice."""

from __future__ import annotations

from pathlib import Path

import jiwer
import pytest

from server.model_loading import ModelLoadError
from server.models import ModelRegistry
from server.speech.asr import SpeechRecognizer, load_asr
from server.speech.tts import TextToSpeech, load_tts
from tests.speech_helpers import silence, white_noise, words


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    return ModelRegistry(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def tts(registry: ModelRegistry) -> TextToSpeech:
    return registry.tts()


@pytest.fixture(scope="module")
def asr(registry: ModelRegistry) -> SpeechRecognizer:
    return registry.asr()


@pytest.mark.parametrize(
    ("sentence", "rate"),
    [
        ("Please book a table for two people at seven tonight.", 16000),
        ("I would like to order a large pizza with extra cheese.", 24000),
        ("Turn off the lights in the kitchen and lock the door.", 44100),
    ],
)
def test_spoken_text_comes_back_as_text(
    tts: TextToSpeech, asr: SpeechRecognizer, sentence: str, rate: int
) -> None:
    transcript = asr.transcribe(tts.synthesize(sentence, rate), rate)

    assert transcript == transcript.strip()
    assert jiwer.wer(words(sentence), words(transcript)) <= 0.2, transcript


def test_speech_after_a_pause_is_still_heard(tts: TextToSpeech, asr: SpeechRecognizer) -> None:
    speech = tts.synthesize("Open the garage door.", 16000)

    transcript = asr.transcribe(silence(1500, 16000) + speech + silence(500, 16000), 16000)

    assert jiwer.wer(words("Open the garage door."), words(transcript)) <= 0.25, transcript


@pytest.mark.parametrize("audio", [b"", silence(50, 16000), silence(2000, 16000)])
def test_no_speech_gives_empty_text(asr: SpeechRecognizer, audio: bytes) -> None:
    assert asr.transcribe(audio, 16000) == ""


def test_quiet_hiss_gives_empty_text(asr: SpeechRecognizer) -> None:
    assert asr.transcribe(white_noise(2000, 16000, level=0.0005), 16000) == ""


def test_an_odd_number_of_bytes_is_a_clear_error(asr: SpeechRecognizer) -> None:
    with pytest.raises(ValueError, match="even number of bytes"):
        asr.transcribe(b"\x00\x01\x02", 16000)


def test_a_bad_sample_rate_is_a_clear_error(asr: SpeechRecognizer) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        asr.transcribe(silence(100, 16000), 100)


def test_a_missing_model_directory_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match=r"model\.bin") as caught:
        load_asr(str(tmp_path / "whisper-small"))

    assert "tiny.en" in str(caught.value)  # names the model that works out of the box


def test_the_english_model_refuses_other_languages() -> None:
    with pytest.raises(ModelLoadError, match="English only"):
        load_asr("tiny.en", language="fr")


def test_the_registry_shares_one_recognizer(registry: ModelRegistry, asr: SpeechRecognizer) -> None:
    assert registry.asr() is asr
    assert registry.status()["asr"] == "ready"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("Hold on, can you book a table for four at seven?", "hold"), ("Okay.", "okay")],
)
def test_first_words_hears_how_an_utterance_starts(
    asr: SpeechRecognizer, text: str, expected: str
) -> None:
    """Barge-in's fast check: the first 0.8 s is enough to tell "hold on" from "okay"."""
    steady = load_tts(varied=False)  # the same audio on every run
    speech = steady.synthesize(text, 16000)[: 2 * int(0.8 * 16000)]
    heard = asr.first_words(silence(200, 16000) + speech, 16000)
    assert expected in words(heard).split()


def test_first_words_believes_nothing_it_is_unsure_of(asr: SpeechRecognizer) -> None:
    """Noise, or a leak of echo, decodes to made-up words with low confidence: none come back."""
    assert asr.first_words(white_noise(600, 16000, level=0.01), 16000) == ""
    assert asr.first_words(silence(600, 16000), 16000) == ""
