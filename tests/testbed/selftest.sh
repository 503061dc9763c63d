#!/bin/bash
# shellcheck disable=SC2016 # remote commands are single-quoted on purpose
# Smoke test of the opsctl test bed itself (not of opsctl): builds the image
# if needed, starts hosts, checks what the integration tests rely on, stops
# them and checks nothing is left behind. Needs root.
#   selftest.sh [--systemd]     --systemd also boots 2 systemd hosts
# Ends with "N passed, M failed"; exit code 1 when anything failed.
set -uo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
TB="$HERE/testbed"
SYSTEMD=0
[ "${1:-}" = --systemd ] && SYSTEMD=1

D=$(mktemp -d /tmp/opsctl-testbed-selftest.XXXXXX)
DS="$D/systemd"
cleanup() {
  "$TB" down --dir "$D" >/dev/null 2>&1 || true
  "$TB" down --dir "$DS" >/dev/null 2>&1 || true
  rm -rf "$D"
}
trap cleanup EXIT

passed=0 failed=0
ok() { passed=$((passed + 1)); echo "ok   - $*"; }
ko() { failed=$((failed + 1)); echo "FAIL - $*"; }
check() { # check "description" command...
  local what=$1; shift
  if "$@" >/tmp/selftest.$$.out 2>&1; then ok "$what"; else ko "$what"; sed 's/^/       /' /tmp/selftest.$$.out | tail -n 15; fi
  rm -f /tmp/selftest.$$.out
}
ms() { date +%s%N | cut -c1-13; }
S() { ssh -F "$D/ssh_config" "$@" </dev/null; }

t=$(ms); "$TB" image --kind "$([ $SYSTEMD = 1 ] && echo all || echo plain)" || { ko "testbed image"; exit 1; }
echo "     image (build or reuse): $(($(ms) - t)) ms"
t=$(ms); "$TB" image --kind plain; dt=$(($(ms) - t))
if [ "$dt" -lt 1000 ]; then ok "no-op testbed image in $dt ms"; else ko "no-op testbed image took $dt ms"; fi

# up, with stdout captured through a pipe: must return (hosts keep no copy
# of the caller's descriptors)
t=$(ms)
if out=$("$TB" up --dir "$D" --hosts 5 2>&1); then ok "up 5 plain hosts in $(($(ms) - t)) ms"; else ko "up 5 plain hosts: $out"; exit 1; fi
check "5 lines in known_hosts" test "$(wc -l <"$D/known_hosts")" = 5
check "inventory lists host1..host5 under [web]" grep -qx '\[web\]' "$D/hosts"
t_whoami() { [ "$(S host3 'hostname; id -un')" = "host3
root" ]; }
check "ssh host3: hostname and id" t_whoami
check "/etc/hosts has 127.0.1.1 host3.test host3" S host3 'grep -q "^127.0.1.1[[:space:]]host3.test host3$" /etc/hosts'
check "deploy: sudo -n works" S -l deploy host2 'sudo -n true'
t_needpw() {
  local out
  if out=$(S -l needpw host2 'sudo -n true' 2>&1); then return 1; fi
  grep -q 'a password is required' <<<"$out"
}
check "needpw: sudo -n fails with 'a password is required'" t_needpw
check "a host has no network but loopback" S host1 '[ -z "$(ip route)" ] && [ "$(ip -o link | wc -l)" = 1 ]'
t_exec() {
  local out rc=0
  out=$(echo hi | "$TB" exec --dir "$D" host4 -- sh -c 'cat; exit 3') || rc=$?
  [ "$out" = hi ] && [ "$rc" = 3 ]
}
check "exec passes stdin, stdout and the exit code" t_exec
check "status: 5 hosts up" bash -c "[ \"\$('$TB' status --dir '$D' | grep -c ' up\$')\" = 5 ]"

# sshd stop/start through exec; host key change detected by StrictHostKeyChecking
check "service ssh stop makes ssh fail" bash -c "'$TB' exec --dir '$D' host5 -- service ssh stop && ! ssh -F '$D/ssh_config' host5 true </dev/null"
check "service ssh start brings it back" bash -c "'$TB' exec --dir '$D' host5 -- service ssh start && ssh -F '$D/ssh_config' host5 true </dev/null"
t_newkey() {
  local out
  "$TB" exec --dir "$D" host5 -- sh -c 'rm -f /etc/ssh/ssh_host_ed25519_key*; ssh-keygen -q -t ed25519 -N "" -f /etc/ssh/ssh_host_ed25519_key; service ssh restart' >/dev/null || return 1
  if out=$(S host5 true 2>&1); then return 1; fi
  grep -q 'REMOTE HOST IDENTIFICATION HAS CHANGED' <<<"$out"
}
check "a new host key is rejected (known_hosts is enforced)" t_newkey

# offline apt, services started on install, pip wheelhouse, pebble
t=$(ms)
check "offline apt-get update + install nginx supervisor certbot nodejs" \
  S host1 'apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nginx supervisor certbot python3-certbot-nginx nodejs python3-venv >/dev/null'
echo "     apt install: $(($(ms) - t)) ms"
check "service nginx status: running" bash -c "ssh -F '$D/ssh_config' host1 'service nginx status' </dev/null | grep -q 'is running'"
check "supervisord running" S host1 'service supervisor status'
check "nginx answers on :80" S host1 'curl -fsS -o /dev/null http://127.0.0.1/'
t=$(ms)
check "venv + pip install fastapi uvicorn offline" S -l deploy host1 'python3 -m venv v && v/bin/pip install -q fastapi "uvicorn[standard]" "sqlalchemy[asyncio]" alembic aiosqlite asyncpg python-dotenv httpx && v/bin/python -c "import fastapi, uvicorn, sqlalchemy, greenlet"'
echo "     venv + pip: $(($(ms) - t)) ms"
check "pebble answers on https://127.0.0.1:14000/dir (CA trusted)" S host2 'opsctl-start-pebble >/dev/null && curl -fsS https://127.0.0.1:14000/dir | grep -q newAccount'
check "controller CA file exists" test -s "${OPSCTL_TESTBED_CACHE:-/var/cache/opsctl-testbed}/ca.pem"

# a host that dies is reported down, and down still cleans up
pid=$("$TB" status --dir "$D" | awk '$1 == "host4" { print $3 }')
kill -KILL "$pid"
sleep 0.5
check "a killed host is reported down" bash -c "'$TB' status --dir '$D' | grep -q '^host4 .* down\$'"

# up again on the same DIR: old hosts are stopped first, the key is kept
key=$(cat "$D/id_ed25519.pub")
check "up again on the same DIR (2 hosts)" "$TB" up --dir "$D" --hosts 2
check "client key kept" test "$(cat "$D/id_ed25519.pub")" = "$key"
check "only 2 hosts now" test "$("$TB" status --dir "$D" | wc -l)" = 2

if [ $SYSTEMD = 1 ]; then
  t=$(ms)
  if "$TB" up --dir "$DS" --hosts 2 --kind systemd; then
    ok "up 2 systemd hosts in $(($(ms) - t)) ms"
    check "systemd: is-system-running (running or degraded)" bash -c "ssh -F '$DS/ssh_config' host1 'systemctl is-system-running' </dev/null | grep -Eq '^(running|degraded)\$'"
    check "systemd: ssh.service active" ssh -F "$DS/ssh_config" host2 'systemctl status ssh --no-pager >/dev/null'
    check "systemd: deploy sudo -n systemctl" ssh -F "$DS/ssh_config" -l deploy host2 'sudo -n systemctl is-active ssh'
    check "down (systemd)" "$TB" down --dir "$DS"
  else
    ko "up 2 systemd hosts"
  fi
fi

prefix=$(awk '$1 == "prefix" { print $2 }' "$D/.testbed/state")
t=$(ms)
check "down" "$TB" down --dir "$D"
echo "     down: $(($(ms) - t)) ms"
check "down twice is fine" "$TB" down --dir "$D"
check "no netns left" bash -c "! ip netns list | grep -q 'otb-$prefix-'"
check "no mount left" bash -c "! findmnt -rn -o TARGET | grep -qF '$D'"
check "no host process left" bash -c "! grep -qs . /sys/fs/cgroup/cpuacct/opsctl-testbed/otb-$prefix-*/cgroup.procs"
check "generated files removed, key kept" bash -c "[ ! -e '$D/ssh_config' ] && [ ! -e '$D/known_hosts' ] && [ ! -e '$D/hosts' ] && [ ! -e '$D/.testbed' ] && [ -s '$D/id_ed25519' ]"

echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
