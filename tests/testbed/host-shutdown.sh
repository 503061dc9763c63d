#!/bin/bash
# opsctl test bed: shutdown, reboot, halt and poweroff of a plain host (which
# has no init system of its own). host.sh installs it as
# /usr/local/sbin/shutdown (the others are links to it) at every boot.
#
#   shutdown [-r|-h|-P|-H|-c|-k] [--no-wall] [TIME] [MESSAGE...]
#       TIME: now, +M or M (minutes; default +1, as systemd's). -c cancels
#       a pending one, -k only says it.
#   reboot | halt | poweroff [-f] [--no-wall]: now.
#
# It returns at once, as systemd's does, and the host goes down a second (or
# TIME) later: the services of runlevel 6 (reboot) or 0 are stopped, then
# reboot(2) ends the host's pid namespace (the kernel kills its PID 1; the
# test bed starts a rebooted host again with the same root, network and host
# key). It refuses to run anywhere but inside a test-bed host: outside a pid
# namespace reboot(2) would restart the machine.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

me=${0##*/}
pending=/run/opsctl-testbed/shutdown.pid
pidns_file=/run/opsctl-testbed/pidns

die() { echo "$me: $*" >&2; exit 1; }

inside_host() {
  [ -r "$pidns_file" ] && [ "$(readlink /proc/self/ns/pid)" = "$(cat "$pidns_file")" ]
}

# The end: stop the services, then reboot(2) (never returns inside the host).
go_down() {
  local action=$1 rc s
  inside_host || die "not inside an opsctl test-bed host: refusing to call reboot(2)"
  if [ "$action" = reboot ]; then rc=/etc/rc6.d; else rc=/etc/rc0.d; fi
  [ -d "$rc" ] || rc=/etc/rc0.d
  for s in "$rc"/K*; do
    [ -x "$s" ] && "$s" stop </dev/null >/dev/null 2>&1 || true
  done
  sync
  exec python3 - "$action" "$pidns_file" <<'EOF'
import ctypes, os, sys
action, pidns_file = sys.argv[1], sys.argv[2]
with open(pidns_file) as f:
    if os.readlink("/proc/self/ns/pid") != f.read().strip():
        sys.exit("not inside an opsctl test-bed host: refusing to call reboot(2)")
# glibc's reboot(RB_AUTOBOOT | RB_POWER_OFF); in a pid namespace the kernel
# ends the namespace's PID 1 (SIGHUP reported for a restart, SIGINT else).
cmd = 0x01234567 if action == "reboot" else 0x4321FEDC
libc = ctypes.CDLL(None, use_errno=True)
if libc.reboot(cmd) != 0:
    sys.exit("reboot(2): " + os.strerror(ctypes.get_errno()))
EOF
}

if [ "${1:-}" = --opsctl-testbed-go ]; then
  sleep "$3"
  go_down "$2"
fi

action=poweroff when=+1 wall=1 only_wall=0
case $me in
  reboot) action=reboot when=now ;;
  halt | poweroff) when=now ;;
esac
args=()
while [ $# -gt 0 ]; do
  case $1 in
    -r | --reboot) action=reboot ;;
    -h | -P | -H | --halt | --poweroff) action=poweroff ;;
    -f | --force | -p | -n) ;;
    --no-wall) wall=0 ;;
    -k) only_wall=1 ;;
    -c)
      if [ -r "$pending" ]; then kill "$(cat "$pending")" 2>/dev/null || true; rm -f "$pending"; fi
      exit 0
      ;;
    -*) die "unknown option $1" ;;
    *) args+=("$1") ;;
  esac
  shift
done
if [ "$me" = shutdown ] && [ ${#args[@]} -gt 0 ]; then
  when=${args[0]}
  args=("${args[@]:1}")
fi
case $when in
  now) delay=0 ;;
  +[0-9]* | [0-9]*) delay=$((${when#+} * 60)) ;;
  *) die "time '$when' not understood (now, +M or M minutes)" ;;
esac
inside_host || die "not inside an opsctl test-bed host: refusing"
if [ "$wall" = 1 ] && [ ${#args[@]} -gt 0 ]; then
  echo "$me: ${args[*]}" >&2
fi
[ "$only_wall" = 0 ] || exit 0
# a second at least, so that the command that asked returns first
[ "$delay" -gt 0 ] || delay=1
setsid "$0" --opsctl-testbed-go "$action" "$delay" </dev/null >/dev/null 2>&1 &
echo $! >"$pending"
echo "$me: $action in $delay s" >&2
