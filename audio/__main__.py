"""`python -m audio`: list sound devices, or say why real audio is unavailable."""

from __future__ import annotations

import sys

from audio.errors import AudioUnavailable
from audio.factory import probe_audio
from audio.sounddevice_backend import list_devices


def main() -> int:
    try:
        devices = list_devices()
    except AudioUnavailable as exc:
        print(f"audio unavailable: {exc}", file=sys.stderr)
        return 1
    for d in devices:
        marks = ("<" if d.is_default_input else " ") + (">" if d.is_default_output else " ")
        print(
            f"{marks} {d.index:3d} {d.name} ({d.host_api}, "
            f"{d.max_input_channels} in, {d.max_output_channels} out, "
            f"{d.default_sample_rate:g} Hz)"
        )
    if not devices:
        print("no sound devices found")
    reason = probe_audio()
    if reason is not None:
        print(f"audio unavailable: {reason}", file=sys.stderr)
        return 1
    print("default input <, default output >: real audio works")
    return 0


if __name__ == "__main__":
    sys.exit(main())
