"""Activates the healthgate plugin for this checkout.

The installed package registers itself through the ``pytest11`` entry point; this file only has to step in when
plugin autoloading is switched off, so the plugin is never registered twice.
"""

import os

pytest_plugins = ["healthgate.plugin"] if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") else []
