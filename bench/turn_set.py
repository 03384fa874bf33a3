"""The turn set for `bench.turns`: spoken questions, half of them with a pause mid-sentence.

Two synthetic voices at several speeds: Piper (the bundled voice, without
sampling noise so a run is repeatable) and espeak-ng (a different synthesiser,
so the detector is not tuned to one voice). Each recording is put in a simulated
room: sox's reverberation, then a steady noise bed (sox pink noise) under
everything, including the pause and the silence after the speech.
"""

from __future__ import annotations

import functools
import io
import subprocess
import wave
from dataclasses import dataclass

import numpy as np

from server.speech.pcm import float_to_pcm16, pcm16_to_float, resample

RATE = 16000
VOICED = 0.02  # a sample this loud (of full scale) is speech, for the end-of-speech mark
NOISE_RMS = 0.004  # room noise, about 28 dB under the speech
LEAD_S = 0.3

COMPLETE = (
    "What time does the pool open?",
    "Is breakfast included in my room rate?",
    "Can you recommend a good restaurant nearby?",
    "How far is the airport from here?",
    "What is the weather like tomorrow?",
    "I need a taxi to the train station.",
    "Please turn off the lights in the kitchen.",
    "Set a timer for ten minutes.",
    "What is the capital of Australia?",
    "Tell me a joke about cats.",
    "How many ounces are in a pound?",
    "Book a table for two at seven tonight.",
    "Remind me to call my mother tomorrow.",
    "Which platform does the next train leave from?",
    "Could you read me today's headlines?",
)
# (before the pause, after it): numbers read out, lists, hesitations, "let me think".
PAUSED = (
    ("My phone number is five five five", "one two three four."),
    ("The confirmation code is seven three nine", "two eight one."),
    ("I'd like, um,", "the second option please."),
    ("I want to buy apples, bananas and", "some bread."),
    ("Let me think", "I guess the blue one."),
    ("Can you book me a flight to", "Chicago on Friday?"),
    ("My card ends in four four", "nine one."),
    ("I'm looking for a hotel with", "a swimming pool and free parking."),
    ("The meeting is on", "Tuesday at three."),
    ("Add milk, eggs,", "and butter to my list."),
    ("What I really want to know is", "when the store closes."),
    ("Please send the report to", "John and Mary."),
    ("Uh, how about", "something Italian tonight?"),
    ("My address is twenty two", "Baker Street."),
    ("I need the, uh,", "the number for room service."),
)
PAUSES_MS = (400, 600, 800, 1000, 1200, 1500)
PIPER_SPEEDS = (0.9, 1.0, 1.15)
ESPEAK_WPM = (150, 175, 200)


@dataclass(frozen=True, slots=True)
class Utterance:
    """One recording: PCM16 at `RATE`, and when (seconds into it) things happen."""

    name: str
    text: str
    pcm: bytes
    speech_end_s: float  # the last voiced sample
    pause_ms: int  # 0 for a complete utterance
    resume_s: float  # where speech resumes after the pause (0 if none)
    second_part: str  # words after the pause ("" if none)


def espeak(text: str, wpm: int) -> np.ndarray:
    raw = subprocess.run(
        ["espeak-ng", "--stdout", "-v", "en-us", "-s", str(wpm), text],
        check=True,
        capture_output=True,
    ).stdout
    with wave.open(io.BytesIO(raw)) as wav:
        rate = wav.getframerate()
        pcm = wav.readframes(wav.getnframes())
    return resample(pcm16_to_float(pcm), rate, RATE)


@functools.cache
def _piper(speed: float):  # type: ignore[no-untyped-def]
    from server.speech.tts import load_tts

    return load_tts(speed=speed, varied=False)


def piper(text: str, speed: float) -> np.ndarray:
    return pcm16_to_float(_piper(speed).synthesize(text, RATE))


def _trimmed(audio: np.ndarray) -> np.ndarray:
    voiced = np.flatnonzero(np.abs(audio) > VOICED)
    return audio[voiced[0] : voiced[-1] + 1] if voiced.size else audio


def reverberate(audio: np.ndarray) -> np.ndarray:
    """A small room: sox's reverb (reverberance 40 %, damping 50 %, room scale 40 %)."""
    out = subprocess.run(
        ["sox", "-t", "raw", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", "-",
         "-t", "raw", "-", "reverb", "40", "50", "40"],
        input=float_to_pcm16(audio),
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    return pcm16_to_float(out)


@functools.cache
def noise_bed(seconds: int = 30) -> np.ndarray:
    raw = subprocess.run(
        ["sox", "-n", "-r", str(RATE), "-e", "signed", "-b", "16", "-c", "1", "-t", "raw", "-",
         "synth", str(seconds), "pinknoise"],
        check=True,
        capture_output=True,
    ).stdout  # fmt: skip
    bed = pcm16_to_float(raw)
    return bed * (NOISE_RMS / float(np.sqrt(np.mean(bed**2))))


def room_noise(samples: int, offset: int = 0) -> np.ndarray:
    """The noise bed from ``offset`` on, looped to ``samples``."""
    bed = noise_bed()
    index = (np.arange(samples) + offset) % bed.size
    return bed[index]


def _in_room(parts: list[np.ndarray], pause_ms: int) -> tuple[np.ndarray, float, float]:
    """(audio, speech end s, resume s): lead silence, the parts with the pause, in the room."""
    lead = np.zeros(int(LEAD_S * RATE), dtype=np.float32)
    gap = np.zeros(int(pause_ms * RATE / 1000), dtype=np.float32)
    dry = [lead, parts[0]]
    resume_s = 0.0
    if len(parts) > 1:
        resume_s = (lead.size + parts[0].size + gap.size) / RATE
        dry += [gap, parts[1]]
    dry_audio = np.concatenate(dry)
    speech_end_s = dry_audio.size / RATE
    wet = reverberate(dry_audio)
    return wet + room_noise(wet.size), speech_end_s, resume_s


def build() -> list[Utterance]:
    """The whole set, kinds and voices interleaved (a cut-short run stays balanced)."""
    groups = [[u for u in _all() if u.name.startswith(kind)] for kind in _KINDS]
    return [u for row in zip(*groups, strict=True) for u in row]


_KINDS = ("complete-piper", "paused-piper", "complete-espeak", "paused-espeak")


def _all() -> list[Utterance]:
    """Every text in both voices, speeds and pauses cycling."""
    voices = [("piper", s) for s in PIPER_SPEEDS] + [("espeak", w) for w in ESPEAK_WPM]
    utterances = []
    for voice_index, family in enumerate(("piper", "espeak")):
        for i, text in enumerate(COMPLETE):
            _, speed = voices[voice_index * 3 + i % 3]
            speak = piper if family == "piper" else espeak
            audio, end_s, _ = _in_room([_trimmed(speak(text, speed))], 0)
            name = f"complete-{family}-{i:02d}"
            utterances.append(Utterance(name, text, float_to_pcm16(audio), end_s, 0, 0.0, ""))
        for i, (first, second) in enumerate(PAUSED):
            _, speed = voices[voice_index * 3 + (i + 1) % 3]
            speak = piper if family == "piper" else espeak
            pause = PAUSES_MS[(i + voice_index) % len(PAUSES_MS)]
            parts = [_trimmed(speak(first, speed)), _trimmed(speak(second, speed))]
            audio, end_s, resume_s = _in_room(parts, pause)
            utterances.append(
                Utterance(
                    f"paused-{family}-{i:02d}",
                    f"{first} ... {second}",
                    float_to_pcm16(audio),
                    end_s,
                    pause,
                    resume_s,
                    second,
                )
            )
    return utterances
