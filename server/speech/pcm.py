"""PCM16 <-> float conversion and resampling shared by the speech components.

The wire carries PCM16 little-endian mono at the project's sample rate, while
each model wants float32 at its own rate (Whisper and Silero 16 kHz, the Piper
voice 22.05 kHz). Keeping the conversions here means every component checks
its input the same way and reports bad audio with the same clear message.
"""

from __future__ import annotations

import numpy as np
import soxr

MIN_SAMPLE_RATE = 8000
MAX_SAMPLE_RATE = 192000
_INT16_SCALE = 32768.0


def check_sample_rate(sample_rate: int) -> int:
    """Return ``sample_rate`` if it is a usable integer rate, else raise ValueError naming it."""
    if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | np.integer):
        raise ValueError(f"sample_rate must be an integer number of Hz, got {sample_rate!r}")
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise ValueError(
            f"sample_rate {sample_rate} Hz is out of range "
            f"({MIN_SAMPLE_RATE}..{MAX_SAMPLE_RATE} Hz)"
        )
    return int(sample_rate)


def pcm16_to_float(pcm16: bytes | bytearray | memoryview) -> np.ndarray:
    """Decode PCM16 LE mono bytes to float32 in [-1, 1); odd byte counts are an error."""
    if not isinstance(pcm16, bytes | bytearray | memoryview):
        raise TypeError(f"audio must be PCM16 bytes, got {type(pcm16).__name__}")
    if len(pcm16) % 2:
        raise ValueError(
            f"PCM16 audio must have an even number of bytes (2 per sample), got {len(pcm16)}"
        )
    samples = np.frombuffer(pcm16, dtype="<i2")
    return samples.astype(np.float32) / _INT16_SCALE


def float_to_pcm16(samples: np.ndarray) -> bytes:
    """Encode float samples (clipped to [-1, 1]) as PCM16 LE mono bytes."""
    clipped = np.clip(np.asarray(samples, dtype=np.float32), -1.0, 1.0)
    return (clipped * 32767.0).round().astype("<i2").tobytes()


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """One-shot high-quality resampling of a whole float32 clip (no-op if the rates match)."""
    if from_rate == to_rate or samples.size == 0:
        return np.asarray(samples, dtype=np.float32)
    return soxr.resample(np.asarray(samples, dtype=np.float32), from_rate, to_rate, quality="HQ")


def duration_s(pcm16: bytes, sample_rate: int) -> float:
    """Length in seconds of PCM16 mono audio."""
    return len(pcm16) / 2 / sample_rate
