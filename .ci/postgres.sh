#!/usr/bin/env bash
# Start a throwaway PostgreSQL for promgate's store tests and print the URL:
#
#   eval "$(bash .ci/postgres.sh)"      # sets PROMGATE_TEST_POSTGRES_URL
#   bash .ci/postgres.sh stop           # stops the cluster (keeps its files)
#   bash .ci/postgres.sh destroy        # stops it and deletes its files
#
# Idempotent: run it again and it reuses the running cluster (or restarts a
# stopped one) and prints the same URL. Made for a fresh Debian machine run as
# root: it installs postgresql if missing and runs the server as the postgres
# user. Run as another user it runs the server as that user and cannot install.
#
# Only the export line goes to stdout; everything else goes to stderr, so that
# eval sees nothing else. The server listens on 127.0.0.1 only, with
# password (scram) authentication, and is tuned for speed, not durability
# (fsync off): never point it at data you want to keep.
#
# Environment:
#   PROMGATE_PG_PORT  port to listen on (default 55432)
#   PROMGATE_PG_DIR   where the cluster lives (default /var/tmp/promgate-ci-postgres-$PORT)
set -euo pipefail

port="${PROMGATE_PG_PORT:-55432}"
base="${PROMGATE_PG_DIR:-/var/tmp/promgate-ci-postgres-$port}"
data="$base/data"
sock="$base/sock"
log="$base/server.log"
pwfile="$base/password"
db=promgate_test
user=promgate

say() { echo "postgres.sh: $*" >&2; }
die() {
	say "error: $*"
	exit 1
}

# find_bindir prints the newest installed PostgreSQL server bin directory.
# Debian keeps initdb and pg_ctl out of PATH, under /usr/lib/postgresql/N/bin.
find_bindir() {
	local d
	d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
	if [[ -n "$d" && -x "$d/initdb" ]]; then
		echo "$d"
		return
	fi
	if command -v initdb >/dev/null 2>&1; then
		dirname "$(command -v initdb)"
	fi
}

# as_owner runs a command as the user that owns the cluster: postgres refuses
# to run as root.
as_owner() {
	if [[ $EUID -eq 0 ]]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

bindir="$(find_bindir)"

case "${1:-start}" in
start) ;;
stop | destroy)
	if [[ -n "$bindir" && -f "$data/PG_VERSION" ]]; then
		as_owner "$bindir/pg_ctl" -D "$data" -m fast -w stop >&2 || true
	fi
	if [[ "$1" == destroy ]]; then
		rm -rf "$base"
	fi
	exit 0
	;;
*) die "usage: $0 [start|stop|destroy]" ;;
esac

if [[ -z "$bindir" ]]; then
	[[ $EUID -eq 0 ]] || die "PostgreSQL is not installed and only root can install it"
	say "installing postgresql"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >&2
	apt-get install -y -qq postgresql >&2
	bindir="$(find_bindir)"
	[[ -n "$bindir" ]] || die "postgresql installed but initdb not found"
fi

if [[ $EUID -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
	die "no postgres user (is the postgresql package installed correctly?)"
fi

# Create the cluster once. The password is kept beside it so that later runs
# print the same URL.
if [[ ! -f "$data/PG_VERSION" ]]; then
	say "creating cluster in $data"
	rm -rf "$base"
	mkdir -p "$base" "$sock"
	chmod 700 "$base"
	umask 077
	od -An -N16 -tx1 /dev/urandom | tr -d ' \n' >"$pwfile"
	if [[ $EUID -eq 0 ]]; then
		chown -R postgres: "$base"
	fi
	# trust over the owner's unix socket only (for this script's psql);
	# TCP needs the password.
	as_owner "$bindir/initdb" -D "$data" -U postgres -E UTF8 --no-locale \
		--auth-local=trust --auth-host=scram-sha-256 >&2
	cat >>"$data/postgresql.conf" <<EOF

# Added by promgate .ci/postgres.sh: a throwaway test server.
listen_addresses = '127.0.0.1'
port = $port
unix_socket_directories = '$sock'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
EOF
fi

if as_owner "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
	say "reusing the running cluster in $data"
else
	# A leftover server on the port that is not ours would make us print a
	# URL for the wrong server.
	if "$bindir/pg_isready" -q -h 127.0.0.1 -p "$port" 2>/dev/null; then
		die "something else is listening on 127.0.0.1:$port; set PROMGATE_PG_PORT"
	fi
	say "starting the cluster on 127.0.0.1:$port (log: $log)"
	as_owner "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 start >&2 ||
		{
			tail -n 20 "$log" >&2 || true
			die "server did not start"
		}
fi

password="$(cat "$pwfile")"
psql_admin() {
	as_owner "$bindir/psql" -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"
}
# Setting the password every time repairs a role whose password was changed.
psql_admin -d postgres >&2 <<EOF
SELECT format('CREATE ROLE %I LOGIN', '$user')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '$user') \gexec
ALTER ROLE $user WITH LOGIN PASSWORD '$password';
SELECT format('CREATE DATABASE %I OWNER %I', '$db', '$user')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = '$db') \gexec
EOF

url="postgres://$user:$password@127.0.0.1:$port/$db?sslmode=disable"
# Prove the URL works over TCP with the password before handing it out.
PGPASSWORD="$password" "$bindir/psql" -X -q -h 127.0.0.1 -p "$port" -U "$user" -d "$db" -c 'SELECT 1' >/dev/null ||
	die "cannot connect as $user over TCP"
say "ready: $user@127.0.0.1:$port/$db"
echo "export PROMGATE_TEST_POSTGRES_URL='$url'"
