"""healthgate: production health verification as parametrized pytest checks."""

__version__ = "0.1.0"
