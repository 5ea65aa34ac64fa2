"""What every self-check shares: the failure type, one assertion helper, the success line.

A check is called in a student notebook right after an exercise, on the student's own
object (``check.normalize_tensor(normalize_tensor)``). It runs small cases, and either
prints one line saying how many cases passed, or raises :class:`CheckFailed` with a
message that says what is wrong and what usually causes it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class CheckFailed(AssertionError):
    """A student's answer failed a check; the message says what is wrong (all chapters)."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name


def expect(condition: bool, name: str, message: str) -> None:
    """Raise :class:`CheckFailed` for ``name`` with ``message`` unless ``condition`` holds."""
    if not condition:
        raise CheckFailed(name, message)


def call(name: str, case: str, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """``fn(*args, **kwargs)``; an error raised by the student's code becomes a CheckFailed.

    NotImplementedError passes through unchanged: an unfilled stub is not a wrong answer,
    and the student sees the stub's own message.
    """
    try:
        return fn(*args, **kwargs)
    except NotImplementedError:
        raise
    except Exception as err:  # the student's code may raise anything
        raise CheckFailed(name, f"{case} raised {type(err).__name__}: {err}") from err


def passed(name: str, n_cases: int) -> None:
    """The one line a check prints when every case passed."""
    print(f"{name}: all {n_cases} checks passed")
