"""One way to open the small ONNX models (Silero VAD, Smart Turn) the engine runs per chunk.

Each call is a few milliseconds to tens of milliseconds of work; one thread per
call avoids fighting Whisper and Piper for the two cores.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from server.model_loading import ModelLoadError


def single_thread_session(path: Path, what: str, fix: str) -> Any:
    """A one-thread onnxruntime CPU session; `ModelLoadError` names ``what``, the file, ``fix``."""
    if not path.is_file():
        raise ModelLoadError(f"{what}: file not found: {path}; {fix}")
    try:
        import onnxruntime
    except ImportError as exc:
        raise ModelLoadError("onnxruntime is not installed: pip install onnxruntime") from exc
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 4
    try:
        return onnxruntime.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:
        raise ModelLoadError(f"{what}: file damaged: {path} ({exc})") from exc
