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
