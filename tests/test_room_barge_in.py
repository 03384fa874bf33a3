"""Hands-free in the simulated room, against the real server with real models.

The client is the real audio actor on a simulated sound card in a room
(bench/room_call.py): the assistant's speech comes back into its microphone
through an echo path with reverberation and noise. With the client's echo
cancellation on, that echo never reaches the engine as speech; without it the
client sends its raw microphone and no playback events (as the published AI
Refinery SDK does) and the server's own canceller must know its voice. The
interrupting user speaks with espeak-ng, a voice the engine never uses. Only
outcomes are asserted, never times: bench/room.py measures those.
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
MODES = pytest.mark.parametrize("client_aec", [True, False], ids=["client_aec", "raw_mic"])


@pytest.fixture(scope="module")
def room_url(speech_server: EngineProcess):  # type: ignore[no-untyped-def]
    create_project(speech_server, "room", voice_project())
    return lambda: ws_url(speech_server, "room")


@MODES
async def test_the_assistants_own_echo_does_not_interrupt_it(room_url, client_aec: bool) -> None:
    """The echo comes back 12 dB down, 120 ms late, reverberant, with noise."""
    result = await room_turn(
        room_url(), EchoSetting(120, -12.0), ANSWER, "silent", None, client_aec=client_aec
    )
    assert result.assistant_s > 8.0  # it spoke the whole answer, echo and all
    assert not result.interrupted


@MODES
async def test_a_user_talking_over_the_assistant_interrupts_it(room_url, client_aec: bool) -> None:
    user = espeak(INTERRUPTION, RATE)
    result = await room_turn(
        room_url(), EchoSetting(120, -12.0), ANSWER, "interrupt", user, client_aec=client_aec
    )
    assert result.interrupted
    # after the user started speaking, not before (that would be a false barge-in)
    assert result.onset_to_interrupt_s is not None
