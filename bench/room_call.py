"""One hands-free turn in the simulated room, over the real wire protocol.

The client is the real audio actor on a `RoomBackend`: it plays the engine's
audio into the room, and sends the room's microphone back as
`input_audio_buffer.append`, in real time. With `client_aec` it cleans the
microphone first and reports `playback.started/stopped`, as our SDK does;
without, it sends the raw microphone and no playback events, as the published
AI Refinery SDK's `listen_and_respond` does. The assistant reads a long answer
(`input_text` to the echo LLM); a scripted user stays silent, says a
backchannel, or truly interrupts. Shared by the tests and `bench.room`.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from audio import AudioActor
from bench.common import TimedPeer
from bench.room_sim import EchoSetting, RoomBackend

RATE = 16000
USER_AFTER_S = 3.0  # the user speaks this long after the assistant's first audio


@dataclass(frozen=True, slots=True)
class TurnResult:
    kind: str  # "silent", "backchannel" or "interrupt"
    assistant_s: float  # assistant audio the room heard before the turn ended
    interrupted: bool
    onset_to_interrupt_s: float | None  # user speech onset to response.interrupted


def voice_project(barge_in: bool = True) -> dict[str, Any]:
    """One echo-LLM agent that reads the query back aloud, with barge-in."""
    return {
        "orchestrator": {"agent_list": [{"agent_name": "Assistant"}]},
        "utility_agents": [
            {
                "agent_class": "LLMAgent",
                "agent_name": "Assistant",
                "agent_description": "Reads the text back.",
                "config": {},
            }
        ],
        "base_config": {"llm_config": {"provider": "echo"}},
        "speech_config": {
            "sample_rate": RATE,
            "tts": {"engine": "piper"},
            "turn_detection": {"silence_ms": 600, "barge_in": barge_in},
        },
    }


async def room_turn(
    url: str,
    setting: EchoSetting,
    answer: str,
    kind: str,
    user: np.ndarray | None,
    *,
    client_aec: bool,
    seed: int = 0,
    timeout: float = 120.0,
) -> TurnResult:
    """Run one turn; `user` (PCM16 at 16 kHz) is spoken USER_AFTER_S into the answer."""
    room = RoomBackend(setting, realtime=True, seed=seed)
    playback_events: asyncio.Queue[bool] = asyncio.Queue()
    actor = AudioActor(
        room,
        RATE,
        echo_cancellation=client_aec,
        on_playback_state=playback_events.put_nowait if client_aec else None,
    )
    async with TimedPeer.open(url) as peer, actor:
        await actor.start_capture()
        senders = [
            asyncio.create_task(_send_microphone(peer, actor)),
            asyncio.create_task(_send_playback_events(peer, playback_events)),
        ]
        try:
            await peer.send({"type": "input_text", "text": answer})
            speech = None
            interrupted_at = None
            deadline = time.monotonic() + timeout
            while True:
                at, frame = await peer.recv(max(0.1, deadline - time.monotonic()))
                kind_of = frame.get("type")
                if kind_of == "response.audio.delta":
                    actor.play(base64.b64decode(frame["audio"]))
                    if speech is None and user is not None:
                        speech = room.say(user, after_s=USER_AFTER_S)
                elif kind_of == "response.interrupted":
                    interrupted_at = at
                    actor.drop_playback()
                elif kind_of == "response.done":
                    break
            assistant_s = actor.samples_played / RATE
        finally:
            for task in senders:
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.gather(*senders, return_exceptions=True)
    onset = speech.onset_at if speech is not None else None
    latency = None
    if interrupted_at is not None and onset is not None and interrupted_at > onset:
        latency = interrupted_at - onset
    return TurnResult(kind, assistant_s, interrupted_at is not None, latency)


async def _send_microphone(peer: TimedPeer, actor: AudioActor) -> None:
    async for chunk in actor.frames():
        audio = base64.b64encode(chunk).decode()
        await peer.send({"type": "input_audio_buffer.append", "audio": audio})


async def _send_playback_events(peer: TimedPeer, states: asyncio.Queue[bool]) -> None:
    while True:
        sounding = await states.get()
        await peer.send({"type": "playback.started" if sounding else "playback.stopped"})
