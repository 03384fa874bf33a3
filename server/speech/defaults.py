"""The speech defaults, written once: a project's `SpeechSpec` and the model registry use them."""

from __future__ import annotations

SAMPLE_RATE = 16000
ASR_ENGINE = "whisper"
ASR_MODEL = "tiny.en"
ASR_LANGUAGE = "en"
TTS_ENGINE = "piper"
TTS_VOICE = "en_US-joe-medium"
TTS_SPEED = 1.0
SILENCE_MS = 600  # silence mode: the silence that ends a turn
TURN_MODE = "smart"  # see server/speech/end_of_turn.py
SMART_LIMIT_MS = 2000  # smart mode: the longest silence a turn is kept open for
MIN_SPEECH_MS = 300
