#!/usr/bin/env bash
# Start (or stop) the PostgreSQL and MariaDB servers the storage contract tests run against
# (tests/test_store_contract.py), on 127.0.0.1 only, with private data directories outside the repo.
#
#   scripts/services.sh          start both (installs the Debian packages first if needed), wait
#                                until they accept connections, ensure the test user, print the URLs
#   scripts/services.sh stop     stop both (data directories are kept)
#   scripts/services.sh status   say which are running
#   scripts/services.sh restart postgresql|mariadb   stop and start one (the cluster tests use it)
#
# Idempotent: a re-run with both servers up only checks them and the user (well under a second).
# Works as root on a fresh Debian 12 machine (servers then run as the `postgres` / `mysql` system
# users, since PostgreSQL refuses root) and as an ordinary user with sudo for the apt step.
#
# Environment:
#   FASTSCHEDULER_SERVICES_DIR   data, sockets and logs (default /tmp/fastscheduler-services)
#   FASTSCHEDULER_PG_PORT        PostgreSQL TCP port (default 55432)
#   FASTSCHEDULER_MYSQL_PORT     MariaDB TCP port (default 53306)
#
# The servers are throwaway test servers: fsync is off, and the user `fastscheduler` (password
# `fastscheduler`) may create and drop databases. Never expose them beyond 127.0.0.1.
set -euo pipefail
# runuser, useradd (and Debian's server tools) live in sbin, which a minimal PATH (make test-wheel's
# clean environment) leaves out.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"

DIR="${FASTSCHEDULER_SERVICES_DIR:-/tmp/fastscheduler-services}"
PG_PORT="${FASTSCHEDULER_PG_PORT:-55432}"
MY_PORT="${FASTSCHEDULER_MYSQL_PORT:-53306}"
DB_USER=fastscheduler
DB_PASSWORD=fastscheduler
ACTION="${1:-start}"

PG_ROOT="$DIR/postgresql"
PG_DATA="$PG_ROOT/data"
PG_RUN="$PG_ROOT/run"
PG_LOG="$PG_ROOT/server.log"
MY_ROOT="$DIR/mariadb"
MY_DATA="$MY_ROOT/data"
MY_SOCK="$MY_ROOT/mysqld.sock"
MY_PID="$MY_ROOT/mysqld.pid"
MY_LOG="$MY_ROOT/server.log"

log() { echo "services: $*" >&2; }
die() {
    log "error: $*"
    exit 1
}

IS_ROOT=0
[[ "$(id -u)" -eq 0 ]] && IS_ROOT=1

pg_bindir() {
    # Debian keeps the server binaries out of PATH, under /usr/lib/postgresql/<major>/bin.
    local d
    d="$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n 1)"
    if [[ -n "$d" && -x "$d/postgres" && -x "$d/initdb" ]]; then
        echo "$d"
    elif command -v initdb >/dev/null && command -v postgres >/dev/null; then
        dirname "$(command -v postgres)"
    fi
}

mariadb_server() {
    local b
    for b in /usr/sbin/mariadbd /usr/sbin/mysqld "$(command -v mariadbd || true)"; do
        if [[ -n "$b" && -x "$b" ]]; then
            echo "$b"
            return
        fi
    done
}

mariadb_tool() { # mariadb-install-db / mariadb-admin / mariadb, or their older mysql* names
    local name="$1" old="$2" b
    for b in "$name" "$old"; do
        if command -v "$b" >/dev/null; then
            command -v "$b"
            return
        fi
    done
    die "$name not found (is mariadb-server installed?)"
}

install_packages() {
    local missing=()
    [[ -n "$(pg_bindir)" ]] || missing+=(postgresql)
    [[ -n "$(mariadb_server)" ]] || missing+=(mariadb-server)
    [[ ${#missing[@]} -eq 0 ]] && return
    log "installing ${missing[*]} from Debian packages"
    local sudo=()
    [[ $IS_ROOT -eq 1 ]] || sudo=(sudo)
    # Keep the packages' own services (port 5432 / 3306) from starting: we run private instances.
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [[ ! -e $policy ]]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod 755 "$policy"
        made_policy=1
    fi
    local status=0
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get update -q >&2 || status=$?
    if [[ $status -eq 0 ]]; then
        DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends \
            -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold "${missing[@]}" >&2 ||
            status=$?
    fi
    [[ $made_policy -eq 1 ]] && "${sudo[@]}" rm -f "$policy"
    [[ $status -eq 0 ]] || die "apt-get failed installing ${missing[*]}"
    [[ -n "$(pg_bindir)" ]] || die "postgresql installed but no server binaries under /usr/lib/postgresql"
    [[ -n "$(mariadb_server)" ]] || die "mariadb-server installed but no mariadbd found"
}

# The OS user a server runs as: ourselves, or (as root) the package's system user.
service_user() {
    local wanted="$1"
    if [[ $IS_ROOT -eq 0 ]]; then
        id -un
        return
    fi
    if ! id -u "$wanted" >/dev/null 2>&1; then
        useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$wanted"
    fi
    echo "$wanted"
}

as_user() { # as_user USER CMD... : run CMD as USER (plainly when that is already us)
    local user="$1"
    shift
    if [[ "$user" == "$(id -un)" ]]; then
        "$@"
    else
        runuser -u "$user" -- "$@"
    fi
}

prepare_dir() { # prepare_dir PATH USER : create PATH (mode 700) owned by USER
    mkdir -p "$1"
    [[ $IS_ROOT -eq 1 ]] && chown "$2:" "$1"
    chmod 700 "$1"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

pg_running() {
    local bin="$1" user="$2"
    [[ -f "$PG_DATA/PG_VERSION" ]] && as_user "$user" "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_start() {
    local bin user
    bin="$(pg_bindir)"
    user="$(service_user postgres)"
    mkdir -p "$DIR"
    chmod 755 "$DIR"
    if ! pg_running "$bin" "$user"; then
        prepare_dir "$PG_ROOT" "$user"
        if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
            log "initialising PostgreSQL data in $PG_DATA"
            rm -rf "$PG_DATA"
            as_user "$user" "$bin/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C \
                --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$PG_ROOT/initdb.log" 2>&1 ||
                die "initdb failed, see $PG_ROOT/initdb.log"
            as_user "$user" tee -a "$PG_DATA/postgresql.conf" >/dev/null <<EOF
# fastscheduler test server (scripts/services.sh)
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_RUN'
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
        fi
        prepare_dir "$PG_RUN" "$user"
        log "starting PostgreSQL on 127.0.0.1:$PG_PORT"
        as_user "$user" "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t 60 start >/dev/null ||
            die "PostgreSQL did not start, see $PG_LOG"
    fi
    local ready=0
    for _ in $(seq 1 120); do
        if as_user "$user" "$bin/pg_isready" -q -h "$PG_RUN" -p "$PG_PORT" &&
            "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT"; then
            ready=1
            break
        fi
        sleep 0.5
    done
    [[ $ready -eq 1 ]] || die "PostgreSQL is not accepting connections, see $PG_LOG"
    as_user "$user" "$bin/psql" -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$PG_PORT" -U postgres -d postgres \
        >/dev/null <<EOF || die "could not create the PostgreSQL user $DB_USER"
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$DB_USER') THEN
    CREATE ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
  ELSE
    ALTER ROLE $DB_USER LOGIN CREATEDB PASSWORD '$DB_PASSWORD';
  END IF;
END
\$\$;
EOF
}

pg_stop() {
    local bin user
    bin="$(pg_bindir)"
    [[ -n "$bin" && -f "$PG_DATA/PG_VERSION" ]] || return 0
    user="$(service_user postgres)"
    if pg_running "$bin" "$user"; then
        log "stopping PostgreSQL"
        as_user "$user" "$bin/pg_ctl" -D "$PG_DATA" -m fast -w -t 60 stop >/dev/null
    fi
}

# ---------------------------------------------------------------------------------------------
# MariaDB

my_client() { # my_client ARGS... : the admin client over the unix socket, as the OS user's account
    local sql_user=root
    [[ $IS_ROOT -eq 1 ]] || sql_user="$(id -un)"
    "$(mariadb_tool mariadb mysql)" --no-defaults --protocol=socket --socket="$MY_SOCK" -u "$sql_user" "$@"
}

my_running() {
    [[ -S "$MY_SOCK" ]] || return 1
    local sql_user=root
    [[ $IS_ROOT -eq 1 ]] || sql_user="$(id -un)"
    "$(mariadb_tool mariadb-admin mysqladmin)" --no-defaults --protocol=socket --socket="$MY_SOCK" \
        -u "$sql_user" --connect-timeout=2 ping >/dev/null 2>&1
}

my_start() {
    local server user
    server="$(mariadb_server)"
    user="$(service_user mysql)"
    mkdir -p "$DIR"
    chmod 755 "$DIR"
    if ! my_running; then
        prepare_dir "$MY_ROOT" "$user"
        if [[ ! -d "$MY_DATA/mysql" ]]; then
            log "initialising MariaDB data in $MY_DATA"
            rm -rf "$MY_DATA"
            local install_args=(--no-defaults --datadir="$MY_DATA" --auth-root-authentication-method=socket
                --skip-test-db)
            [[ $IS_ROOT -eq 1 ]] && install_args+=(--user="$user")
            "$(mariadb_tool mariadb-install-db mysql_install_db)" "${install_args[@]}" \
                >"$MY_ROOT/install-db.log" 2>&1 || die "mariadb-install-db failed, see $MY_ROOT/install-db.log"
        fi
        log "starting MariaDB on 127.0.0.1:$MY_PORT"
        local server_args=(--no-defaults --datadir="$MY_DATA" --socket="$MY_SOCK" --pid-file="$MY_PID"
            --port="$MY_PORT" --bind-address=127.0.0.1 --log-error="$MY_LOG" --skip-name-resolve
            --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=64M --innodb-doublewrite=0
            --max-connections=200)
        [[ $IS_ROOT -eq 1 ]] && server_args+=(--user="$user")
        # setsid + nohup: the server outlives this script and the shell that ran it.
        setsid nohup "$server" "${server_args[@]}" >/dev/null 2>&1 </dev/null &
        local ready=0
        for _ in $(seq 1 120); do
            if my_running; then
                ready=1
                break
            fi
            sleep 0.5
        done
        [[ $ready -eq 1 ]] || die "MariaDB did not start, see $MY_LOG"
    fi
    my_client >/dev/null <<EOF || die "could not create the MariaDB user $DB_USER"
CREATE USER IF NOT EXISTS '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
CREATE USER IF NOT EXISTS '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER '$DB_USER'@'127.0.0.1' IDENTIFIED BY '$DB_PASSWORD';
ALTER USER '$DB_USER'@'localhost' IDENTIFIED BY '$DB_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'127.0.0.1';
GRANT ALL PRIVILEGES ON *.* TO '$DB_USER'@'localhost';
EOF
}

my_stop() {
    [[ -n "$(mariadb_server)" ]] || return 0
    if my_running; then
        log "stopping MariaDB"
        my_client -e "SHUTDOWN" >/dev/null 2>&1 || true
    fi
    if [[ -f "$MY_PID" ]]; then
        local pid
        pid="$(cat "$MY_PID" 2>/dev/null || true)"
        for _ in $(seq 1 120); do
            if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then
                break
            fi
            sleep 0.5
        done
    fi
}

# ---------------------------------------------------------------------------------------------

print_urls() {
    echo "FASTSCHEDULER_TEST_POSTGRES_URL=postgresql://$DB_USER:$DB_PASSWORD@127.0.0.1:$PG_PORT/postgres"
    echo "FASTSCHEDULER_TEST_MYSQL_URL=mysql://$DB_USER:$DB_PASSWORD@127.0.0.1:$MY_PORT/mysql"
}

case "$ACTION" in
start)
    install_packages
    pg_start
    my_start
    log "PostgreSQL and MariaDB are up (data in $DIR)"
    print_urls
    ;;
stop)
    pg_stop
    my_stop
    log "stopped"
    ;;
status)
    rc=0
    if [[ -n "$(pg_bindir)" ]] && pg_running "$(pg_bindir)" "$(service_user postgres)"; then
        log "PostgreSQL: running on 127.0.0.1:$PG_PORT"
    else
        log "PostgreSQL: not running"
        rc=1
    fi
    if [[ -n "$(mariadb_server)" ]] && my_running; then
        log "MariaDB: running on 127.0.0.1:$MY_PORT"
    else
        log "MariaDB: not running"
        rc=1
    fi
    exit $rc
    ;;
restart) # restart one server (the cluster tests restart the database under running schedulers)
    case "${2:-}" in
    postgresql)
        pg_stop
        pg_start
        ;;
    mariadb)
        my_stop
        my_start
        ;;
    *) die "usage: $0 restart postgresql|mariadb" ;;
    esac
    log "${2} restarted"
    ;;
*)
    die "usage: $0 [start|stop|status|restart postgresql|mariadb]"
    ;;
esac
