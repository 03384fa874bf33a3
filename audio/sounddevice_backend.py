"""The real sound card, through sounddevice/PortAudio.

sounddevice is imported only when real audio is first needed, so `import audio`
works on machines without PortAudio, and the missing library turns into an
`AudioUnavailable` that tells the user what to install.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal

from audio.backend import AudioBackend, InputSink, OpenedStream, OutputSource, StreamFormat
from audio.errors import AudioUnavailable

Kind = Literal["input", "output"]
Device = int | str | None
"""A PortAudio device index, a (part of a) device name, or None for the system default."""

PORTAUDIO_HINT = (
    "install it with `sudo apt-get install libportaudio2` (Debian/Ubuntu), "
    "`sudo dnf install portaudio` (Fedora) or `brew install portaudio` (macOS)"
)
DEVICE_HINT = (
    "pick a device with --input-device/--output-device or in the config file "
    "(`python -m audio` lists them)"
)
_WHAT = {"input": "input (microphone)", "output": "output (speaker)"}


def load_sounddevice() -> ModuleType:
    """Import sounddevice, turning a missing PortAudio into an actionable AudioUnavailable."""
    try:
        import sounddevice
    except OSError as exc:
        raise AudioUnavailable(
            f"the PortAudio library is missing (sounddevice: {exc}); {PORTAUDIO_HINT}"
        ) from exc
    except ImportError as exc:
        raise AudioUnavailable(
            f"the sounddevice package is not installed ({exc}); run `pip install sounddevice`"
        ) from exc
    return sounddevice


def parse_device(device: Device) -> Device:
    """CLI/config values: "3" means device index 3, any other text a name to match."""
    if isinstance(device, str):
        text = device.strip()
        if not text:
            return None
        return int(text) if text.isdigit() else text
    return device


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """One PortAudio device, for `--input-device/--output-device` and device pickers."""

    index: int
    name: str
    host_api: str
    max_input_channels: int
    max_output_channels: int
    default_sample_rate: float
    is_default_input: bool
    is_default_output: bool


def list_devices() -> list[DeviceInfo]:
    """Every device PortAudio sees (blocking: call it off the event loop)."""
    sd = load_sounddevice()
    default_in, default_out = sd.default.device
    apis = sd.query_hostapis()
    return [
        DeviceInfo(
            index=d["index"],
            name=d["name"],
            host_api=apis[d["hostapi"]]["name"],
            max_input_channels=d["max_input_channels"],
            max_output_channels=d["max_output_channels"],
            default_sample_rate=d["default_samplerate"],
            is_default_input=d["index"] == default_in,
            is_default_output=d["index"] == default_out,
        )
        for d in sd.query_devices()
    ]


class SoundDeviceBackend(AudioBackend):
    """PCM16 mono streams on PortAudio; callbacks only hand samples to the actor's queues."""

    def __init__(self, input_device: Device = None, output_device: Device = None) -> None:
        self._sd = load_sounddevice()
        self.input_device = parse_device(input_device)
        self.output_device = parse_device(output_device)
        # Named devices are checked now, so a typo fails at startup, not mid-conversation.
        in_name = out_name = None
        if self.input_device is not None:
            in_name = self._resolve(self.input_device, "input")["name"]
        if self.output_device is not None:
            out_name = self._resolve(self.output_device, "output")["name"]
        host_api = self._sd.query_hostapis(self._sd.default.hostapi)["name"]
        if in_name is None and out_name is None:
            self._description = f"default ({host_api})"
        else:
            self._description = f"{in_name or 'default'} -> {out_name or 'default'} ({host_api})"
        self._streams: dict[Kind, Any] = {}
        self.input_overflows = 0
        self.output_underflows = 0

    @property
    def description(self) -> str:
        return self._description

    def check(self) -> None:
        """Raise AudioUnavailable unless both a microphone and a speaker are usable."""
        self._resolve(self.input_device, "input")
        self._resolve(self.output_device, "output")

    # devices -----------------------------------------------------------------

    def _available(self, kind: Kind) -> str:
        names = [
            f"{d['index']}: {d['name']}"
            for d in self._sd.query_devices()
            if d[f"max_{kind}_channels"] > 0
        ]
        return "; ".join(names) if names else "none"

    def _resolve(self, device: Device, kind: Kind) -> dict[str, Any]:
        sd = self._sd
        try:
            return dict(sd.query_devices(device, kind=kind))
        except ValueError as exc:
            raise AudioUnavailable(
                f"{_WHAT[kind]} device {device!r} not found ({exc}); "
                f"available: {self._available(kind)}; {DEVICE_HINT}"
            ) from exc
        except sd.PortAudioError as exc:
            if device is None:
                raise AudioUnavailable(
                    f"no sound {_WHAT[kind]} device found (PortAudio: {exc}); connect one, "
                    f"make sure your user may use audio (PulseAudio/PipeWire running, group "
                    f"`audio`), or {DEVICE_HINT}"
                ) from exc
            raise AudioUnavailable(
                f"{_WHAT[kind]} device {device!r} cannot be used ({exc}); "
                f"available: {self._available(kind)}; {DEVICE_HINT}"
            ) from exc

    def _pick_rate(self, info: dict[str, Any], kind: Kind, wanted: int) -> int:
        """The session rate if the device takes it, else its native rate (the actor resamples)."""
        sd = self._sd
        check = sd.check_input_settings if kind == "input" else sd.check_output_settings
        last: Exception | None = None
        for rate in dict.fromkeys((wanted, int(info["default_samplerate"]))):
            try:
                check(device=info["index"], channels=1, dtype="int16", samplerate=rate)
                return rate
            except (sd.PortAudioError, ValueError) as exc:
                last = exc
        raise AudioUnavailable(
            f"{_WHAT[kind]} device {info['name']!r} cannot record/play 16-bit mono at "
            f"{wanted} Hz or its own rate ({last}); {DEVICE_HINT}"
        )

    def _open(self, kind: Kind, fmt: StreamFormat, callback: Any) -> OpenedStream:
        sd = self._sd
        self._close(kind)
        device = self.input_device if kind == "input" else self.output_device
        info = self._resolve(device, kind)
        rate = self._pick_rate(info, kind, fmt.sample_rate)
        stream_class = sd.InputStream if kind == "input" else sd.OutputStream
        try:
            stream = stream_class(
                device=info["index"],
                samplerate=rate,
                channels=1,
                dtype="int16",
                blocksize=fmt.block_samples(rate),
                callback=callback,
            )
            stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioUnavailable(
                f"cannot open the {_WHAT[kind]} device {info['name']!r} ({exc}); it may be in "
                f"use by another program; {DEVICE_HINT}"
            ) from exc
        self._streams[kind] = stream
        return OpenedStream(rate, float(stream.latency))

    def _close(self, kind: Kind) -> None:
        stream = self._streams.pop(kind, None)
        if stream is None:
            return
        try:
            stream.abort()
        finally:
            stream.close()

    # streams -----------------------------------------------------------------

    def open_output(self, fmt: StreamFormat, source: OutputSource) -> OpenedStream:
        def callback(outdata: Any, frames: int, time: Any, status: Any) -> None:
            # PortAudio's thread: no I/O, no waiting; pull() only copies queued samples.
            if status.output_underflow:
                self.output_underflows += 1
            source.pull(outdata[:, 0])

        return self._open("output", fmt, callback)

    def close_output(self) -> None:
        self._close("output")

    def open_input(self, fmt: StreamFormat, sink: InputSink) -> OpenedStream:
        def callback(indata: Any, frames: int, time: Any, status: Any) -> None:
            if status.input_overflow:
                self.input_overflows += 1
            sink.push(indata[:, 0])

        return self._open("input", fmt, callback)

    def close_input(self) -> None:
        self._close("input")
