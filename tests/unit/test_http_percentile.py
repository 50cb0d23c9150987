"""Nearest-rank percentiles: always one of the samples, never an interpolation between two."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from healthgate.targets.http.facts import percentile

TWENTY = [float(i) for i in range(1, 21)]  # 1.0 … 20.0, the default sample count


@pytest.mark.parametrize(("values", "pct", "expected"), [
    ([0.5], 50, 0.5),
    ([0.5], 99, 0.5),
    ([3.0, 1.0, 2.0], 50, 2.0),                # unsorted input
    ([1.0, 2.0, 3.0, 4.0], 50, 2.0),           # rank ceil(2) = 2: the lower middle, no averaging
    ([1.0, 2.0, 3.0, 4.0], 75, 3.0),
    ([1.0, 2.0, 3.0, 4.0], 76, 4.0),
    (TWENTY, 50, 10.0),
    (TWENTY, 95, 19.0),                        # 19th of 20: one sample may be slower than P95
    (TWENTY, 99, 20.0),                        # with 20 samples P99 is the slowest
    (TWENTY, 100, 20.0),
    (TWENTY, 1, 1.0),
    ([float(i) for i in range(1, 201)], 95, 190.0),
    ([float(i) for i in range(1, 201)], 99, 198.0),
    ([2.0, 2.0, 2.0, 9.0], 95, 9.0),
])
def test_nearest_rank(values: list[float], pct: float, expected: float) -> None:
    assert percentile(values, pct) == expected


@pytest.mark.parametrize(("values", "pct", "message"), [
    ([], 95, "percentile of no samples"),
    ([1.0], 0, "percentile must be in (0, 100], not 0"),
    ([1.0], 101, "percentile must be in (0, 100], not 101"),
])
def test_rejects_meaningless_input(values: list[float], pct: float, message: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        percentile(values, pct)
    assert str(excinfo.value) == message


@given(st.lists(st.floats(min_value=0, max_value=60, allow_nan=False), min_size=1, max_size=200),
       st.floats(min_value=0.1, max_value=100))
def test_is_a_sample_with_enough_samples_at_or_below_it(values: list[float], pct: float) -> None:
    result = percentile(values, pct)
    assert result in values
    at_or_below = sum(1 for v in values if v <= result)
    assert at_or_below / len(values) * 100 >= pct - 1e-9
    below = sum(1 for v in values if v < result)
    assert below / len(values) * 100 < pct + 1e-9
