"""The level meter reads the audio actor's ring buffer on a timer."""

from __future__ import annotations

import numpy as np
from textual.app import App, ComposeResult

from audio import LevelMeter as LevelRing
from widgets.level_meter import MAX_REFRESH_HZ, LevelMeter


class MeterApp(App[None]):
    def __init__(self, meter: LevelMeter) -> None:
        super().__init__()
        self.meter = meter

    def compose(self) -> ComposeResult:
        yield self.meter


def _loud_block() -> np.ndarray:
    t = np.arange(320) / 16000
    return (np.sin(2 * np.pi * 440 * t) * 20000).astype(np.int16)


async def test_mic_level_and_waveform_follow_the_ring_buffer() -> None:
    ring = LevelRing()
    meter = LevelMeter(input_levels=ring.levels)
    async with MeterApp(meter).run_test(size=(60, 3)) as pilot:
        meter.mode = "mic"
        await pilot.pause(0.1)
        silent = meter.render().plain
        assert silent.startswith("mic")
        assert "█" not in silent  # nothing heard yet: empty bar, flat line
        for _ in range(10):
            ring.update(_loud_block())
        await pilot.pause(0.15)
        loud = meter.render().plain
        assert meter.level > 0.5
        assert "█" in loud  # the bar filled
        assert any(c in loud for c in "▅▆▇")  # and the waveform shows the blocks


async def test_idle_shows_no_level_even_with_audio_in_the_buffer() -> None:
    ring = LevelRing()
    ring.update(_loud_block())
    meter = LevelMeter(input_levels=ring.levels, output_levels=ring.levels)
    async with MeterApp(meter).run_test(size=(60, 3)) as pilot:
        await pilot.pause(0.1)
        assert meter.render().plain.startswith("idle")
        assert "█" not in meter.render().plain
        meter.mode = "speaker"
        await pilot.pause(0.1)
        assert meter.render().plain.startswith("out")
        assert "█" in meter.render().plain


async def test_the_buffer_is_polled_at_most_30_times_a_second() -> None:
    calls = 0

    def source() -> tuple[float, ...]:
        nonlocal calls
        calls += 1
        return (0.5,)

    meter = LevelMeter(input_levels=source, refresh_hz=1000)
    async with MeterApp(meter).run_test(size=(60, 3)) as pilot:
        meter.mode = "mic"
        calls = 0
        await pilot.pause(0.5)
    assert 0 < calls <= MAX_REFRESH_HZ * 0.5 + 2
