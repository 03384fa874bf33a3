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
from bench.room import INTERRUPTIONS
from bench.room_call import RATE, USER_AFTER_S, room_turn, voice_project
from bench.room_replay import fire_time, room_signals
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


# The signal path alone, offline (bench/room_replay.py): the server's canceller, turn
# detector and barge-in policy on a raw microphone, 20 ms chunk by chunk, no server.


@pytest.fixture(scope="module")
def vad():  # type: ignore[no-untyped-def]
    from server.speech.vad import load_vad

    return load_vad()


@MODES
async def test_a_user_talking_over_an_echo_as_loud_as_himself_interrupts(vad, client_aec) -> None:
    """At 0 dB echo AEC3's suppressor took the user out; a linear canceller keeps him:
    ahead of AEC3 on the client (audio/linear_echo.py), beside it on the server
    (server/speech/echo.py, for a raw microphone)."""
    setting = EchoSetting(200, 0.0)
    fired = []
    for case, text in enumerate(INTERRUPTIONS):
        mic, played = room_signals(setting, case, espeak(text, RATE))
        fired.append(await fire_time(mic, played, client_aec, vad))
    # Before, AEC3 alone: 2 of 6 on a raw microphone (bench.room_replay). Now about 1 in
    # 25 is still missed (Piper's voice varies from run to run), so one miss is allowed.
    heard = [at for at in fired if at is not None]
    assert len(heard) >= len(INTERRUPTIONS) - 1, fired
    assert all(at > USER_AFTER_S for at in heard)  # after the user began, not on our echo


BACKCHANNEL_DRAWS = 3


@MODES
@pytest.mark.parametrize("backchannel", [None, "uh-huh", "mm-hmm", "okay"])
async def test_neither_our_loud_echo_nor_a_backchannel_interrupts(
    vad, client_aec, backchannel
) -> None:
    user = espeak(backchannel, RATE) if backchannel else None
    for setting in (EchoSetting(200, 0.0), EchoSetting(120, -12.0)):
        fired = []
        for case in range(BACKCHANNEL_DRAWS):  # three answers, each voiced afresh by Piper
            mic, played = room_signals(setting, case, user)
            fired.append(await fire_time(mic, played, client_aec, vad))
        interruptions = sum(at is not None for at in fired)
        if backchannel is None:
            assert interruptions == 0, (setting.label, fired)  # our echo alone: never
        else:
            # "mm-hmm" is ~700 ms of speech against the 800 ms rule: on a raw microphone it
            # interrupted 1 answer in ~25 (CI, 2026-11-26); never more than 1 in 3.
            assert interruptions <= 1, (setting.label, fired)
