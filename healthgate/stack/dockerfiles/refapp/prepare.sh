#!/bin/bash
# Copies the refapp package sources into <context-dir>/build/refapp for the Dockerfile's COPY.
#
# The image builder hashes this folder but not build/, so sources.sha256 (the fingerprint of the
# sources, kept in this folder) is what makes a source change rebuild the image. Refresh it with
#     prepare.sh --update-fingerprint
# tests/stack/test_refapp.py fails while it is stale.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

find_sources() {
    # Next to this folder in a checkout; otherwise wherever the package is installed.
    local candidate="$here/../../refapp"
    if [[ -f "$candidate/app.py" ]]; then
        (cd "$candidate" && pwd)
    else
        python3 -c 'import os, healthgate.stack.refapp as m; print(os.path.dirname(m.__file__))'
    fi
}

fingerprint() {
    (cd "$1" && LC_ALL=C sha256sum -- $(LC_ALL=C ls -- *.py))
}

sources=$(find_sources)
if [[ "${1:-}" == "--update-fingerprint" ]]; then
    fingerprint "$sources" > "$here/sources.sha256"
    echo "updated $here/sources.sha256"
    exit 0
fi

context_dir=$(cd "${1:?usage: prepare.sh <context-dir> | --update-fingerprint}" && pwd)
if ! diff -u "$here/sources.sha256" <(fingerprint "$sources") >&2; then
    echo "refapp sources differ from $here/sources.sha256: run $0 --update-fingerprint" >&2
    exit 1
fi
rm -rf "$context_dir/build/refapp"
mkdir -p "$context_dir/build/refapp"
cp -- "$sources"/*.py "$context_dir/build/refapp/"
echo "copied $(ls "$context_dir/build/refapp" | wc -l) files from $sources"
