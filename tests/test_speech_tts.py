"""Piper text to speech at the session's rate, and the model registry that loads it once."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

import pytest

from server.model_loading import ModelLoadError
from server.models import ModelRegistry
from server.speech.tts import BUNDLED_VOICE, TextToSpeech, resolve_voice, speakable_text
from tests.speech_helpers import duration_s, rms

SENTENCE = "The weather today is sunny and warm."


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> ModelRegistry:
    return ModelRegistry(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def tts(registry: ModelRegistry) -> TextToSpeech:
    return registry.tts()


@pytest.mark.parametrize("rate", [16000, 24000])
def test_a_sentence_is_audible_speech_of_plausible_length(tts: TextToSpeech, rate: int) -> None:
    pcm = tts.synthesize(SENTENCE, rate)

    assert len(pcm) % 2 == 0
    # Seven words at a normal speaking pace: roughly two seconds.
    assert 1.0 < duration_s(pcm, rate) < 4.0
    assert rms(pcm) > 0.03


def test_the_rate_changes_samples_not_speed(tts: TextToSpeech) -> None:
    at_16k = duration_s(tts.synthesize(SENTENCE, 16000), 16000)
    at_48k = duration_s(tts.synthesize(SENTENCE, 48000), 48000)

    # Piper varies phoneme lengths a little from run to run; resampling must not.
    assert at_48k == pytest.approx(at_16k, rel=0.15)


def test_more_text_takes_longer_to_say(tts: TextToSpeech) -> None:
    short = tts.synthesize("Yes.", 16000)
    long = tts.synthesize(SENTENCE + " Take a hat and some water with you.", 16000)

    assert duration_s(long, 16000) > 2 * duration_s(short, 16000)


def test_the_bundled_voice_is_22050_hz(tts: TextToSpeech) -> None:
    assert tts.native_rate == 22050


@pytest.mark.parametrize("text", ["", "   ", "***", "\n--\n"])
def test_text_with_nothing_to_say_gives_no_audio(tts: TextToSpeech, text: str) -> None:
    assert tts.synthesize(text, 16000) == b""


def test_markdown_symbols_are_not_read_out() -> None:
    assert speakable_text("**Paris** is _lovely_,\n  `really`.") == "Paris is lovely, really."


@pytest.mark.parametrize("rate", [0, 4000, 16000.5, "16000"])
def test_a_bad_sample_rate_is_a_clear_error(tts: TextToSpeech, rate: object) -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        tts.synthesize(SENTENCE, rate)  # type: ignore[arg-type]


def test_a_faster_voice_speaks_faster(registry: ModelRegistry, tts: TextToSpeech) -> None:
    fast = registry.tts(speed=1.6)

    normal_s = duration_s(tts.synthesize(SENTENCE, 16000), 16000)
    fast_s = duration_s(fast.synthesize(SENTENCE, 16000), 16000)

    assert fast_s < 0.85 * normal_s
    assert registry.tts(speed=1.6) is fast


def test_threads_can_share_one_voice(tts: TextToSpeech) -> None:
    results: dict[int, bytes] = {}

    def speak(index: int) -> None:
        results[index] = tts.synthesize(f"This is sentence number {index}.", 24000)

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(results) == [0, 1, 2]
    assert all(duration_s(pcm, 24000) > 0.8 and rms(pcm) > 0.03 for pcm in results.values())


# -- the registry --------------------------------------------------------------


def test_concurrent_requests_load_a_model_once(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    barrier = threading.Barrier(4)
    voices: list[TextToSpeech] = []

    def ask() -> None:
        barrier.wait()
        voices.append(registry.tts())

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(voices) == 4
    assert all(voice is voices[0] for voice in voices)
    assert registry.status()["tts"] == "ready"
    assert registry.status()["asr"] == "not loaded"


def test_a_missing_voice_path_is_a_clear_error(tmp_path: Path) -> None:
    registry = ModelRegistry(tmp_path)
    missing = tmp_path / "voices" / "nobody.onnx"

    with pytest.raises(ModelLoadError, match="file not found") as caught:
        registry.tts(str(missing))

    assert str(missing) in str(caught.value)
    assert BUNDLED_VOICE in str(caught.value)  # says what would work instead
    assert registry.status()[f"tts:{missing}@1"].startswith("error: ")


def test_a_voice_without_its_json_is_a_clear_error(tmp_path: Path) -> None:
    model = tmp_path / "lonely.onnx"
    model.write_bytes(b"not really a model")

    with pytest.raises(ModelLoadError, match=r"lonely\.onnx\.json"):
        resolve_voice(str(model))


def test_a_damaged_voice_file_is_reported_as_damaged(tmp_path: Path) -> None:
    bundled_model, bundled_config = resolve_voice(BUNDLED_VOICE)
    model = tmp_path / "voices" / "broken.onnx"
    model.parent.mkdir()
    model.write_bytes(bundled_model.read_bytes()[:4096])  # a truncated download
    shutil.copy(bundled_config, model.with_name("broken.onnx.json"))
    registry = ModelRegistry(tmp_path)

    with pytest.raises(ModelLoadError, match="damaged"):
        registry.tts("broken")  # a plain name is looked up in <models_dir>/voices/


def test_a_bad_speed_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadError, match="speed"):
        ModelRegistry(tmp_path).tts(speed=0)
