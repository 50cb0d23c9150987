"""Self-tests of healthgate: the hermetic stack's fixtures and the environment testcontainers needs."""

import os

# Read by testcontainers when first imported. /.dockerenv on build machines would otherwise make it
# reach containers through the bridge gateway, and Ryuk would need an image from a registry.
os.environ.setdefault("TESTCONTAINERS_RYUK_DISABLED", "true")
os.environ.setdefault("TESTCONTAINERS_HOST_OVERRIDE", "127.0.0.1")

pytest_plugins = ["pytester", "healthgate.stack.fixtures"]
