"""Activates the healthgate plugin for this checkout.

The installed package registers itself through the ``pytest11`` entry point; this file only has to step in when
plugin autoloading is switched off, so the plugin is never registered twice. (Defining ``pytest_plugins`` only
then matters: a run started elsewhere still loads this file, and pytest refuses the variable outside the root.)
"""

import os

if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
    pytest_plugins = ["healthgate.plugin"]
