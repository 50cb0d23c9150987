#!/usr/bin/env bash
# Entrypoint compatible with the official postgres image's environment:
#   POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless
#   POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB (default $POSTGRES_USER),
#   POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256),
#   /docker-entrypoint-initdb.d/*.sh|*.sql|*.sql.gz run once, on the first start.
set -Eeo pipefail

log() { printf '%s [entrypoint] %s\n' "$(date -u +'%Y-%m-%d %H:%M:%S UTC')" "$*"; }

# `docker run image -c key=value` means extra server settings, as with the official image.
if [ "${1:0:1}" = '-' ]; then
    set -- postgres "$@"
fi

if [ "$1" != 'postgres' ]; then
    exec "$@"
fi

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

# PostgreSQL refuses to run as root: fix ownership of mounted directories, then drop privileges.
if [ "$(id -u)" = '0' ]; then
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    chmod 2775 /var/run/postgresql
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$0" "$@"
fi

initialise_cluster() {
    local user="${POSTGRES_USER:-postgres}"
    local auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    if [ -z "${POSTGRES_PASSWORD}" ] && [ "$auth" != 'trust' ]; then
        log 'error: POSTGRES_PASSWORD is empty; set it, or POSTGRES_HOST_AUTH_METHOD=trust to allow any connection' >&2
        exit 1
    fi

    log "initialising cluster in $PGDATA for user $user"
    local -a password_args=()
    local pwfile=''
    if [ -n "${POSTGRES_PASSWORD}" ]; then
        pwfile="$(mktemp)"
        printf '%s\n' "${POSTGRES_PASSWORD}" > "$pwfile"
        password_args=(--pwfile="$pwfile")
    fi
    # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of words on purpose
    initdb --username="$user" "${password_args[@]}" ${POSTGRES_INITDB_ARGS:-}
    [ -z "$pwfile" ] || rm -f "$pwfile"

    # Loopback inside the container stays trusted (as upstream); anything else needs a password.
    printf '\nhost all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"
    printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"

    # Unix socket only, so nobody outside sees a half-initialised server.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p 5432" -w start

    export PGUSER="$user" PGPASSWORD="${POSTGRES_PASSWORD}" PGHOST=/var/run/postgresql PGPORT=5432
    local db="${POSTGRES_DB:-$user}"
    local -a psql=(psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$user" --no-password)
    if [ "$db" != 'postgres' ]; then
        local exists
        exists="$("${psql[@]}" --dbname postgres --set db="$db" -tA <<< "SELECT 1 FROM pg_database WHERE datname = :'db';")"
        if [ -z "$exists" ]; then
            "${psql[@]}" --dbname postgres --set db="$db" <<< 'CREATE DATABASE :"db";'
        fi
    fi
    export PGDATABASE="$db"

    local script
    for script in /docker-entrypoint-initdb.d/*; do
        [ -e "$script" ] || continue
        case "$script" in
            *.sh)
                if [ -x "$script" ]; then
                    log "running $script"; "$script"
                else
                    # shellcheck disable=SC1090
                    log "sourcing $script"; . "$script"
                fi
                ;;
            *.sql) log "running $script"; "${psql[@]}" --dbname "$db" -f "$script" ;;
            *.sql.gz) log "running $script"; gunzip -c "$script" | "${psql[@]}" --dbname "$db" ;;
            *) log "ignoring $script" ;;
        esac
    done

    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGUSER PGPASSWORD PGHOST PGPORT PGDATABASE
    log 'init process complete; ready for start up'
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    initialise_cluster
fi

exec "$@"
