#!/bin/bash
# Fills <context-dir>/build with the node's jars (from Maven Central, via pom.xml)
# and the compiled launcher, so the image itself needs only a JRE and no network
# access beyond Debian's archive.
set -euo pipefail

context_dir=$(cd "${1:?usage: prepare.sh <context-dir>}" && pwd)
build_dir="$context_dir/build"
lib_dir="$build_dir/lib"
launcher_dir="$build_dir/launcher"

fingerprint() {
    sha256sum "$@" | sha256sum | cut -d' ' -f1
}

mkdir -p "$build_dir"

# Resolving ~90 jars takes seconds warm and a minute cold: skip when the pom is unchanged.
pom_hash=$(fingerprint "$context_dir/pom.xml")
if [[ "$(cat "$build_dir/lib.sha256" 2>/dev/null)" != "$pom_hash" ]]; then
    rm -rf "$lib_dir" "$build_dir/lib.sha256"
    mvn -q -B -Dstyle.color=never -f "$context_dir/pom.xml" dependency:copy-dependencies \
        -DincludeScope=runtime -DoutputDirectory="$lib_dir"
    echo "$pom_hash" > "$build_dir/lib.sha256"
fi

sources=("$context_dir"/src/*.java)
launcher_hash=$(fingerprint "$context_dir/pom.xml" "${sources[@]}")
if [[ "$(cat "$build_dir/launcher.sha256" 2>/dev/null)" != "$launcher_hash" ]]; then
    rm -rf "$launcher_dir" "$build_dir/launcher.sha256"
    # --release 17 keeps the classes loadable by the image's Java 17 runtime whatever JDK builds them.
    javac --release 17 -cp "$lib_dir/*" -d "$launcher_dir" "${sources[@]}"
    echo "$launcher_hash" > "$build_dir/launcher.sha256"
fi
