#!/bin/bash
# Starts the classpath-assembled node with the official image's conventions:
# OPENSEARCH_JAVA_OPTS for the JVM, dotted environment variables as settings.
set -euo pipefail

OPENSEARCH_HOME=${OPENSEARCH_HOME:-/usr/share/opensearch}

if [[ $# -gt 0 && "$1" != "opensearch" && "$1" != -* ]]; then
    exec "$@"
fi
[[ "${1:-}" == "opensearch" ]] && shift

settings=()
while IFS= read -r -d '' entry; do
    name=${entry%%=*}
    value=${entry#*=}
    [[ "$name" =~ ^[a-z0-9_]+\.[a-z0-9_.]+$ ]] || continue
    # Callers written for the official image disable its security plugin this way;
    # this node has no such plugin, so the setting would be rejected as unknown.
    if [[ "$name" == plugins.security.* ]]; then
        echo "ignoring ${name}: no security plugin in this node" >&2
        continue
    fi
    settings+=("-E${name}=${value}")
done < <(env -0)

# Flags the distribution's jvm.options sets for the server and for Netty.
jvm_flags=(
    -XX:+UseG1GC
    -XX:+HeapDumpOnOutOfMemoryError
    -XX:HeapDumpPath="${OPENSEARCH_HOME}/data"
    -XX:-OmitStackTraceInFastThrow
    -Dfile.encoding=UTF-8
    -Djava.locale.providers=SPI,COMPAT
    -Djava.io.tmpdir="${OPENSEARCH_TMPDIR:-/tmp}"
    -Djna.nosys=true
    -Dio.netty.noUnsafe=true
    -Dio.netty.noKeySetOptimization=true
    -Dio.netty.recycler.maxCapacityPerThread=0
    -Dlog4j.shutdownHookEnabled=false
    -Dlog4j2.disable.jmx=true
    -Dlog4j2.formatMsgNoLookups=true
    -Dopensearch.path.home="${OPENSEARCH_HOME}"
)

# Word splitting is wanted: OPENSEARCH_JAVA_OPTS is a space-separated flag list.
# shellcheck disable=SC2086
exec java "${jvm_flags[@]}" ${OPENSEARCH_JAVA_OPTS:--Xms512m -Xmx512m} \
    -cp "${OPENSEARCH_HOME}/lib/*:${OPENSEARCH_HOME}/launcher" \
    OfflineNodeMain "${settings[@]}" "$@"
