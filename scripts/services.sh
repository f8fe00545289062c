#!/usr/bin/env bash
# Start (or stop) the PostgreSQL and MariaDB servers the storage contract tests run against
# (tests/test_store_contract.py), on 127.0.0.1 only, with private data directories outside the repo.
#
#   scripts/services.sh          start both (installs the Debian packages first if needed), wait
#                                until they accept connections, ensure the test user, print the URLs
#                                and write them to urls.env in the services directory
#   scripts/services.sh stop     stop both (data directories are kept)
#   scripts/services.sh status   say which are running, and on which ports
#   scripts/services.sh restart postgresql|mariadb   stop and start one (the cluster tests use it)
#   scripts/services.sh env      `export` lines for the URLs of urls.env that the environment does
#                                not set already (make bench-cluster evals them)
#
# Idempotent: a re-run with both servers up only checks them and the user (well under a second).
# Works as root on a fresh Debian 12 machine (servers then run as the `postgres` / `mysql` system
# users, since PostgreSQL refuses root) and as an ordinary user with sudo for the apt step.
#
# Ports: a server starts on the port it had last time, else on its default port; when another
# program listens there (a second checkout's servers, the system's PostgreSQL) it takes the next
# free port and says so. The tests read urls.env (tests/stores_support.py), so they follow. A port
# set in the environment is used as given: if it is taken, the start fails saying so.
#
# Environment:
#   FASTSCHEDULER_SERVICES_DIR   data, sockets, logs, urls.env (default /tmp/fastscheduler-services)
#   FASTSCHEDULER_PG_PORT        PostgreSQL TCP port (default: as above, from 55432)
#   FASTSCHEDULER_MYSQL_PORT     MariaDB TCP port (default: as above, from 53306)
#
# The servers are throwaway test servers: fsync is off, and the user `fastscheduler` (password
# `fastscheduler`) may create and drop databases. Never expose them beyond 127.0.0.1.
set -euo pipefail
# runuser, useradd (and Debian's server tools) live in sbin, which a minimal PATH (make test-wheel's
# clean environment) leaves out.
export PATH="$PATH:/usr/local/sbin:/usr/sbin:/sbin"
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

DIR="${FASTSCHEDULER_SERVICES_DIR:-/tmp/fastscheduler-services}"
[[ "$DIR" == /* ]] || DIR="$PWD/$DIR"
DEFAULT_PG_PORT=55432
DEFAULT_MY_PORT=53306
DB_USER=fastscheduler
DB_PASSWORD=fastscheduler
ACTION="${1:-start}"
URLS="$DIR/urls.env"

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

# As root the servers and their tools run as the `postgres` / `mysql` users, who may not enter the
# caller's working directory (a checkout under a 0700 home directory): work from $DIR instead.
mkdir -p "$DIR"
cd "$DIR"

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

prepare_dir() { # prepare_dir PATH USER : create PATH (mode 700) owned by USER, who must reach it
    mkdir -p "$1"
    [[ $IS_ROOT -eq 1 ]] && chown "$2:" "$1"
    chmod 700 "$1"
    as_user "$2" test -w "$1" -a -x "$1" ||
        die "the $2 user cannot reach $1 (is a parent directory private?): set FASTSCHEDULER_SERVICES_DIR to a directory it can enter (default /tmp/fastscheduler-services)"
}

# choose_port NAME VARIABLE DEFAULT PORT_FILE : the port a stopped server starts on (see the top)
choose_port() {
    local name="$1" variable="$2" wanted="$3" file="$4" port
    if [[ -n "${!variable:-}" ]]; then
        port="${!variable}"
        [[ "$port" =~ ^[0-9]+$ ]] || die "$variable=$port is not a port number"
        [[ "$(bash "$HERE/free-port.sh" "$port" || true)" == "$port" ]] ||
            die "$(port_taken "$name" "$port" "$variable")"
        echo "$port"
        return
    fi
    [[ -s "$file" ]] && wanted="$(cat "$file")"
    port="$(bash "$HERE/free-port.sh" "$wanted")" || die "no free port for $name from $wanted: set $variable"
    if [[ "$port" != "$wanted" ]]; then
        log "127.0.0.1:$wanted is in use by another program$(bash "$HERE/free-port.sh" --who "$wanted"):" \
            "$name takes 127.0.0.1:$port (set $variable to choose)"
    fi
    echo "$port"
}

port_taken() { # port_taken NAME PORT VARIABLE : the message for a port someone else listens on
    echo "$1 cannot listen on 127.0.0.1:$2, which another program uses$(bash "$HERE/free-port.sh" --who "$2")." \
        "Set $3 to a free port, or unset it and the next free port is taken"
}

new_log_lines() { # new_log_lines FILE LINES : what FILE got after its first LINES lines
    [[ -f "$1" ]] && tail -n +"$(($2 + 1))" "$1"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL

pg_running() {
    local bin="$1" user="$2"
    [[ -f "$PG_DATA/PG_VERSION" ]] && as_user "$user" "$bin/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

pg_port() { # the running server's port (postmaster.pid, line 4)
    sed -n 4p "$PG_DATA/postmaster.pid"
}

pg_start() {
    local bin user port
    bin="$(pg_bindir)"
    user="$(service_user postgres)"
    chmod 755 "$DIR"
    if pg_running "$bin" "$user"; then
        port="$(pg_port)"
        if [[ -n "${FASTSCHEDULER_PG_PORT:-}" && "$FASTSCHEDULER_PG_PORT" != "$port" ]]; then
            log "PostgreSQL runs on 127.0.0.1:$port already; FASTSCHEDULER_PG_PORT applies from '$0 restart postgresql'"
        fi
    else
        prepare_dir "$PG_ROOT" "$user"
        if [[ ! -f "$PG_DATA/PG_VERSION" ]]; then
            log "initialising PostgreSQL data in $PG_DATA"
            rm -rf "$PG_DATA"
            as_user "$user" "$bin/initdb" -D "$PG_DATA" -U postgres -E UTF8 --locale=C \
                --auth-local=trust --auth-host=scram-sha-256 --no-sync >"$PG_ROOT/initdb.log" 2>&1 ||
                die "initdb failed, see $PG_ROOT/initdb.log"
            as_user "$user" tee -a "$PG_DATA/postgresql.conf" >/dev/null <<EOF
# fastscheduler test server (scripts/services.sh, which gives the port when it starts the server)
listen_addresses = '127.0.0.1'
unix_socket_directories = '$PG_RUN'
max_connections = 100
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
        fi
        prepare_dir "$PG_RUN" "$user"
        port="$(choose_port PostgreSQL FASTSCHEDULER_PG_PORT "$DEFAULT_PG_PORT" "$PG_ROOT/port")"
        log "starting PostgreSQL on 127.0.0.1:$port"
        local seen=0
        [[ -f "$PG_LOG" ]] && seen="$(wc -l <"$PG_LOG")"
        if ! as_user "$user" "$bin/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -o "-p $port" -w -t 60 start >/dev/null; then
            # The port was free a moment ago; someone may have taken it since.
            if new_log_lines "$PG_LOG" "$seen" | grep -q 'could not bind.*Address already in use'; then
                die "$(port_taken PostgreSQL "$port" FASTSCHEDULER_PG_PORT) (see $PG_LOG)"
            fi
            die "PostgreSQL did not start, see $PG_LOG"
        fi
    fi
    echo "$port" >"$PG_ROOT/port"
    local ready=0
    for _ in $(seq 1 120); do
        if as_user "$user" "$bin/pg_isready" -q -h "$PG_RUN" -p "$port" &&
            "$bin/pg_isready" -q -h 127.0.0.1 -p "$port"; then
            ready=1
            break
        fi
        sleep 0.5
    done
    [[ $ready -eq 1 ]] || die "PostgreSQL is not accepting connections, see $PG_LOG"
    as_user "$user" "$bin/psql" -q -v ON_ERROR_STOP=1 -h "$PG_RUN" -p "$port" -U postgres -d postgres \
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
        pg_port >"$PG_ROOT/port" || true # the next start takes the same port
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

my_port() { # the running server's port
    my_client -N -B -e 'SELECT @@port'
}

my_start() {
    local server user port
    server="$(mariadb_server)"
    user="$(service_user mysql)"
    chmod 755 "$DIR"
    if my_running; then
        port="$(my_port)"
        if [[ -n "${FASTSCHEDULER_MYSQL_PORT:-}" && "$FASTSCHEDULER_MYSQL_PORT" != "$port" ]]; then
            log "MariaDB runs on 127.0.0.1:$port already; FASTSCHEDULER_MYSQL_PORT applies from '$0 restart mariadb'"
        fi
    else
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
        port="$(choose_port MariaDB FASTSCHEDULER_MYSQL_PORT "$DEFAULT_MY_PORT" "$MY_ROOT/port")"
        log "starting MariaDB on 127.0.0.1:$port"
        local server_args=(--no-defaults --datadir="$MY_DATA" --socket="$MY_SOCK" --pid-file="$MY_PID"
            --port="$port" --bind-address=127.0.0.1 --log-error="$MY_LOG" --skip-name-resolve
            --innodb-flush-log-at-trx-commit=0 --innodb-buffer-pool-size=64M --innodb-doublewrite=0
            --max-connections=200)
        [[ $IS_ROOT -eq 1 ]] && server_args+=(--user="$user")
        local seen=0
        [[ -f "$MY_LOG" ]] && seen="$(wc -l <"$MY_LOG")"
        # setsid + nohup: the server outlives this script and the shell that ran it.
        setsid nohup "$server" "${server_args[@]}" >/dev/null 2>&1 </dev/null &
        local ready=0
        for _ in $(seq 1 120); do
            if my_running; then
                ready=1
                break
            fi
            # A server that gave up says so in its log: no need to wait out the minute.
            new_log_lines "$MY_LOG" "$seen" | grep -q '\[ERROR\] Aborting' && break
            sleep 0.5
        done
        if [[ $ready -eq 0 ]]; then
            # The port was free a moment ago; someone may have taken it since.
            if new_log_lines "$MY_LOG" "$seen" | grep -q 'Bind on TCP/IP port.*Address already in use'; then
                die "$(port_taken MariaDB "$port" FASTSCHEDULER_MYSQL_PORT) (see $MY_LOG)"
            fi
            die "MariaDB did not start, see $MY_LOG"
        fi
    fi
    echo "$port" >"$MY_ROOT/port"
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
        my_port >"$MY_ROOT/port" || true # the next start takes the same port
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

write_urls() { # urls.env: the admin URLs, from the ports the servers started on
    local pg_port="$DEFAULT_PG_PORT" my_port="$DEFAULT_MY_PORT"
    [[ -s "$PG_ROOT/port" ]] && pg_port="$(cat "$PG_ROOT/port")"
    [[ -s "$MY_ROOT/port" ]] && my_port="$(cat "$MY_ROOT/port")"
    printf '%s\n' \
        "FASTSCHEDULER_TEST_POSTGRES_URL=postgresql://$DB_USER:$DB_PASSWORD@127.0.0.1:$pg_port/postgres" \
        "FASTSCHEDULER_TEST_MYSQL_URL=mysql://$DB_USER:$DB_PASSWORD@127.0.0.1:$my_port/mysql" >"$URLS.tmp"
    chmod 644 "$URLS.tmp"
    mv -f "$URLS.tmp" "$URLS"
}

case "$ACTION" in
start)
    install_packages
    pg_start
    my_start
    write_urls
    log "PostgreSQL and MariaDB are up (data in $DIR, URLs in $URLS)"
    cat "$URLS"
    ;;
stop)
    pg_stop
    my_stop
    log "stopped"
    ;;
status)
    rc=0
    if [[ -n "$(pg_bindir)" ]] && pg_running "$(pg_bindir)" "$(service_user postgres)"; then
        log "PostgreSQL: running on 127.0.0.1:$(pg_port)"
    else
        log "PostgreSQL: not running"
        rc=1
    fi
    if [[ -n "$(mariadb_server)" ]] && my_running; then
        log "MariaDB: running on 127.0.0.1:$(my_port)"
    else
        log "MariaDB: not running"
        rc=1
    fi
    exit $rc
    ;;
env) # export lines for the URLs the caller's environment does not set
    [[ -f "$URLS" ]] || die "no $URLS: run $0 first"
    while IFS='=' read -r name value; do
        [[ -n "${!name:-}" ]] || printf 'export %s=%q\n' "$name" "$value"
    done <"$URLS"
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
    write_urls
    log "${2} restarted"
    ;;
*)
    die "usage: $0 [start|stop|status|env|restart postgresql|mariadb]"
    ;;
esac
