#!/usr/bin/env bash
# Entrypoint compatible with the official redis image: arguments are redis-server's,
# the server runs as the redis user with /data as working directory.
set -Eeo pipefail

# `docker run image --requirepass x` or `docker run image /path/redis.conf` mean redis-server.
if [ "${1:0:1}" = '-' ] || [ "${1%.conf}" != "$1" ]; then
    set -- redis-server "$@"
fi

if [ "$1" = 'redis-server' ]; then
    # The official build turns protected mode off by default, so a password-less server is
    # reachable through published ports; without a config file we do the same with a
    # leading option that later arguments can still override.
    if [ $# -eq 1 ] || [ "${2:0:1}" = '-' ]; then
        shift
        set -- redis-server --protected-mode no "$@"
    fi
    if [ "$(id -u)" = '0' ]; then
        find . \! -user redis -exec chown redis '{}' +
        umask 0077
        exec setpriv --reuid=redis --regid=redis --init-groups "$@"
    fi
fi

exec "$@"
