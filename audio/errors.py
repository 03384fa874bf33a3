"""Errors the audio layer raises, each worded so the user knows what to do next."""

from __future__ import annotations


class AudioUnavailable(RuntimeError):
    """Real audio cannot be used: PortAudio is missing, or a device is absent or busy.

    The message names what is missing and how to fix it; the app shows it as is
    (or falls back to text mode), so it must make sense to a user, not a developer.
    """


class AudioFileError(ValueError):
    """A WAV file given as the microphone or speaker cannot be used; the message says why."""
