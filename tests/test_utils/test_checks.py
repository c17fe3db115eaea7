"""procd_mm/utils/checks.py: the library's value checks, one InputError naming owner and key."""
import math
import re

import pytest

from procd_mm.utils import InputError
from procd_mm.utils.checks import (
    check_choice,
    check_non_negative_number,
    check_positive_int,
    check_positive_number,
)


@pytest.mark.parametrize('value', [0, -1, 1.0, True, '3', None])
def test_positive_int_refuses(value):
    with pytest.raises(InputError, match='^' + re.escape(
            f'Owner: key must be a positive int, got {value!r}') + '$'):
        check_positive_int('Owner', 'key', value)


def test_positive_int_passes():
    assert check_positive_int('Owner', 'key', 3) == 3


@pytest.mark.parametrize('check, bad, good', [
    (check_positive_number, [0, -0.5, math.inf, math.nan, False, '1'], [1e-9, 2, 0.5]),
    (check_non_negative_number, [-1e-9, math.inf, math.nan, True, None], [0, 0.0, 3]),
])
def test_numbers(check, bad, good):
    for value in bad:
        with pytest.raises(InputError, match='Owner: key must be a number'):
            check('Owner', 'key', value)
    for value in good:
        assert check('Owner', 'key', value) == value


def test_choice():
    assert check_choice('Owner', 'mode', 'a', ('a', 'b')) == 'a'
    with pytest.raises(InputError, match=r"Owner: mode must be one of \('a', 'b'\), got 'c'"):
        check_choice('Owner', 'mode', 'c', ('a', 'b'))
