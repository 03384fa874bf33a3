"""CancelOnKeypress on a real pseudo-terminal: SPACE fires, one press per arming, tty restored."""

from __future__ import annotations

import asyncio
import io
import os
import termios
import warnings
from collections.abc import Iterator

import pytest

from protocol import CancelOnKeypress, realtime_helper
from protocol.client import keypress


@pytest.fixture
def terminal() -> Iterator[tuple[int, io.TextIOWrapper]]:
    """(master fd to type into, the slave side opened as the program's terminal)."""
    master, slave = os.openpty()
    with os.fdopen(slave, "r") as tty_in:
        yield master, tty_in
    os.close(master)


async def test_space_sets_the_event_once_per_arming(
    terminal: tuple[int, io.TextIOWrapper],
) -> None:
    master, tty_in = terminal
    async with CancelOnKeypress(stream=tty_in) as cancel_event:
        os.write(master, b"xq\n")  # other keys do nothing
        await asyncio.sleep(0.3)
        assert not cancel_event.is_set()
        os.write(master, b" ")
        await asyncio.wait_for(cancel_event.wait(), 5)
        # A second press while the event is still set is not taken: the voice
        # methods clear the event at the next agent, which re-arms it.
        os.write(master, b" ")
        await asyncio.sleep(0.3)
        cancel_event.clear()
        await asyncio.wait_for(cancel_event.wait(), 5)  # the waiting press now counts


async def test_cbreak_while_inside_and_terminal_restored_after(
    terminal: tuple[int, io.TextIOWrapper],
) -> None:
    _, tty_in = terminal
    before = termios.tcgetattr(tty_in.fileno())
    assert before[3] & termios.ICANON and before[3] & termios.ECHO
    async with CancelOnKeypress(stream=tty_in):
        during = termios.tcgetattr(tty_in.fileno())
        assert not during[3] & termios.ICANON  # keys arrive without Enter
        assert not during[3] & termios.ECHO  # and the space is not echoed
    assert termios.tcgetattr(tty_in.fileno()) == before


async def test_terminal_restored_when_the_body_raises(
    terminal: tuple[int, io.TextIOWrapper],
) -> None:
    _, tty_in = terminal
    before = termios.tcgetattr(tty_in.fileno())
    with pytest.raises(KeyError):
        async with CancelOnKeypress(stream=tty_in):
            raise KeyError("boom")
    assert termios.tcgetattr(tty_in.fileno()) == before


async def test_not_a_terminal_warns_once_and_never_fires(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(keypress, "_warned_not_a_terminal", False)
    piped = io.StringIO("    ")  # spaces that must not count: this is no keyboard
    with pytest.warns(RuntimeWarning, match="standard input is not a terminal"):
        async with CancelOnKeypress(stream=piped) as cancel_event:
            await asyncio.sleep(0.3)
            assert not cancel_event.is_set()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a second warning would raise here
        async with realtime_helper.CancelOnKeypress(stream=piped) as again:
            assert not again.is_set()
