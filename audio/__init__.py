"""Audio I/O for Realtime Distiller: one actor owns the microphone and the speaker.

Importing this package never loads PortAudio; that happens when real audio is
first needed, and a missing library or device raises `AudioUnavailable`
explaining what to do. See docs/audio.md.
"""

from audio.actor import AudioActor, PlaybackStateCallback
from audio.backend import AudioBackend, InputSink, OpenedStream, OutputSource, StreamFormat
from audio.errors import AudioFileError, AudioUnavailable
from audio.factory import BACKEND_KINDS, backend_from_spec, open_backend, probe_audio
from audio.levels import LevelMeter, LevelSnapshot
from audio.null_backend import NullBackend
from audio.sounddevice_backend import DeviceInfo, SoundDeviceBackend, list_devices
from audio.wav_backend import WavFileBackend, read_wav_mono

__all__ = [
    "BACKEND_KINDS",
    "AudioActor",
    "AudioBackend",
    "AudioFileError",
    "AudioUnavailable",
    "DeviceInfo",
    "InputSink",
    "LevelMeter",
    "LevelSnapshot",
    "NullBackend",
    "OpenedStream",
    "OutputSource",
    "PlaybackStateCallback",
    "SoundDeviceBackend",
    "StreamFormat",
    "WavFileBackend",
    "backend_from_spec",
    "list_devices",
    "open_backend",
    "probe_audio",
    "read_wav_mono",
]
