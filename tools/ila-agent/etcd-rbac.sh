#!/usr/bin/env bash
# Creates (or updates) the etcd user and role of one host's ila-agent, with write permission on
# that host's keys only (docs/cluster.md "Trust"):
#   read       every key under the prefix (the agent mirrors the whole cluster)
#   readwrite  <prefix>v1/hosts/<host>, <prefix>v1/alive/<host>, <prefix>v1/election/<host>
#              (its record, its liveness key, its candidacy), <prefix>v1/dead/ (markers of dead
#              hosts, written by whichever agent leads), and <prefix>v1/mappings/<sir prefix>/ for
#              each SIR prefix the host serves (its containers' mappings and identifier blocks;
#              moves between hosts of one prefix need it).
#
#   bash etcd-rbac.sh [--prefix /ila/] HOST PASSWORD SIR_PREFIX... -- ETCDCTL_ARGS...
#
# ETCDCTL_ARGS reach etcdctl as they are (endpoints, TLS files, --user=root:...). Idempotent.
set -euo pipefail
prefix=/ila/
if [ "${1:-}" = --prefix ]; then
  prefix=$2
  shift 2
fi
if [ $# -lt 3 ]; then
  sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2
  exit 2
fi
host=$1 password=$2
shift 2
prefixes=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do
  prefixes+=("$1")
  shift
done
[ "${1:-}" = -- ] && shift
etcdctl=(env ETCDCTL_API=3 etcdctl "$@")
role="ila-$host"
"${etcdctl[@]}" role get "$role" >/dev/null 2>&1 || "${etcdctl[@]}" role add "$role" >/dev/null
"${etcdctl[@]}" user get "$host" >/dev/null 2>&1 ||
  "${etcdctl[@]}" user add "$host" --new-user-password="$password" >/dev/null
"${etcdctl[@]}" role grant-permission --prefix=true "$role" read "$prefix" >/dev/null
for key in "v1/hosts/$host" "v1/alive/$host" "v1/election/$host"; do
  "${etcdctl[@]}" role grant-permission "$role" readwrite "$prefix$key" >/dev/null
done
"${etcdctl[@]}" role grant-permission --prefix=true "$role" readwrite "${prefix}v1/dead/" >/dev/null
for p in "${prefixes[@]}"; do
  "${etcdctl[@]}" role grant-permission --prefix=true "$role" readwrite \
    "${prefix}v1/mappings/$p/" >/dev/null
done
"${etcdctl[@]}" user grant-role "$host" "$role" >/dev/null
echo "etcd user $host: role $role (read ${prefix}, write its own keys and ${prefixes[*]})"
