#!/usr/bin/env bash
# Two site clusters on loopback (docs/cluster.md, "Between site clusters"):
# an etcd per site, a 3-node US cluster and a 2-node MX cluster that
# replicate with each other; `historian cluster init` at each site, writes at
# both sites (each tag to its owner) with a site-wide alarm rule raising at
# every US member, the placement and status of each
# cluster, and a converged `historian verify --peer` both ways; then a
# fourth US node joins with `historian cluster add-node` (issue 21: the
# mover copies and tails its shards while MX keeps pulling) and both sites
# converge again; then everything stops. (The partition and heal are in the test:
# tests/server/cluster/xsite_replication_test.cc.)
# Uses an existing build (BUILD_DIR, default build: historiand, historian,
# the Python stubs) and /usr/bin/etcd.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BUILD_DIR:-build}
HISTORIAND=$BIN/server/historiand
CLI=$BIN/client/historian
ETCD=${ETCD:-/usr/bin/etcd}
export PYTHONPATH=$BIN/client/python
WRITE="/usr/bin/python3 scripts/cluster_demo_write.py"
for f in "$HISTORIAND" "$CLI" "$ETCD" "$BIN/client/python/historian/v1/cluster_pb2.py"; do
  [ -e "$f" ] || { echo "missing $f (build historiand historian historian_python first)"; exit 1; }
done
BASE=${DEMO_PORT:-17600}
WORK=$(mktemp -d /tmp/historian-cluster-demo-XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  [ -n "${KEEP:-}" ] && echo "logs kept in $WORK" || rm -rf "$WORK"
}
trap cleanup EXIT
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

US_NODES=(127.0.0.1:$((BASE + 0)) 127.0.0.1:$((BASE + 1)) 127.0.0.1:$((BASE + 2)))
US_NEW=127.0.0.1:$((BASE + 3))
MX_NODES=(127.0.0.1:$((BASE + 10)) 127.0.0.1:$((BASE + 11)))
US_ETCD=127.0.0.1:$((BASE + 20))
MX_ETCD=127.0.0.1:$((BASE + 22))
join() { local IFS="$1"; shift; echo "$*"; }

start_etcd() {  # site client_addr
  local site=$1 client=$2 peer=127.0.0.1:$((${2##*:} + 1))
  "$ETCD" --name="$site" --data-dir="$WORK/etcd-$site" \
    --listen-client-urls="http://$client" --advertise-client-urls="http://$client" \
    --listen-peer-urls="http://$peer" --initial-advertise-peer-urls="http://$peer" \
    --initial-cluster="$site=http://$peer" --log-level=warn >"$WORK/etcd-$site.log" 2>&1 &
  pids+=($!)
}

start_node() {  # site etcd addr peers index
  local site=$1 etcd=$2 addr=$3 peers=$4 i=$5
  "$HISTORIAND" --site="$site" --data_dir="$WORK/$site-$i" --listen="$addr" \
    --metrics_listen=127.0.0.1:0 --cluster_etcd="$etcd" --peers="$peers" \
    --peer_placement_poll=500ms >"$WORK/$site-$i.log" 2>&1 &
  pids+=($!)
}

wait_serving() {
  for addr in "$@"; do
    for _ in $(seq 200); do $CLI --server "$addr" stats >/dev/null 2>&1 && break; sleep 0.1; done
  done
}

step "etcd per site: US $US_ETCD, MX $MX_ETCD (no etcd traffic crosses sites)"
start_etcd us "$US_ETCD"
start_etcd mx "$MX_ETCD"
for e in "$US_ETCD" "$MX_ETCD"; do
  for _ in $(seq 100); do curl -fs "http://$e/health" >/dev/null 2>&1 && break; sleep 0.1; done
done

step "US cluster: ${US_NODES[*]}; MX cluster: ${MX_NODES[*]}"
for i in 0 1 2; do start_node us "$US_ETCD" "${US_NODES[$i]}" "mx=$(join '|' "${MX_NODES[@]}")" $i; done
for i in 0 1; do start_node mx "$MX_ETCD" "${MX_NODES[$i]}" "us=$(join '|' "${US_NODES[@]}")" $i; done
wait_serving "${US_NODES[@]}" "${MX_NODES[@]}"

step "historian cluster init (US 64 shards, MX 32: the sites' shard counts differ)"
# init places the members registered at that moment: wait for all of them.
wait_members() {  # etcd site count
  for _ in $(seq 200); do
    n=$(ETCDCTL_API=3 etcdctl --endpoints="http://$1" get --prefix --keys-only \
      "/historian/$2/members/" 2>/dev/null | grep -c . || true)
    [ "$n" -ge "$3" ] && return 0
    sleep 0.1
  done
  echo "not every $2 member registered in etcd"; exit 1
}
wait_members "$US_ETCD" us 3
wait_members "$MX_ETCD" mx 2
$CLI --server "${US_NODES[0]}" cluster init --shards=64
$CLI --server "${MX_NODES[0]}" cluster init --shards=32

step "Placement and status of each cluster"
$CLI --server "${US_NODES[1]}" cluster status
$CLI --server "${MX_NODES[1]}" cluster status

step "Writing at both sites, each tag to its owner: 60 US tags, 40 MX tags, 600 samples each"
$WRITE "${US_NODES[0]}" us 60 600 1700000000
$WRITE "${MX_NODES[0]}" mx 40 600 1700000000

step "Alarm rules are site-wide (etcd): made at one US member, in force at every member"
$CLI --server "${US_NODES[2]}" rule add us_hot --kind high --tag 'us.*' --limit 70 --deadband 10
$CLI --server "${US_NODES[0]}" rule ls
step "60 more samples of each US tag: each alarm raised by its tag's owner (15 tags go over 70), listed at any member"
$WRITE "${US_NODES[0]}" us 60 60 1700000600
for _ in $(seq 300); do
  [ "$($CLI --server "${US_NODES[1]}" events --active --rule us_hot | grep -c us_hot)" -ge 15 ] && break
  sleep 0.1
done
$CLI --server "${US_NODES[1]}" events --active --rule us_hot

converge() {  # from peer
  for _ in $(seq 300); do
    out=$($CLI --server "$1" verify --peer "$2" 2>&1 || true)
    grep -q "result:            equal" <<<"$out" && break
    sleep 0.2
  done
  echo "$out"
}
step "Converged: historian verify --peer mx at US (every US member vs every MX member)"
converge "${US_NODES[0]}" mx
step "And historian verify --peer us at MX"
converge "${MX_NODES[1]}" us

step "Replication links of one MX node (one per US member, each with its own cursor)"
$CLI --server "${MX_NODES[0]}" stats | grep -A40 -i "peer" | head -30 || true

step "US grows: a fourth node joins (historian cluster add-node); its mover copies and tails 16 shards"
start_node us "$US_ETCD" "$US_NEW" "mx=$(join '|' "${MX_NODES[@]}")" 3
wait_serving "$US_NEW"
wait_members "$US_ETCD" us 4
$CLI --server "${US_NODES[0]}" cluster add-node "$US_NEW"
$WRITE "${US_NODES[1]}" us 60 300 1700001000
for _ in $(seq 600); do
  $CLI --server "${US_NODES[2]}" cluster status | grep -q "moves:              none" && break
  sleep 0.1
done
$CLI --server "${US_NODES[2]}" cluster status
step "Converged again: historian verify --peer mx at US (4 members now), and us at MX"
converge "$US_NEW" mx
converge "${MX_NODES[0]}" us

step "Stopping everything"
