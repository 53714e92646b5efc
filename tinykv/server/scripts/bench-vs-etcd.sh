#!/usr/bin/env bash
# Side-by-side benchmark: a 3-member etcd cluster and a tinykv-server, both
# on loopback with their data on local disk and every write synced, measured
# by the same tool (tinykv-bench) with the same workload: puts of 256-byte
# values from 1 client, then from 64.
#
# By default tinykv is ONE standalone server (Project 1); with --raft it is
# a 3-store raft cluster (`--store raft`, fsync on), raft against raft; etcd
# replicates every write to a majority of 3 members.
#
#   tinykv/server/scripts/bench-vs-etcd.sh [--install] [--raft] [--no-etcd] [--total N] [--dir DIR] [--bin DIR]
#
#   --raft       3 tinykv-server --store raft processes instead of one
#                standalone server (ports TINYKV_BASE_PORT+1..+3, default
#                20261..20263)
#   --no-etcd    measure tinykv only (etcd need not be installed)
#   --install    apt-get install -y etcd-server etcd-client first (as root)
#   --total N    operations per run (default 5000)
#   --dir DIR    where the data goes, kept afterwards (default: a fresh
#                directory under target/ — local disk, not a tmpfs —
#                removed at the end)
#   --bin DIR    take tinykv-server and tinykv-bench from DIR instead of
#                building them (e.g. a copy of an earlier build, to compare
#                before and after a change)
# Environment: ETCD_BASE_PORT (default 23790: members use BASE..BASE+5),
# CARGO_TARGET_DIR as for cargo.
set -euo pipefail

install=0
raft=0
etcd=1
total=5000
dir=""
bin=""
while [ $# -gt 0 ]; do
    case "$1" in
        --install) install=1 ;;
        --total) total="${2:?--total needs a number}"; shift ;;
        --dir) dir="${2:?--dir needs a path}"; shift ;;
        --bin) bin="${2:?--bin needs a directory}"; shift ;;
        --raft) raft=1 ;;
        --no-etcd) etcd=0 ;;
        -h|--help) sed -n '2,27p' "$0"; exit 0 ;;
        *) echo "bench-vs-etcd: unknown argument $1 (try --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$install" = 1 ]; then
    if [ "$(id -u)" != 0 ]; then
        echo "bench-vs-etcd: --install needs root (apt-get)" >&2
        exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y etcd-server etcd-client
fi
if [ "$etcd" = 1 ] && ! command -v etcd > /dev/null; then
    echo "bench-vs-etcd: etcd is not installed; run with --install (Debian: etcd-server etcd-client)" >&2
    exit 1
fi

root="$(cd "$(dirname "$0")/../../.." && pwd)"
target="${CARGO_TARGET_DIR:-$root/target}"
# Binaries first: a missing one must not leave a data directory behind.
if [ -z "$bin" ]; then
    (cd "$root" && cargo build --release -q -p tinykv-server --bins)
    bin="$target/release"
fi
for b in tinykv-server tinykv-bench; do
    if [ ! -x "$bin/$b" ]; then
        echo "bench-vs-etcd: $bin/$b is missing" >&2
        exit 1
    fi
done
made=""
if [ -z "$dir" ]; then
    mkdir -p "$target"
    dir="$(mktemp -d "$target/bench-vs-etcd.XXXXXX")"
    made="$dir"
fi
mkdir -p "$dir"
echo "data in $dir ($(df -T "$dir" | awk 'NR==2 {print $2}'))"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    # Only the directory this script made (a --dir is the user's).
    if [ -n "$made" ]; then rm -rf -- "$made"; fi
}
trap cleanup EXIT

base="${ETCD_BASE_PORT:-23790}"
cluster=""
endpoints=""
for i in 1 2 3; do
    peer=$((base + 2 * (i - 1) + 1))
    cluster="${cluster:+$cluster,}m$i=http://127.0.0.1:$peer"
done
for i in 1 2 3; do
    [ "$etcd" = 1 ] || break
    client=$((base + 2 * (i - 1)))
    peer=$((client + 1))
    endpoints="${endpoints:+$endpoints,}http://127.0.0.1:$client"
    etcd --name "m$i" --data-dir "$dir/etcd-m$i" \
        --listen-client-urls "http://127.0.0.1:$client" \
        --advertise-client-urls "http://127.0.0.1:$client" \
        --listen-peer-urls "http://127.0.0.1:$peer" \
        --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
        --initial-cluster "$cluster" --initial-cluster-state new \
        --initial-cluster-token "bench-$$" > "$dir/etcd-m$i.log" 2>&1 &
    pids+=($!)
done
if [ "$etcd" = 1 ]; then
    for _ in $(seq 100); do
        if ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health > /dev/null 2>&1; then
            break
        fi
        sleep 0.2
    done
    if ! ETCDCTL_API=3 etcdctl --endpoints "$endpoints" endpoint health; then
        echo "bench-vs-etcd: the etcd cluster did not become healthy; see $dir/etcd-m*.log" >&2
        exit 1
    fi
fi

# Waits for the address line of the server writing to $1.
address_of() {
    local a=""
    for _ in $(seq 100); do
        a="$(awk '/listening on/ {print $4; exit}' "$1")"
        [ -n "$a" ] && break
        sleep 0.1
    done
    echo "$a"
}
addr=""
if [ "$raft" = 1 ]; then
    tbase="${TINYKV_BASE_PORT:-20260}"
    members="1=127.0.0.1:$((tbase + 1)),2=127.0.0.1:$((tbase + 2)),3=127.0.0.1:$((tbase + 3))"
    for i in 1 2 3; do
        "$bin/tinykv-server" --store raft --store-id "$i" --addr "127.0.0.1:$((tbase + i))" \
            --cluster "$members" --engine disk --data-dir "$dir/tinykv-$i" \
            > "$dir/tinykv-$i.out" 2> "$dir/tinykv-$i.log" &
        pids+=($!)
    done
    for i in 1 2 3; do
        a="$(address_of "$dir/tinykv-$i.out")"
        if [ -z "$a" ]; then
            echo "bench-vs-etcd: tinykv-server store $i did not start; see $dir/tinykv-$i.log" >&2
            exit 1
        fi
        addr="${addr:+$addr,}$a"
    done
    kind="3 raft stores"
else
    "$bin/tinykv-server" --store standalone --engine disk --data-dir "$dir/tinykv" \
        --addr 127.0.0.1:0 > "$dir/tinykv.out" 2> "$dir/tinykv.log" &
    pids+=($!)
    addr="$(address_of "$dir/tinykv.out")"
    if [ -z "$addr" ]; then
        echo "bench-vs-etcd: tinykv-server did not start; see $dir/tinykv.log" >&2
        exit 1
    fi
    kind="standalone"
fi
echo "etcd: ${endpoints:-not run}   tinykv: $addr ($kind, disk, synced)"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) cores"

for clients in 1 64; do
    for t in tinykv etcd; do
        if [ "$t" = etcd ] && [ "$etcd" = 0 ]; then continue; fi
        if [ "$t" = tinykv ]; then ep="$addr"; else ep="$endpoints"; fi
        "$bin/tinykv-bench" --target "$t" --endpoints "$ep" --workload put \
            --clients "$clients" --value-size 256 --total "$total" --no-progress \
            | if [ "$clients$t" = 1tinykv ]; then cat; else tail -n +2; fi
    done
done
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$raft" = 1 ]; then
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    wait 2> /dev/null || true
    pids=()
    cat "$dir"/tinykv-*.log | grep stopped || true
fi
