#!/usr/bin/env bash
# Starts dockerd when no engine answers: no bridge and no iptables, so containers get no network and
# nothing leaves loopback (SPEC §8). Exits 0 when an engine answers, 1 when none can run here.
set -uo pipefail
docker_ok() { timeout 5 docker info >/dev/null 2>&1; }
docker_ok && exit 0
command -v dockerd >/dev/null 2>&1 || exit 1
[ "$(id -u)" -eq 0 ] || { echo "start-dockerd: not root, cannot start dockerd" >&2; exit 1; }
log=/var/log/hayate-dockerd.log
echo "start-dockerd: starting dockerd --bridge=none --iptables=false (log: $log)" >&2
nohup dockerd --bridge=none --iptables=false --ip6tables=false >"$log" 2>&1 &
for _ in $(seq 1 60); do
  docker_ok && exit 0
  sleep 0.5
done
echo "start-dockerd: dockerd did not answer within 30 s; see $log" >&2
exit 1
