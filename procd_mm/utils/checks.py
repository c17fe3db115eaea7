"""The value checks of the library's components: a config value that cannot be used is an
:class:`InputError` naming the component and the key (the tools print it as one line)."""
import math
from typing import Sequence

from .errors import InputError


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value)


def check_positive_int(owner: str, name: str, value) -> int:
    """``value`` if it is an int > 0 (not a bool)."""
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InputError(f'{owner}: {name} must be a positive int, got {value!r}')
    return value


def check_positive_number(owner: str, name: str, value) -> float:
    """``value`` if it is a finite number > 0 (not a bool)."""
    if not _is_number(value) or value <= 0:
        raise InputError(f'{owner}: {name} must be a number > 0, got {value!r}')
    return value


def check_non_negative_number(owner: str, name: str, value) -> float:
    """``value`` if it is a finite number >= 0 (not a bool)."""
    if not _is_number(value) or value < 0:
        raise InputError(f'{owner}: {name} must be a number >= 0, got {value!r}')
    return value


def check_choice(owner: str, name: str, value, choices: Sequence):
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise InputError(f'{owner}: {name} must be one of {tuple(choices)}, got {value!r}')
    return value
