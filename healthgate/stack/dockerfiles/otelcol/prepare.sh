#!/bin/bash
# Builds the collector on the host with the OpenTelemetry Collector Builder, from manifest.yaml, into
# <context-dir>/build/dist/otelcol-healthgate for the Dockerfile's COPY.
#
# The machine's Go builds it: the collector needs Go >= 1.25 and Debian bookworm's golang is 1.19, so a build
# inside a Debian container would not work. The binary is static (CGO off), so the image needs no base.
# Go's module cache (GOMODCACHE, by default ~/go/pkg/mod) and build cache (GOCACHE, ~/.cache/go-build) persist
# on the machine, so a second build with warm caches takes seconds; a cold one several minutes on 2 cores.
set -euo pipefail

BUILDER_VERSION=v0.165.0
MIN_GO_MINOR=25

context_dir=$(cd "${1:?usage: prepare.sh <context-dir>}" && pwd)
cd "$context_dir"
build_dir="$context_dir/build"
binary="$build_dir/dist/otelcol-healthgate"
cache_dir="${HEALTHGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/healthgate}"
builder="$cache_dir/go/ocb-$BUILDER_VERSION/builder"

if ! command -v go >/dev/null 2>&1; then
    echo "prepare.sh: no go on PATH: the collector is built with the machine's Go (>= 1.$MIN_GO_MINOR)" >&2
    exit 1
fi
go_version=$(go env GOVERSION)
go_minor=$(echo "$go_version" | sed -E 's/^go1\.([0-9]+).*/\1/')
if [[ ! "$go_minor" =~ ^[0-9]+$ ]] || (( go_minor < MIN_GO_MINOR )); then
    echo "prepare.sh: $go_version is too old for the collector: it needs go1.$MIN_GO_MINOR or newer" >&2
    exit 1
fi

fingerprint() {
    { cat "$context_dir/manifest.yaml"; echo "$BUILDER_VERSION $go_version"; } | sha256sum | cut -d' ' -f1
}

# The image's content hash covers manifest.yaml and this script; this inner fingerprint only spares a rebuild
# of an unchanged binary when something else in the folder (the Dockerfile) changed.
wanted=$(fingerprint)
if [[ -x "$binary" && "$(cat "$build_dir/binary.sha256" 2>/dev/null)" == "$wanted" ]]; then
    echo "collector binary up to date ($binary)"
    exit 0
fi

if [[ ! -x "$builder" ]]; then
    echo "installing the collector builder $BUILDER_VERSION into $(dirname "$builder")"
    GOFLAGS=-buildvcs=false GOBIN="$(dirname "$builder")" go install "go.opentelemetry.io/collector/cmd/builder@$BUILDER_VERSION"
fi

rm -rf "$build_dir/dist" "$build_dir/binary.sha256"
mkdir -p "$build_dir"
started=$(date +%s)
# -buildvcs=false: the generated module lives in a git checkout's ignored folder; stamping VCS data would fail
# where the checkout is not a repository (and changes nothing the collector reports).
CGO_ENABLED=0 GOFLAGS=-buildvcs=false "$builder" --config="$context_dir/manifest.yaml"
test -x "$binary"
echo "$wanted" > "$build_dir/binary.sha256"
echo "built $binary ($(du -h "$binary" | cut -f1)) in $(( $(date +%s) - started ))s with $go_version"
