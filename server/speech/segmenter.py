"""Cuts streaming LLM text into pieces that can be spoken on their own.

TTS needs whole phrases to sound natural, but waiting for the whole answer
would add seconds of silence. So text is spoken sentence by sentence; a long
sentence is cut at clause boundaries (commas, semicolons, dashes) so its first
half can play while the rest is generated; and if the model stalls without
finishing a sentence, what is there is spoken after `max_wait_s`, cut at the
last clause or word boundary so no word is split. Pure: no models, no clocks
(the caller passes ``now``).
"""

from __future__ import annotations

import re

# A sentence ends at . ! ? … (possibly repeated, possibly closed by quotes or
# brackets) followed by whitespace, or at a line break.
_SENTENCE_END = re.compile(r"""[.!?…]+["'”’)\]]*(?=\s)|\n""")
_CLAUSE_END = re.compile(r"""[,;:]["'”’)\]]*(?=\s)|\s[—–-]{1,2}(?=\s)""")
_ENDS_LIKE_SENTENCE = re.compile(r"""[.!?…]+["'”’)\]]*\s*$""")
FIRST_CLAUSE_MIN_CHARS = 4  # "Sure," or "Yes," may be spoken alone; "No," or "So," not
_ABBREVIATIONS = frozenset(
    {"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "approx"}
    | {"no", "fig", "inc", "ltd", "co", "mt"}
)


class SpeechSegmenter:
    """Cuts streaming LLM text into speakable pieces: sentence by sentence; a long sentence by
    clause; if no sentence end arrives within max_wait_s of text, up to the last clause or word
    boundary."""

    def __init__(
        self,
        max_wait_s: float = 1.5,
        min_chars: int = 12,
        max_chars: int = 160,
        *,
        first_clause: bool = False,
    ) -> None:
        """``min_chars``: shortest clause cut off a long sentence; ``max_chars``: longest piece
        that is not cut (sentences longer than this are cut by clause, then by word);
        ``first_clause``: the very first piece ends at the first clause boundary (at least
        ``FIRST_CLAUSE_MIN_CHARS`` long: "Sure," will do), so an answer's first audio is
        short and quick to synthesise."""
        if max_wait_s <= 0:
            raise ValueError(f"max_wait_s must be positive, got {max_wait_s!r}")
        if min_chars < 1:
            raise ValueError(f"min_chars must be at least 1, got {min_chars!r}")
        if max_chars <= min_chars:
            raise ValueError(f"max_chars ({max_chars}) must exceed min_chars ({min_chars})")
        self.max_wait_s = max_wait_s
        self.min_chars = min_chars
        self.max_chars = max_chars
        self._buffer = ""
        self._waiting_since: float | None = None  # when the oldest unspoken text arrived
        self._first_pending = first_clause  # the first piece is still to be cut short

    @property
    def pending(self) -> str:
        """Text received but not yet handed out."""
        return self._buffer

    def push(self, text: str, now: float) -> list[str]:
        """Add streamed text; return the pieces that are now ready to speak."""
        if not text:
            return []
        if self._waiting_since is None or not self._buffer.strip():
            self._waiting_since = now
        self._buffer += text
        pieces = self._take_first_clause()
        pieces += self._take_sentences()
        pieces += self._take_long_clauses()
        self._restart_wait(now, pieces)
        return self._emit(pieces)

    def due(self, now: float) -> list[str]:
        """Pieces forced out because no sentence end arrived within ``max_wait_s``."""
        if self._waiting_since is None or now - self._waiting_since < self.max_wait_s:
            return []
        if _ENDS_LIKE_SENTENCE.search(self._buffer):
            cut: int | None = len(self._buffer)  # the space after it just has not come yet
        else:
            cut = self._last_boundary(self._buffer, len(self._buffer), clause_min=1)
        if cut is None:
            return []  # a single unfinished word: wait for its end rather than split it
        pieces = [self._buffer[:cut]]
        self._buffer = self._buffer[cut:]
        self._restart_wait(now, pieces)
        return self._emit(pieces)

    def flush(self) -> list[str]:
        """Everything left, at the end of the agent's text (long sentences still cut by clause)."""
        rest, self._buffer, self._waiting_since = self._buffer, "", None
        pieces: list[str] = []
        for sentence in self._split_sentences(rest):
            pieces += self._split_long(sentence)
        return self._emit(pieces)

    def reset(self) -> None:
        """Drop pending text (the agent was skipped)."""
        self._buffer, self._waiting_since = "", None

    # -- internals ------------------------------------------------------------

    def _take_first_clause(self) -> list[str]:
        """The answer's first clause, as soon as it is complete (``first_clause`` only)."""
        if not self._first_pending:
            return []
        for match in _CLAUSE_END.finditer(self._buffer):
            sentence_end = _sentence_ends(self._buffer)
            if sentence_end and sentence_end[0] < match.end():
                return []  # a whole sentence came first: it is the first piece
            if len(self._buffer[: match.end()].strip()) >= FIRST_CLAUSE_MIN_CHARS:
                piece, self._buffer = self._buffer[: match.end()], self._buffer[match.end() :]
                return [piece]
        return []

    def _emit(self, pieces: list[str]) -> list[str]:
        speakable = _speakable(pieces)
        if speakable and self._first_pending:
            self._first_pending = False
            head = self._split_first_clause(speakable[0])
            speakable[:1] = head
        return speakable

    def _split_first_clause(self, piece: str) -> list[str]:
        """A first sentence cut after its first clause."""
        for match in _CLAUSE_END.finditer(piece):
            if len(piece[: match.end()].strip()) >= FIRST_CLAUSE_MIN_CHARS:
                return _speakable([piece[: match.end()], piece[match.end() :]])
        return [piece]

    def _take_sentences(self) -> list[str]:
        """Whole sentences at the front of the buffer (long ones cut by clause)."""
        pieces: list[str] = []
        end = self._complete_prefix(self._buffer)
        if end:
            for sentence in self._split_sentences(self._buffer[:end]):
                pieces += self._split_long(sentence)
            self._buffer = self._buffer[end:]
        return pieces

    def _take_long_clauses(self) -> list[str]:
        """Front clauses of an unfinished sentence that has already grown past max_chars."""
        pieces: list[str] = []
        while len(self._buffer.strip()) > self.max_chars:
            cut = self._last_boundary(self._buffer, self.max_chars, clause_min=self.min_chars)
            if cut is None:
                break
            pieces.append(self._buffer[:cut])
            self._buffer = self._buffer[cut:]
        return pieces

    def _restart_wait(self, now: float, emitted: list[str]) -> None:
        if not self._buffer.strip():
            self._waiting_since = None
        elif emitted:
            self._waiting_since = now  # the rest has only been waiting since this text came

    def _complete_prefix(self, text: str) -> int:
        """Length of the longest prefix of ``text`` that consists of finished sentences."""
        ends = _sentence_ends(text)
        return ends[-1] if ends else 0

    def _split_sentences(self, text: str) -> list[str]:
        pieces, start = [], 0
        for end in _sentence_ends(text):
            pieces.append(text[start:end])
            start = end
        pieces.append(text[start:])
        return [piece for piece in pieces if piece.strip()]

    def _split_long(self, sentence: str) -> list[str]:
        """A sentence longer than max_chars as clause (or word) sized pieces."""
        pieces = []
        rest = sentence.strip()
        while len(rest) > self.max_chars:
            cut = self._last_boundary(rest, self.max_chars, clause_min=self.min_chars)
            if cut is None:
                break
            pieces.append(rest[:cut])
            rest = rest[cut:].strip()
        if rest:
            pieces.append(rest)
        return pieces

    def _last_boundary(self, text: str, limit: int, clause_min: int) -> int | None:
        """Best cut in ``text[:limit]``: after the last clause end leaving >= clause_min chars,
        else after the last whole word; None if there is no safe cut."""
        window = text[:limit]
        clause_cuts = [m.end() for m in _CLAUSE_END.finditer(window)]
        clause_cuts = [c for c in clause_cuts if len(text[:c].strip()) >= clause_min]
        if clause_cuts:
            return clause_cuts[-1]
        # A word is whole only if whitespace follows it (the next token may extend it).
        space = max(window.rfind(" "), window.rfind("\t"))
        if limit < len(text) and text[limit].isspace():
            space = limit
        if space <= 0 or not text[:space].strip():
            return None
        return space


def ends_like_sentence(text: str) -> bool:
    """Whether a piece ends a sentence (not just a clause such as "Sure,")."""
    return bool(_ENDS_LIKE_SENTENCE.search(text))


def _sentence_ends(text: str) -> list[int]:
    """Offsets just after each sentence end in ``text`` (abbreviations such as "Dr." excluded)."""
    ends = []
    for match in _SENTENCE_END.finditer(text):
        if match.group() == "\n" or not _is_abbreviation(text, match.start()):
            ends.append(match.end())
    return ends


def _is_abbreviation(text: str, dot_index: int) -> bool:
    """Whether the "." at ``dot_index`` ends a known abbreviation or an initial ("J. Smith")."""
    if text[dot_index] != ".":
        return False
    word = re.search(r"([\w.]+)$", text[:dot_index])
    if word is None:
        return False
    token = word.group(1)
    is_initial = len(token) == 1 and token.isupper() and token not in ("I", "A")
    return is_initial or token.lower() in _ABBREVIATIONS


def _speakable(pieces: list[str]) -> list[str]:
    """Stripped pieces that contain something to say (a letter or a digit)."""
    stripped = (piece.strip() for piece in pieces)
    return [piece for piece in stripped if any(ch.isalnum() for ch in piece)]
