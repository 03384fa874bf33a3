"""Project and user names as the wire protocol allows them."""

from __future__ import annotations

import re

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_-]+$")
MAX_NAME_LENGTH = 128


def name_problem(value: object, what: str = "name") -> str | None:
    """Why ``value`` is not a valid project or uuid name, or None if it is."""
    if not isinstance(value, str) or not value:
        return f"{what} must be a non-empty string"
    if len(value) > MAX_NAME_LENGTH:
        return f"{what} is longer than {MAX_NAME_LENGTH} characters"
    if not NAME_PATTERN.fullmatch(value):
        return (
            f"{what} {value!r} may contain only letters, digits, hyphens ('-') "
            "and underscores ('_')"
        )
    return None


def check_name(value: object, what: str = "name") -> str:
    """Return ``value`` if it is a valid name, else raise ValueError naming the problem."""
    problem = name_problem(value, what)
    if problem:
        raise ValueError(problem)
    return value  # type: ignore[return-value]
