"""Audio helpers shared by the speech tests: measuring PCM and making silence and noise."""

from __future__ import annotations

import re

import numpy as np

from server.speech.turns import TurnDetector, TurnUpdate


def duration_s(pcm16: bytes, rate: int) -> float:
    return len(pcm16) / 2 / rate


def rms(pcm16: bytes) -> float:
    """Root mean square level, as a fraction of full scale."""
    samples = np.frombuffer(pcm16, dtype="<i2").astype(np.float64) / 32768
    return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


def silence(ms: int, rate: int) -> bytes:
    return bytes(2 * (rate * ms // 1000))


def white_noise(ms: int, rate: int, level: float, seed: int = 0) -> bytes:
    """Gaussian noise with standard deviation ``level`` of full scale."""
    samples = np.random.default_rng(seed).standard_normal(rate * ms // 1000) * level
    return (np.clip(samples, -1, 1) * 32767).astype("<i2").tobytes()


def feed_in_chunks(
    detector: TurnDetector, pcm16: bytes, rate: int, chunk_ms: int = 20
) -> list[tuple[float, TurnUpdate]]:
    """Feed audio like a microphone would; return (seconds into the audio, update) pairs."""
    step = 2 * (rate * chunk_ms // 1000)
    updates = []
    for offset in range(0, len(pcm16), step):
        update = detector.feed(pcm16[offset : offset + step])
        updates.append(((offset + step) / 2 / rate, update))
    return updates


def words(text: str) -> str:
    """Lower-case words without punctuation, for word error rates."""
    text = text.lower().replace("colour", "color").replace("favourite", "favorite")
    return " ".join(re.findall(r"[a-z0-9']+", text))
