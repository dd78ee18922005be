#!/usr/bin/env bash
# duet's acknowledged changes beside PostgreSQL with a synchronous streaming
# standby, on this machine, in one run (BENCHMARKS.md, "Beside PostgreSQL").
#
# PostgreSQL: Debian's server binaries (apt-get install postgresql), a
# primary and a standby in a temporary directory on loopback, the standby
# streaming and named in synchronous_standby_names, synchronous_commit on,
# fsync on: a commit returns once its WAL is flushed on the primary and on
# the standby, as a duet change is acknowledged once both nodes hold it.
# pgbench runs a one-row insert per transaction (a chat message's size)
# at 1, 8 and 64 clients, each for SECONDS. CPU: both servers' processes,
# from /proc (the postmasters' reaped children included).
#
# duet: `cargo bench -p duet --bench contact -- --chats 0`, part a (chats
# started and messages sent, each acknowledged once the backup holds it),
# at the same client counts and SECONDS. Then one table of both with the
# ratio and the server CPU per acknowledged write.
#
# scripts/bench-postgres.sh [SECONDS]     (default 5)
set -euo pipefail

seconds=${1:-5}
repo=$(cd "$(dirname "$0")/.." && pwd)
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [[ -z "$bin" || ! -x "$bin/postgres" ]]; then
  echo "no PostgreSQL server in /usr/lib/postgresql/*/bin: apt-get install postgresql" >&2
  exit 1
fi

dir=$(mktemp -d /tmp/duet-pgbench.XXXXXX)
# PostgreSQL refuses to run as root: its commands run as postgres.
as_pg() {
  if [[ $(id -u) == 0 ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}
[[ $(id -u) == 0 ]] && chown postgres: "$dir"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
primary_port=$(free_port)
standby_port=$(free_port)

stop() {
  for data in "$dir/standby" "$dir/primary"; do
    [[ -f "$data/postmaster.pid" ]] && as_pg "$bin/pg_ctl" -D "$data" -m fast -w -t 30 stop >/dev/null 2>&1 || true
  done
  rm -rf "$dir"
}
trap stop EXIT

as_pg "$bin/initdb" --auth=trust --username=postgres --encoding=UTF8 --locale=C -D "$dir/primary" >/dev/null
cat >>"$dir/primary/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$dir'
wal_level = replica
max_wal_senders = 4
synchronous_commit = on
synchronous_standby_names = 'standby'
max_connections = 100
EOF
echo "host replication postgres 127.0.0.1/32 trust" >>"$dir/primary/pg_hba.conf"
as_pg "$bin/pg_ctl" -D "$dir/primary" -o "-p $primary_port" -l "$dir/primary.log" -w -t 30 start >/dev/null

as_pg "$bin/pg_basebackup" -h 127.0.0.1 -p "$primary_port" -U postgres -D "$dir/standby" >/dev/null
cat >>"$dir/standby/postgresql.auto.conf" <<EOF
primary_conninfo = 'host=127.0.0.1 port=$primary_port user=postgres application_name=standby'
EOF
as_pg touch "$dir/standby/standby.signal"
as_pg "$bin/pg_ctl" -D "$dir/standby" -o "-p $standby_port" -l "$dir/standby.log" -w -t 30 start >/dev/null

psql() { as_pg "$bin/psql" -h 127.0.0.1 -p "$primary_port" -U postgres -X -q -t -A "$@"; }
for _ in $(seq 1 100); do
  [[ $(psql -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'") == sync ]] && break
  sleep 0.1
done
if [[ $(psql -c "SELECT sync_state FROM pg_stat_replication WHERE application_name = 'standby'") != sync ]]; then
  echo "the standby is not a synchronous standby; its log:" >&2
  tail -20 "$dir/standby.log" >&2
  exit 1
fi
psql -c "CREATE DATABASE bench"
psql -d bench -c "CREATE TABLE messages (id bigserial PRIMARY KEY, body text NOT NULL, at timestamptz NOT NULL DEFAULT now())"
as_pg tee "$dir/insert.sql" >/dev/null <<'EOF'
INSERT INTO messages (body) VALUES ('Hello, is anyone there? I would like to ask about my order.');
EOF

# utime + stime of a server: its postmaster (with the children it reaped)
# and every process it still has, in clock ticks.
ticks() {
  local postmaster
  postmaster=$(head -1 "$1/postmaster.pid")
  {
    awk '{ sub(/.*\) /, ""); print $12 + $13 + $14 + $15 }' "/proc/$postmaster/stat"
    for child in $(ps -o pid= --ppid "$postmaster"); do
      awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$child/stat" 2>/dev/null || true
    done
  } | awk '{ s += $1 } END { print s }'
}
hz=$(getconf CLK_TCK)

echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}'), a synchronous standby; pgbench, one-row insert per transaction, ${seconds} s a step"
declare -A pg_tps pg_us
for clients in 1 8 64; do
  before=$(( $(ticks "$dir/primary") + $(ticks "$dir/standby") ))
  out=$(as_pg "$bin/pgbench" -n -M prepared -h 127.0.0.1 -p "$primary_port" -U postgres \
    -c "$clients" -j "$clients" -T "$seconds" -f "$dir/insert.sql" bench 2>&1)
  after=$(( $(ticks "$dir/primary") + $(ticks "$dir/standby") ))
  tx=$(awk '/number of transactions actually processed/ { split($0, a, ": "); split(a[2], b, "/"); print b[1] }' <<<"$out")
  tps=$(awk '/^tps = / { print $3 }' <<<"$out")
  latency=$(awk '/^latency average/ { print $4 }' <<<"$out")
  pg_tps[$clients]=$tps
  pg_us[$clients]=$(awk -v t=$((after - before)) -v hz="$hz" -v n="$tx" 'BEGIN { printf "%.0f", t / hz / n * 1e6 }')
  echo "| $clients clients | $tx transactions | $(printf '%.0f' "$tps")/s | latency average $latency ms | servers' CPU $(awk -v t=$((after - before)) -v hz="$hz" -v s="$seconds" 'BEGIN { printf "%.0f", t / hz / s * 100 }')% of a core | ${pg_us[$clients]} µs per transaction |"
done
stop
trap - EXIT

echo
echo "duet: cargo bench -p duet --bench contact -- --chats 0 --clients 64 --seconds $seconds"
duet_out=$(cd "$repo" && cargo bench -q -p duet --bench contact -- --chats 0 --clients 64 --seconds "$seconds" 2>/dev/null)
echo "$duet_out"

echo
echo "| clients | duet changes/s | PostgreSQL transactions/s | ratio | duet CPU per change, both nodes, µs | PostgreSQL CPU per transaction, both servers, µs |"
echo "|---|---|---|---|---|---|"
# contact's rows: | clients | seconds | changes | changes/s | p50 | p99 | CPU active % | CPU backup % | CPU bench % |
while IFS='|' read -r _ clients elapsed changes rate _ _ active backup _; do
  clients=${clients// /}
  [[ -n "${pg_tps[$clients]:-}" ]] || continue
  awk -v c="$clients" -v r="$rate" -v p="${pg_tps[$clients]}" -v e="$elapsed" -v n="$changes" \
    -v a="$active" -v b="$backup" -v pu="${pg_us[$clients]}" \
    'BEGIN { printf "| %d | %.0f | %.0f | %.2f | %.0f | %s |\n", c, r, p, r / p, (a + b) / 100 * e / n * 1e6, pu }'
done < <(grep -E '^\| [0-9]+ \| [0-9.]+ \|' <<<"$duet_out")
