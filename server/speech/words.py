"""Words in a transcript, one way for every rule that reads them.

The end-of-turn rules, the barge-in policy and the recogniser's runaway check
all compare words, not spelling: lower case, letters, digits and apostrophes.
"""

from __future__ import annotations

import re

_WORD = re.compile(r"[a-z0-9']+")


def words_of(text: str) -> list[str]:
    """The words of ``text``, lower case, without punctuation ("I'd like 2." -> i'd like 2)."""
    return _WORD.findall(text.lower())
