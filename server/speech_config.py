"""A project's ``speech_config``: what it may say, its defaults, and the checked result.

Split from `server.project` (which validates the whole configuration) so the
speech keys, which grow with every speech feature (remote engines, turn
detection), have one room of their own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.config_check import Checker
from server.speech import defaults as speech_defaults

SAMPLE_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
ASR_ENGINES = ("whisper", "openai")
TTS_ENGINES = ("piper", "openai", "none")
TURN_MODES = ("smart", "silence")  # see server/speech/end_of_turn.py
# engine "openai": an OpenAI-compatible /v1/audio endpoint; these defaults are OpenAI's names
REMOTE_ASR_MODEL, REMOTE_TTS_MODEL, REMOTE_VOICE = "whisper-1", "tts-1", "alloy"


@dataclass(frozen=True, slots=True)
class SpeechSpec:
    sample_rate: int = speech_defaults.SAMPLE_RATE
    asr_engine: str = speech_defaults.ASR_ENGINE
    asr_model: str = speech_defaults.ASR_MODEL
    asr_language: str = speech_defaults.ASR_LANGUAGE
    tts_engine: str = speech_defaults.TTS_ENGINE
    tts_voice: str = speech_defaults.TTS_VOICE
    tts_speed: float = speech_defaults.TTS_SPEED
    silence_ms: int = speech_defaults.SILENCE_MS  # smart mode: the upper limit
    barge_in: bool = False
    min_speech_ms: int = speech_defaults.MIN_SPEECH_MS
    turn_mode: str = speech_defaults.TURN_MODE
    asr_endpoint: dict[str, Any] | None = None  # engine "openai": base_url, model, ...
    tts_endpoint: dict[str, Any] | None = None

    @property
    def speaks(self) -> bool:
        return self.tts_engine != "none"


def _check_audio_endpoint(
    check: Checker, section: dict[str, Any], path: str, default_model: str
) -> dict[str, Any]:
    """Where an ``openai`` speech engine sends audio: base_url, model, api_key_env, timeout_s."""
    endpoint = {
        key: check.text(section.get(key), f"{path}.{key}", required=False, default=default)
        for key, default in (("base_url", "http://127.0.0.1:8000/v1"), ("api_key_env", ""))
    }
    endpoint["model"] = check.text(
        section.get("model"), f"{path}.model", required=False, default=default_model
    )
    endpoint["timeout_s"] = check.number(
        section.get("timeout_s"), f"{path}.timeout_s", 30, 0.1, 600, integer=False
    )
    return endpoint


def check_speech(check: Checker, value: Any) -> SpeechSpec:
    sc = check.mapping(value, "speech_config", required=False)
    if "sample_rate" in sc and sc["sample_rate"] not in SAMPLE_RATES:
        check.fail(
            "speech_config.sample_rate",
            f"unsupported sample rate {sc['sample_rate']!r}; supported: "
            + ", ".join(str(r) for r in SAMPLE_RATES),
        )
    asr = check.mapping(sc.get("asr"), "speech_config.asr", required=False)
    tts = check.mapping(sc.get("tts"), "speech_config.tts", required=False)
    turns = check.mapping(sc.get("turn_detection"), "speech_config.turn_detection", required=False)
    barge_in = turns.get("barge_in", False)
    if not isinstance(barge_in, bool):
        check.fail(
            "speech_config.turn_detection.barge_in", f"must be true or false, not {barge_in!r}"
        )
        barge_in = False
    defaults = SpeechSpec()
    rate = sc.get("sample_rate")
    at = "speech_config."
    remote_asr, remote_tts = asr.get("engine") == "openai", tts.get("engine") == "openai"
    turn_mode = check.choice(
        turns.get("mode"), at + "turn_detection.mode", defaults.turn_mode, TURN_MODES
    )
    return SpeechSpec(
        sample_rate=rate if rate in SAMPLE_RATES else defaults.sample_rate,
        asr_engine=check.choice(
            asr.get("engine"), at + "asr.engine", defaults.asr_engine, ASR_ENGINES
        ),
        asr_model=check.text(
            asr.get("model"),
            at + "asr.model",
            required=False,
            default=REMOTE_ASR_MODEL if remote_asr else defaults.asr_model,
        ),
        asr_language=check.text(
            asr.get("language"), at + "asr.language", required=False, default=defaults.asr_language
        ),
        tts_engine=check.choice(
            tts.get("engine"), at + "tts.engine", defaults.tts_engine, TTS_ENGINES
        ),
        tts_voice=check.text(
            tts.get("voice"),
            at + "tts.voice",
            required=False,
            default=REMOTE_VOICE if remote_tts else defaults.tts_voice,
        ),
        tts_speed=check.number(
            tts.get("speed"), at + "tts.speed", defaults.tts_speed, 0.25, 4.0, integer=False
        ),
        silence_ms=check.number(
            turns.get("silence_ms"),
            at + "turn_detection.silence_ms",
            speech_defaults.SMART_LIMIT_MS if turn_mode == "smart" else defaults.silence_ms,
            100,
            5000,
            integer=True,
        ),
        barge_in=barge_in,
        asr_endpoint=_check_audio_endpoint(check, asr, "speech_config.asr", REMOTE_ASR_MODEL)
        if remote_asr
        else None,
        tts_endpoint=_check_audio_endpoint(check, tts, "speech_config.tts", REMOTE_TTS_MODEL)
        if remote_tts
        else None,
        min_speech_ms=check.number(
            turns.get("min_speech_ms"),
            at + "turn_detection.min_speech_ms",
            defaults.min_speech_ms,
            50,
            3000,
            integer=True,
        ),
        turn_mode=turn_mode,
    )
