"""Hands-free in the simulated room, against the real server with real models.

The client is the real audio actor on a simulated sound card in a room
(bench/room_call.py): the assistant's speech comes back into its microphone
through an echo path with reverberation and noise. Without client echo
cancellation it sends that raw microphone and no playback events, as the
published AI Refinery SDK does; the server must still know its own voice.
The interrupting user speaks with espeak-ng, a voice the engine never uses.
"""

from __future__ import annotations

import pytest

from app.engine import EngineProcess
from bench.common import create_project, ws_url
from bench.room_call import RATE, room_turn, voice_project
from bench.room_sim import EchoSetting, espeak

ANSWER = (
    "The quarterly report shows that revenue grew by twelve percent while costs stayed flat. "
    "We expect the trend to continue into next year, with new markets opening in Asia and "
    "Europe. The board will meet again in March to review the plan and the hiring budget."
)
INTERRUPTION = "Stop, what is the weather like in Paris tomorrow?"


@pytest.fixture(scope="module")
def room_url(speech_server: EngineProcess):  # type: ignore[no-untyped-def]
    create_project(speech_server, "room", voice_project())
    return lambda: ws_url(speech_server, "room")


@pytest.mark.parametrize(("client_aec", "gain_db"), [(False, 0.0), (False, -12.0), (True, 0.0)])
async def test_the_assistants_own_echo_does_not_interrupt_it(
    room_url, client_aec: bool, gain_db: float
) -> None:
    result = await room_turn(
        room_url(), EchoSetting(120, gain_db), ANSWER, "silent", None, client_aec=client_aec
    )
    assert result.assistant_s > 8.0  # it spoke the whole answer, echo and all
    assert not result.interrupted


async def test_a_backchannel_over_the_echo_does_not_interrupt_either(room_url) -> None:
    result = await room_turn(
        room_url(),
        EchoSetting(80, -6.0),
        ANSWER,
        "backchannel",
        espeak("uh-huh", RATE),
        client_aec=False,
    )
    assert not result.interrupted


@pytest.mark.parametrize("client_aec", [False, True])
async def test_a_user_talking_over_the_assistant_interrupts_it(room_url, client_aec: bool) -> None:
    user = espeak(INTERRUPTION, RATE)
    result = await room_turn(
        room_url(), EchoSetting(120, -6.0), ANSWER, "interrupt", user, client_aec=client_aec
    )
    assert result.interrupted
    assert result.onset_to_interrupt_s is not None and result.onset_to_interrupt_s > 0
    assert result.assistant_s < 12.0  # cut short
