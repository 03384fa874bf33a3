"""Cutting streamed LLM text into pieces to speak: sentences, clauses, stalls, the end."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.speech.segmenter import SpeechSegmenter


def stream(segmenter: SpeechSegmenter, text: str, step: int = 3, start: float = 0.0) -> list[str]:
    """Push ``text`` a few characters at a time, 10 ms apart, like LLM tokens."""
    pieces = []
    for i in range(0, len(text), step):
        pieces += segmenter.push(text[i : i + step], start + i / step * 0.01)
    return pieces


def test_whole_sentences_are_spoken_as_soon_as_they_end() -> None:
    segmenter = SpeechSegmenter()

    assert segmenter.push("Hello there. How are", 0.0) == ["Hello there."]
    assert segmenter.push(" you? I am", 0.1) == ["How are you?"]
    assert segmenter.pending == " I am"


def test_a_sentence_waits_for_the_space_after_its_full_stop() -> None:
    segmenter = SpeechSegmenter()

    # "3." might become "3.5": only the following space proves the sentence ended.
    assert segmenter.push("It costs 3.", 0.0) == []
    assert segmenter.push("5 dollars. Cheap!", 0.1) == ["It costs 3.5 dollars."]
    assert segmenter.flush() == ["Cheap!"]


def test_token_sized_pushes_give_the_same_sentences() -> None:
    text = "The sun is out. It is warm today! Shall we go outside? Yes."

    pieces = stream(SpeechSegmenter(), text, step=2)

    assert pieces == ["The sun is out.", "It is warm today!", "Shall we go outside?"]


@pytest.mark.parametrize(
    "text",
    ["I met Dr. Smith at noon. ", "Bring fruit, e.g. apples. ", "Ask J. Smith about it. "],
)
def test_abbreviations_and_initials_do_not_end_a_sentence(text: str) -> None:
    assert SpeechSegmenter().push(text, 0.0) == [text.strip()]


def test_a_line_break_ends_a_piece() -> None:
    assert SpeechSegmenter().push("Here is the list\n- first item\n", 0.0) == [
        "Here is the list",
        "- first item",
    ]


def test_a_long_sentence_is_cut_at_clauses_while_it_streams() -> None:
    segmenter = SpeechSegmenter(max_chars=60, min_chars=12)
    text = (
        "When you arrive at the station, walk past the ticket office and the bakery, "
        "then turn left at the big clock; the hotel is on your right"
    )

    pieces = stream(segmenter, text)

    assert pieces[0] == "When you arrive at the station,"
    assert pieces[1] == "walk past the ticket office and the bakery,"
    assert all(len(piece) <= 60 for piece in pieces)
    assert " ".join([*pieces, *segmenter.flush()]) == text


def test_a_long_finished_sentence_is_cut_at_clauses() -> None:
    segmenter = SpeechSegmenter(max_chars=50, min_chars=12)
    sentence = "Yes, of course, we have rooms with a view of the sea, a balcony, and breakfast."

    pieces = segmenter.push(sentence + " ", 0.0)

    assert all(len(piece) <= 50 for piece in pieces)
    assert len(pieces) >= 2
    assert " ".join(pieces) == sentence
    assert "Yes," not in pieces  # clauses shorter than min_chars are not cut off alone


def test_a_stalled_sentence_is_spoken_after_max_wait_up_to_the_last_clause() -> None:
    segmenter = SpeechSegmenter(max_wait_s=1.5)
    segmenter.push("Well, let me think about that, because it is", 0.0)

    assert segmenter.due(1.4) == []
    assert segmenter.due(1.5) == ["Well, let me think about that,"]
    assert segmenter.pending.strip() == "because it is"


def test_a_stalled_sentence_without_clauses_is_cut_at_the_last_whole_word() -> None:
    segmenter = SpeechSegmenter(max_wait_s=1.5)
    segmenter.push("I am looking that up for yo", 0.0)

    # "yo" may be the start of "you": it stays until more text or flush().
    assert segmenter.due(1.6) == ["I am looking that up for"]
    assert segmenter.push("u right now. ", 1.7) == ["you right now."]


def test_a_stalled_sentence_that_looks_finished_is_spoken_whole() -> None:
    segmenter = SpeechSegmenter(max_wait_s=1.5)
    segmenter.push("All done.", 0.0)

    assert segmenter.due(1.5) == ["All done."]
    assert segmenter.pending == ""


def test_a_single_unfinished_word_is_never_split() -> None:
    segmenter = SpeechSegmenter(max_wait_s=1.5)
    segmenter.push("Supercalifragilistic", 0.0)

    assert segmenter.due(5.0) == []
    assert segmenter.flush() == ["Supercalifragilistic"]


def test_the_stall_clock_restarts_for_text_left_after_a_piece() -> None:
    segmenter = SpeechSegmenter(max_wait_s=1.5)
    segmenter.push("First part", 0.0)
    assert segmenter.push(" done. Second", 1.0) == ["First part done."]

    assert segmenter.due(2.0) == []  # "Second" has only waited since 1.0
    assert segmenter.push(" part is here", 2.1) == []
    assert segmenter.due(2.5) == ["Second part is"]


def test_flush_returns_the_rest_and_empties_the_segmenter() -> None:
    segmenter = SpeechSegmenter()
    segmenter.push("One. Two and a half", 0.0)

    assert segmenter.flush() == ["Two and a half"]
    assert segmenter.flush() == []
    assert segmenter.due(100.0) == []


def test_pieces_without_words_are_dropped() -> None:
    segmenter = SpeechSegmenter()

    assert segmenter.push("... !!! Right. ", 0.0) == ["Right."]
    assert segmenter.push("  ", 0.1) == []
    assert segmenter.flush() == []


def test_reset_drops_pending_text() -> None:
    segmenter = SpeechSegmenter()
    segmenter.push("This was skipped", 0.0)

    segmenter.reset()

    assert segmenter.flush() == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_wait_s": 0}, "max_wait_s"),
        ({"min_chars": 0}, "min_chars"),
        ({"max_chars": 5}, "max_chars"),
    ],
)
def test_bad_settings_are_clear_errors(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        SpeechSegmenter(**kwargs)


_WORD = st.text(alphabet="abcdefghij", min_size=1, max_size=12)
_PUNCT = st.sampled_from(["", "", "", ",", ".", "?", ";", "!"])


@given(
    words=st.lists(st.tuples(_WORD, _PUNCT), min_size=1, max_size=60),
    step=st.integers(min_value=1, max_value=9),
    stall_every=st.integers(min_value=2, max_value=20),
)
def test_every_word_is_spoken_exactly_once_in_order(
    words: list[tuple[str, str]], step: int, stall_every: int
) -> None:
    text = " ".join(word + punct for word, punct in words)
    segmenter = SpeechSegmenter(max_wait_s=1.5, min_chars=8, max_chars=40)
    pieces: list[str] = []
    now = 0.0
    for n, i in enumerate(range(0, len(text), step)):
        pieces += segmenter.push(text[i : i + step], now)
        if n % stall_every == 0:
            now += 2.0  # the model stalls now and then
            pieces += segmenter.due(now)
        now += 0.01
    pieces += segmenter.flush()

    assert " ".join(pieces).split() == text.split()
    assert all(piece == piece.strip() and piece for piece in pieces)
    # Pieces stay short enough to start speaking soon, unless a single word is longer.
    assert all(len(piece) <= 40 or " " not in piece for piece in pieces)


def test_first_clause_of_an_answer_is_spoken_alone_as_soon_as_it_ends() -> None:
    seg = SpeechSegmenter(first_clause=True)
    pieces = []
    answer = "Sure, the weather in Paris is mild today, with some sun."
    for token in answer.split():
        pieces += seg.push(token + " ", now=0.0)
        if pieces == ["Sure,"]:
            break
    assert pieces == ["Sure,"]  # out before the sentence ends
    rest = seg.push("the weather is mild, with sun. Later, rain. ", now=0.0) + seg.flush()
    # Only the first piece is cut short: later sentences stay whole.
    assert rest == ["the weather is mild, with sun.", "Later, rain."]


def test_first_clause_cut_applies_to_a_first_sentence_that_arrives_whole() -> None:
    seg = SpeechSegmenter(first_clause=True)
    assert seg.push("Of course, it opens at nine. Bring a coat. ", now=0.0) == [
        "Of course,",
        "it opens at nine.",
        "Bring a coat.",
    ]


def test_a_short_first_sentence_is_not_cut_further() -> None:
    seg = SpeechSegmenter(first_clause=True)
    assert seg.push("No, thanks. Maybe, later on. ", now=0.0) == ["No, thanks.", "Maybe, later on."]
