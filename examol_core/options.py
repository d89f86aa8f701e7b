"""Options given to scorers, models and training, checked where they are given.

A bad option should fail on the steering side, before a task server starts, with a message that
names it, rather than as a deep error on a worker (an ``OverflowError`` from RDKit for a negative
radius, a ``TypeError`` from a retrain call for a misspelt keyword). Plugins call
:func:`check_integer` on their options; :func:`check_keywords` checks option names against the
function that will receive them.
"""
from __future__ import annotations

import inspect
import numbers
from collections.abc import Callable, Iterable
from typing import Any

from examol_core.errors import InvalidOptionError

__all__ = ['check_integer', 'check_keywords']


def check_integer(name: str, value: Any, minimum: int) -> int:
    """``value`` as an int if it is an integer of at least ``minimum`` (not a bool).

    Raises:
        InvalidOptionError: (a ``ValueError``) naming the option, what it must be and what it got.
    """
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise InvalidOptionError(f'{name} must be an integer of at least {minimum}; got {value!r}')
    return int(value)


def check_keywords(function: Callable[..., Any], names: Iterable[str], what: str,
                   reserved: Iterable[str] = ()) -> None:
    """Check that ``function`` accepts each keyword in ``names`` (unless it takes ``**kwargs``).

    Args:
        function: What the options will be passed to.
        names: The option names given.
        what: How to name the options in the message (e.g. ``"training option"``).
        reserved: Parameters set by examol itself, which users may not give.
    Raises:
        InvalidOptionError: naming the first unknown option and listing the accepted ones.
    """
    try:
        parameters = inspect.signature(function).parameters
    except (TypeError, ValueError):  # builtins without a signature: nothing to check against
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    reserved = set(reserved)
    accepted = sorted(name for name, p in parameters.items()
                      if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
                      and name not in reserved and name != 'self')
    for name in names:
        if name not in accepted:
            raise InvalidOptionError(f'unknown {what} {name!r}; accepted: {", ".join(accepted) or "none"}')
