"""Level meters: what the mic/speaker meter shows for known signals."""

from __future__ import annotations

import math

import numpy as np
import pytest

from audio.levels import FLOOR_DBFS, LevelMeter, block_levels, normalised


def sine(amplitude: float, freq: float = 1000.0, rate: int = 16000, samples: int = 320):
    t = np.arange(samples) / rate
    return np.round(amplitude * 32767 * np.sin(2 * math.pi * freq * t)).astype(np.int16)


def test_half_scale_sine_reads_minus_9_rms_and_minus_6_peak() -> None:
    meter = LevelMeter()
    meter.update(sine(0.5))
    snap = meter.snapshot()
    assert snap.rms_dbfs == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=0.1)
    assert snap.peak_dbfs == pytest.approx(20 * math.log10(0.5), abs=0.1)


def test_full_scale_sine_peaks_at_0_dbfs() -> None:
    rms, peak = block_levels(sine(1.0))
    assert peak == pytest.approx(0.0, abs=0.01)
    assert rms == pytest.approx(-3.01, abs=0.05)


def test_digital_silence_reads_the_floor_and_a_flat_waveform() -> None:
    meter = LevelMeter(history=8)
    for _ in range(3):
        meter.update(np.zeros(320, dtype=np.int16))
    snap = meter.snapshot()
    assert snap.rms_dbfs == FLOOR_DBFS
    assert snap.peak_dbfs == FLOOR_DBFS
    assert snap.waveform == (0.0,) * 8


def test_waveform_is_oldest_first_and_keeps_only_the_newest_points() -> None:
    meter = LevelMeter(history=4)
    amplitudes = [0.001, 0.01, 0.03, 0.1, 0.3, 1.0]
    for amplitude in amplitudes:
        meter.update(sine(amplitude))
    wave = meter.snapshot().waveform
    assert len(wave) == 4
    assert list(wave) == sorted(wave)  # rising amplitudes stay in order
    assert wave[-1] == pytest.approx(normalised(-3.01), abs=0.01)
    assert meter.levels() == wave


def test_meter_scale_maps_minus_60_to_empty_and_0_to_full() -> None:
    assert normalised(-60.0) == 0.0
    assert normalised(-90.0) == 0.0
    assert normalised(-30.0) == pytest.approx(0.5)
    assert normalised(0.0) == 1.0


def test_reset_forgets_history() -> None:
    meter = LevelMeter(history=4)
    meter.update(sine(0.5))
    meter.reset()
    snap = meter.snapshot()
    assert snap.waveform == (0.0,) * 4
    assert snap.rms_dbfs == FLOOR_DBFS


def test_history_must_be_positive() -> None:
    with pytest.raises(ValueError, match="history"):
        LevelMeter(history=0)
