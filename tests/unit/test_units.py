import math

import pytest

from healthgate.units import format_duration, parse_duration, parse_size


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(30, 30.0), (1.5, 1.5), ("500ms", 0.5), ("5s", 5.0), ("2m", 120.0), ("1h", 3600.0), ("1d", 86400.0),
     ("0.5s", 0.5), (" 10s ", 10.0)],
)
def test_durations_people_write_are_parsed(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["5 s", "5sec", "s", "", "1w", "-5s", True, None, [], "1.2.3s"])
def test_ambiguous_or_malformed_durations_are_refused_with_the_accepted_form(text):
    with pytest.raises(ValueError, match="500ms, 5s, 2m, 1h|negative"):
        parse_duration(text)


@pytest.mark.parametrize(("text", "size"), [(1024, 1024), ("512KiB", 524288), ("10MiB", 10485760),
                                            ("2GiB", 2 * 1024**3), ("1B", 1)])
def test_binary_sizes_are_parsed(text, size):
    assert parse_size(text) == size


def test_decimal_size_units_are_refused_as_ambiguous():
    with pytest.raises(ValueError, match="decimal units are ambiguous: write KiB, MiB"):
        parse_size("10MB")


@pytest.mark.parametrize("text", ["10 MiB", "ten", "-1", True, "1.5"])
def test_malformed_sizes_are_refused(text):
    with pytest.raises(ValueError, match="not a size|negative|expected a size"):
        parse_size(text)


def test_durations_format_back_readably():
    assert [format_duration(s) for s in (0.25, 5, 300, 7200 * 2, 86400 * 3)] == ["250ms", "5s", "5m", "4h", "3d"]


@pytest.mark.parametrize(
    ("value", "message"),
    [(math.nan, "is not a number"), (math.inf, "longer than 100 years"), (-math.inf, "negative"),
     ("9" * 400 + "s", "longer than 100 years"), (10**309, "longer than 100 years"),
     (10**5000, "longer than 100 years"), ("36501d", "longer than 100 years")],
    ids=["nan", "inf", "-inf", "400 digits", "10**309", "10**5000", "36501d"],
)
def test_durations_must_be_finite_and_bounded(value, message):
    with pytest.raises(ValueError, match=message):
        parse_duration(value)


def test_zero_stays_a_valid_duration_where_a_threshold_means_none_at_all():
    assert parse_duration(0) == 0.0


@pytest.mark.parametrize(("value", "message"), [("9" * 400 + "TiB", "larger than 8 EiB"), (2**63, "larger than 8 EiB"),
                                                (-(10**400), "negative")], ids=["400 digits", "2**63", "-10**400"])
def test_sizes_must_be_finite_and_bounded(value, message):
    with pytest.raises(ValueError, match=message):
        parse_size(value)


def test_a_huge_value_is_named_without_printing_all_its_digits():
    with pytest.raises(ValueError) as err:
        parse_duration(10**5000)
    assert str(err.value).startswith("a 16610-bit number is longer than 100 years")
