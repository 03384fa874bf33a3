"""Hands-free in the simulated room, against the real server with real models.

The client is the real audio actor on a simulated sound card in a room
(bench/room_call.py): the assistant's speech comes back into its microphone
through an echo path with reverberation and noise. With the client's echo
cancellation on, that echo never reaches the engine as speech. The cases that
still miss their targets (a raw microphone relying on the experimental server
canceller, true barge-ins by a second voice) are measured by bench/room.py.
"""

from __future__ import annotations

import pytest

from app.engine import EngineProcess
from bench.common import create_project, ws_url
from bench.room_call import room_turn, voice_project
from bench.room_sim import EchoSetting

ANSWER = (
    "The quarterly report shows that revenue grew by twelve percent while costs stayed flat. "
    "We expect the trend to continue into next year, with new markets opening in Asia and "
    "Europe. The board will meet again in March to review the plan and the hiring budget."
)


@pytest.fixture(scope="module")
def room_url(speech_server: EngineProcess):  # type: ignore[no-untyped-def]
    create_project(speech_server, "room", voice_project())
    return lambda: ws_url(speech_server, "room")


async def test_with_client_echo_cancellation_the_assistants_own_echo_does_not_interrupt_it(
    room_url,
) -> None:
    """The echo comes back as loud as the assistant spoke it (0 dB, 120 ms, reverberant)."""
    result = await room_turn(
        room_url(), EchoSetting(120, 0.0), ANSWER, "silent", None, client_aec=True
    )
    assert result.assistant_s > 8.0  # it spoke the whole answer, echo and all
    assert not result.interrupted
