"""Choosing a backend from CLI/config settings, and checking whether real audio works."""

from __future__ import annotations

from pathlib import Path

from audio.backend import AudioBackend
from audio.errors import AudioUnavailable
from audio.null_backend import NullBackend
from audio.sounddevice_backend import Device, SoundDeviceBackend
from audio.wav_backend import WavFileBackend

BACKEND_KINDS = ("auto", "sounddevice", "null", "file")


def open_backend(
    kind: str = "auto",
    *,
    input_device: Device = None,
    output_device: Device = None,
    mic_file: str | Path | None = None,
    speaker_file: str | Path | None = None,
    realtime: bool = True,
) -> AudioBackend:
    """Build the backend the user asked for; errors name the problem.

    "auto": the WAV-file backend if a mic or speaker file is given, else the sound
    card (AudioUnavailable if PortAudio is missing or a named device is unknown);
    "sounddevice": the sound card; "null": silence in, nothing out; "file": WAV files
    (a missing side is silence/discarded). `realtime=False` lets null/file run as fast
    as the other side allows.
    """
    if kind not in BACKEND_KINDS:
        choices = ", ".join(BACKEND_KINDS)
        raise ValueError(f"unknown audio backend {kind!r}; choose one of {choices}")
    has_files = mic_file is not None or speaker_file is not None
    has_devices = input_device is not None or output_device is not None
    if kind == "auto":
        kind = "file" if has_files else "sounddevice"
    if kind == "file":
        if not has_files:
            raise ValueError("the 'file' audio backend needs a mic file, a speaker file or both")
        if has_devices:
            raise ValueError("input/output devices cannot be combined with mic/speaker files")
        return WavFileBackend(mic_file, speaker_file, realtime=realtime)
    if has_files:
        raise ValueError(f"mic/speaker files only apply to the 'file' backend, not {kind!r}")
    if kind == "null":
        if has_devices:
            raise ValueError("the 'null' audio backend takes no input/output device")
        return NullBackend(realtime=realtime)
    return SoundDeviceBackend(input_device, output_device)


def backend_from_spec(spec: str) -> AudioBackend:
    """``auto`` | ``sounddevice`` | ``null`` | ``file:<mic.wav>:<speaker.wav>`` -> a backend.

    The one syntax of ``--audio`` and ``DISTILLER_AUDIO``. Either file may be left
    empty (``file::answer.wav`` = silent mic, answer recorded).
    """
    if not isinstance(spec, str) or not spec.strip():
        raise ValueError("audio backend spec is empty; use auto, null or file:MIC.wav:SPEAKER.wav")
    kind, _, files = spec.strip().partition(":")
    if kind != "file":
        if files:
            raise ValueError(f"audio backend {spec!r}: only 'file' takes paths after ':'")
        return open_backend(kind)
    mic, sep, speaker = files.partition(":")
    if not sep or ":" in speaker:
        raise ValueError(
            f"audio backend {spec!r} must look like file:MIC.wav:SPEAKER.wav "
            "(either path may be empty)"
        )
    return open_backend("file", mic_file=mic or None, speaker_file=speaker or None)


def probe_audio(input_device: Device = None, output_device: Device = None) -> str | None:
    """None if a real microphone and speaker are usable, else the reason, for a text-only mode.

    Blocking (PortAudio enumerates devices): call it off the event loop.
    """
    try:
        SoundDeviceBackend(input_device, output_device).check()
    except AudioUnavailable as exc:
        return str(exc)
    return None
