"""Silero voice activity detection, streaming, on the ONNX file faster-whisper ships.

One `VadModel` (the ONNX session) is shared by all sessions; each audio stream
keeps its own RNN state and 64-sample context in a `VadStream`, so streams never
disturb each other. The model scores 32 ms windows (512 samples at 16 kHz).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from server.model_loading import ModelLoadError
from server.speech.onnx_session import single_thread_session

VAD_RATE = 16000
WINDOW = 512  # samples per scored window at 16 kHz (32 ms)
CONTEXT = 64  # samples of the previous window the model sees before each window
WINDOW_MS = WINDOW * 1000 / VAD_RATE
INSTALL_HINT = "pip install faster-whisper onnxruntime"
_STATE_SHAPE = (1, 1, 128)


class VadModel:
    """The loaded Silero ONNX session; `score` is thread-safe (state lives with the caller)."""

    def __init__(self, session: Any, path: Path) -> None:
        self._session = session
        self.path = path

    def score(
        self, windows: np.ndarray, state: tuple[np.ndarray, np.ndarray]
    ) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
        """Speech probabilities of consecutive ``(n, CONTEXT + WINDOW)`` windows; new state."""
        h, c = state
        probs, h_out, c_out = self._session.run(
            None, {"input": windows.astype(np.float32, copy=False), "h": h, "c": c}
        )
        return np.asarray(probs, dtype=np.float32).reshape(-1), (h_out, c_out)

    def stream(self) -> VadStream:
        """A fresh per-stream scorer on this model."""
        return VadStream(self)


class VadStream:
    """Scores a 16 kHz float stream fed in chunks of any length; blocking (runs ONNX)."""

    def __init__(self, model: VadModel) -> None:
        self._model = model
        self.reset()

    def reset(self) -> None:
        """Forget the audio heard so far (new RNN state, silent context)."""
        zeros = np.zeros(_STATE_SHAPE, dtype=np.float32)
        self._state = (zeros, zeros.copy())
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def feed(self, samples16k: np.ndarray) -> np.ndarray:
        """Probabilities for every whole 32 ms window completed by these samples."""
        audio = np.concatenate([self._pending, np.asarray(samples16k, dtype=np.float32)])
        count = audio.size // WINDOW
        self._pending = audio[count * WINDOW :]
        if count == 0:
            return np.zeros(0, dtype=np.float32)
        frames = audio[: count * WINDOW].reshape(count, WINDOW)
        contexts = np.empty((count, CONTEXT), dtype=np.float32)
        contexts[0] = self._context
        contexts[1:] = frames[:-1, -CONTEXT:]
        self._context = frames[-1, -CONTEXT:].copy()
        probs, self._state = self._model.score(np.hstack([contexts, frames]), self._state)
        return probs


def silero_path() -> Path:
    """Where faster-whisper keeps the Silero VAD ONNX file."""
    try:
        from faster_whisper.utils import get_assets_path
    except ImportError as exc:
        raise ModelLoadError(
            f"Silero VAD (from faster-whisper) is not installed: {INSTALL_HINT}"
        ) from exc
    return Path(get_assets_path()) / "silero_vad_v6.onnx"


def load_vad(path: Path | None = None) -> VadModel:
    """Load the Silero VAD (blocking, ~0.1 s). Raises `ModelLoadError` saying how to fix it."""
    model_path = silero_path() if path is None else Path(path)
    session = single_thread_session(model_path, "VAD model", f"reinstall: {INSTALL_HINT}")
    return VadModel(session, model_path)
