#!/bin/bash
# Copies the refapp package sources into <context-dir>/build/refapp for the Dockerfile's COPY.
# The sources are listed in extra-inputs, so the image builder's content hash changes with them.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
context_dir=$(cd "${1:?usage: prepare.sh <context-dir>}" && pwd)

sources="$here/../../refapp"
if [[ ! -f "$sources/app.py" ]]; then
    # Installed (not a checkout): take the package where Python finds it.
    sources=$(python3 -c 'import os, healthgate.stack.refapp as m; print(os.path.dirname(m.__file__))')
fi
rm -rf "$context_dir/build/refapp"
mkdir -p "$context_dir/build/refapp"
cp -- "$sources"/*.py "$context_dir/build/refapp/"
echo "copied $(ls "$context_dir/build/refapp" | wc -l) files from $sources"
