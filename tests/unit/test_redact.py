import pytest

from healthgate.redact import forget_secrets, redact, register_secret


@pytest.fixture(autouse=True)
def _clean():
    forget_secrets()
    yield
    forget_secrets()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("postgresql://app:s3cr3t@db:5432/x", "postgresql://app:***@db:5432/x"),
        ("redis://:pw1234@cache:6379/0", "redis://:***@cache:6379/0"),
        ("host=db password=hunter22 dbname=x", "host=db password=*** dbname=x"),
        ("password='with space'", "password='***'"),
        ("Authorization: Bearer abcdefgh12345678", "Authorization: Bearer ***"),
        ("https://example.com/health?token=abcd1234&x=1", "https://example.com/health?token=***&x=1"),
        ("nothing secret here", "nothing secret here"),
    ],
)
def test_credentials_are_masked_by_shape(text, expected):
    assert redact(text) == expected


def test_registered_secrets_are_masked_wherever_they_appear():
    register_secret("Tr0ub4dor&3")
    assert redact("server said: auth failed for Tr0ub4dor&3!") == "server said: auth failed for ***!"


def test_short_values_are_not_registered_to_avoid_garbling_output():
    register_secret("ab")
    assert redact("abc ab") == "abc ab"
