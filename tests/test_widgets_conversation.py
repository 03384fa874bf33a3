"""Conversation widgets: streamed answers, skip marks, stable role colours."""

from __future__ import annotations

import subprocess
import sys

from textual.app import App, ComposeResult
from textual.widgets import Markdown

from protocol import events as ev
from protocol.conversation import Action, Conversation
from widgets.conversation import ConversationView
from widgets.diff_view import unified_diff
from widgets.role_colors import ROLE_PALETTE_SIZE, role_class


class ConversationApp(App[None]):
    def compose(self) -> ComposeResult:
        yield ConversationView()


async def show(view: ConversationView, actions: list[Action]) -> None:
    for action in actions:
        await view.apply(action)


async def test_text_streams_into_one_block_per_role() -> None:
    async with ConversationApp().run_test() as pilot:
        view = pilot.app.query_one(ConversationView)
        conversation = Conversation()
        await show(view, conversation.receive(ev.SessionCreated()) + conversation.ask("question"))
        await show(view, conversation.receive(ev.ResponseCreated()))
        for word in ["Hello ", "**there** ", "friend"]:
            await show(view, conversation.receive(ev.ResponseTextDelta(word, "Researcher")))
        await show(
            view, conversation.receive(ev.ResponseTextDelta("Prices are up.", "Market Data"))
        )
        await show(view, conversation.receive(ev.ResponseDone()))
        await pilot.pause()
        turn = view.current_turn
        assert turn is not None and turn.user.text == "question"
        researcher, market = turn.answers
        assert researcher.text == "Hello **there** friend"
        assert researcher.state == "done" and market.state == "done"
        markdown = researcher.query_one(Markdown)
        assert markdown.source == "Hello **there** friend"  # rendered as Markdown
        assert researcher.query_one(".role-tag").render().plain == "Researcher"
        assert not view.answering


async def test_a_skipped_answer_is_marked_and_keeps_its_text() -> None:
    async with ConversationApp().run_test() as pilot:
        view = pilot.app.query_one(ConversationView)
        conversation = Conversation()
        await show(view, conversation.receive(ev.SessionCreated()) + conversation.ask("question"))
        await show(view, conversation.receive(ev.ResponseCreated()))
        await show(view, conversation.receive(ev.ResponseTextDelta("partial", "Researcher")))
        assert view.answering
        await show(view, conversation.skip())
        await pilot.pause()
        turn = view.current_turn
        assert turn is not None
        answer = turn.answers[0]
        assert answer.state == "skipped"
        assert answer.has_class("-skipped")
        assert answer.query_one(".state-badge").render().plain == "skipped"
        assert answer.text == "partial"


async def test_voice_transcript_grows_then_is_replaced_by_the_final_one() -> None:
    async with ConversationApp().run_test() as pilot:
        view = pilot.app.query_one(ConversationView)
        turn = await view.start_turn(voice=True)
        turn.user.show_transcript("what is", final=False)
        assert turn.user.has_class("-listening")
        turn.user.show_transcript("What is a bond?", final=True)
        await pilot.pause()
        assert turn.user.text == "What is a bond?"
        assert not turn.user.has_class("-listening")


def test_role_colour_is_the_same_in_every_process() -> None:
    """Python's str hash is salted per process; the colour must not be."""
    code = "from widgets.role_colors import role_class; print(role_class('Researcher'))"
    seen = {
        subprocess.run(
            [sys.executable, "-c", code],
            env={"PYTHONHASHSEED": seed, "PYTHONPATH": "."},
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        for seed in ("1", "2", "3")
    }
    assert seen == {role_class("Researcher")}
    assert role_class("Researcher") in {f"role-{i}" for i in range(ROLE_PALETTE_SIZE)}


def test_diff_of_identical_versions_says_so_and_changes_are_marked() -> None:
    assert "identical" in unified_diff("a: 1\n", "a: 1\n", "v0", "v1")
    diff = unified_diff("a: 1\nb: 2\n", "a: 1\nb: 3\n", "v0", "v1")
    assert "-b: 2\n" in diff and "+b: 3\n" in diff
    assert diff.startswith("--- v0\n+++ v1\n")
