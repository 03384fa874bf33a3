"""The real sounddevice/PortAudio path, against ALSA devices defined by a config file.

PortAudio reads the ALSA configuration once, when sounddevice is imported, so
each case runs in a fresh interpreter with `ALSA_CONFIG_PATH` pointing at:
- `alsa_null.asoundrc`: one "default" device whose speaker discards audio and
  whose microphone reads /dev/zero (silence) — a stand-in sound card that
  needs no hardware and runs faster than real time;
- a config whose only device is a missing card: a machine with no sound device.
The script prints one JSON line of observations; the test asserts on them.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="drives ALSA's null device")

ROOT = Path(__file__).resolve().parents[1]
NULL_CONFIG = Path(__file__).with_name("alsa_null.asoundrc")

PRELUDE = """
import asyncio, json, math
import numpy as np
import audio

def sine_bytes(seconds, freq=1000.0, amplitude=0.5, rate=16000):
    t = np.arange(round(seconds * rate)) / rate
    return np.round(amplitude * 32767 * np.sin(2 * math.pi * freq * t)).astype("<i2").tobytes()

def report(**values):
    print(json.dumps(values))
"""


def run(script: str, alsa_config: Path, setup: str = "") -> dict:
    env = {**os.environ, "ALSA_CONFIG_PATH": str(alsa_config), "PYTHONPATH": str(ROOT)}
    code = textwrap.dedent(setup) + PRELUDE + textwrap.dedent(script)
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def no_device_config(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("alsa") / "no_device.asoundrc"
    path.write_text("pcm.!default { type hw card 99 }\n")
    return path


def test_playback_reaches_the_device_with_the_right_levels() -> None:
    seen = run(
        """
        async def main():
            states, stopped = [], asyncio.Event()
            def on_state(sounding):
                states.append(sounding)
                if not sounding:
                    stopped.set()
            backend = audio.open_backend()
            async with audio.AudioActor(backend, on_playback_state=on_state) as actor:
                actor.play(sine_bytes(1.0, amplitude=0.5))
                await asyncio.wait_for(actor.wait_played(), 10)
                snap = actor.output_levels.snapshot()
                await asyncio.wait_for(stopped.wait(), 10)
                report(description=actor.description, played=actor.samples_played,
                       playing=actor.is_playing, rms=snap.rms_dbfs, peak=snap.peak_dbfs,
                       wave=max(snap.waveform), states=states)
        asyncio.run(main())
        """,
        NULL_CONFIG,
    )
    assert seen["description"] == "default (ALSA)"
    assert seen["played"] == 16000
    assert not seen["playing"]
    assert seen["rms"] == pytest.approx(20 * math.log10(0.5 / math.sqrt(2)), abs=1.0)
    assert seen["peak"] == pytest.approx(20 * math.log10(0.5), abs=1.0)
    assert seen["wave"] > 0.8
    assert seen["states"] == [True, False]


def test_played_audio_reaches_the_device_byte_for_byte(tmp_path: Path) -> None:
    recording = tmp_path / "speaker.raw"
    config = tmp_path / "recording.asoundrc"
    config.write_text(NULL_CONFIG.read_text().replace('file "/dev/null"', f'file "{recording}"'))
    seen = run(
        """
        async def main():
            async with audio.AudioActor(audio.open_backend()) as actor:
                actor.play(sine_bytes(0.5, freq=440.0))
                await asyncio.wait_for(actor.wait_played(), 10)
        asyncio.run(main())
        report(sent=sine_bytes(0.5, freq=440.0).hex())
        """,
        config,
    )
    sent = bytes.fromhex(seen["sent"])
    heard = recording.read_bytes()  # PCM16 mono as the device got it, silence around it
    start = heard.find(sent[2:202]) - 2
    assert start >= 0
    assert heard[start : start + len(sent)] == sent


def test_drop_playback_empties_the_device_queue_at_once() -> None:
    seen = run(
        """
        async def main():
            async with audio.AudioActor(audio.open_backend()) as actor:
                queued = sine_bytes(600.0)  # ten minutes: far more than plays before the drop
                actor.play(queued)
                dropped = actor.drop_playback()
                playing = actor.is_playing
                played = actor.samples_played
                await asyncio.wait_for(actor.wait_played(), 2)
                await asyncio.sleep(0.2)
                report(queued=len(queued), dropped=dropped, playing=playing,
                       played=played, played_later=actor.samples_played)
        asyncio.run(main())
        """,
        NULL_CONFIG,
    )
    assert seen["dropped"] > 0
    assert not seen["playing"]
    assert seen["dropped"] + 2 * seen["played"] == seen["queued"]
    assert seen["played_later"] == seen["played"]


def test_capture_yields_silence_frames_from_the_device() -> None:
    seen = run(
        """
        async def main():
            async with audio.AudioActor(audio.open_backend(), frame_ms=20) as actor:
                await actor.start_capture()
                chunks = [await asyncio.wait_for(actor.read(), 5) for _ in range(10)]
                snap = actor.input_levels.snapshot()
                capturing = actor.is_capturing
                await actor.stop_capture()
                while await asyncio.wait_for(actor.read(), 5):
                    pass
                report(sizes=sorted({len(c) for c in chunks}),
                       silent=all(c == bytes(len(c)) for c in chunks),
                       capturing=capturing, active=snap.active, rms=snap.rms_dbfs,
                       after_stop=actor.is_capturing)
        asyncio.run(main())
        """,
        NULL_CONFIG,
    )
    assert seen["sizes"] == [640]
    assert seen["silent"]
    assert seen["capturing"] and seen["active"]
    assert seen["rms"] == -100.0
    assert not seen["after_stop"]


def test_probe_says_real_audio_works_when_devices_exist() -> None:
    seen = run("report(reason=audio.probe_audio())", NULL_CONFIG)
    assert seen["reason"] is None


def test_an_unknown_device_name_lists_the_available_ones() -> None:
    seen = run(
        """
        try:
            audio.open_backend(input_device="USB headset")
        except audio.AudioUnavailable as exc:
            report(error=str(exc))
        """,
        NULL_CONFIG,
    )
    assert "input (microphone) device 'USB headset' not found" in seen["error"]
    assert "available: 0: default" in seen["error"]
    assert "--input-device/--output-device" in seen["error"]


def test_no_sound_device_is_reported_when_audio_is_first_needed(no_device_config: Path) -> None:
    seen = run(
        """
        backend = audio.open_backend()  # fine: nothing is opened yet
        async def main():
            async with audio.AudioActor(backend):
                pass
        try:
            asyncio.run(main())
        except audio.AudioUnavailable as exc:
            report(error=str(exc), probe=audio.probe_audio())
        """,
        no_device_config,
    )
    assert seen["error"].startswith("no sound output (speaker) device found")
    assert "--input-device/--output-device" in seen["error"]
    assert seen["probe"].startswith("no sound input (microphone) device found")


def test_missing_portaudio_is_explained_only_when_audio_is_needed() -> None:
    hide_portaudio = """
    import ctypes.util
    _find = ctypes.util.find_library
    ctypes.util.find_library = lambda name: None if "portaudio" in name else _find(name)
    """
    seen = run(
        """
        async def headless():  # the null backend still works without PortAudio
            async with audio.AudioActor(audio.NullBackend(realtime=False)) as actor:
                actor.play(sine_bytes(0.1))
                await actor.wait_played()
                return actor.samples_played
        played = asyncio.run(headless())
        try:
            audio.open_backend()
        except audio.AudioUnavailable as exc:
            report(error=str(exc), probe=audio.probe_audio(), played=played)
        """,
        NULL_CONFIG,
        setup=hide_portaudio,
    )
    assert "PortAudio library is missing" in seen["error"]
    assert "apt-get install libportaudio2" in seen["error"]
    assert seen["probe"] == seen["error"]
    assert seen["played"] == 1600
