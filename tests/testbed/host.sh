#!/bin/bash
# Starts one host of the opsctl test bed. Called by `testbed up`; not meant
# to be run by hand.
#
#   host.sh plain   HOSTDIR NAME LOWER KEYFILE
#     Runs as PID 1 of a fresh pid namespace, in a private mount namespace
#     (unshare --mount --uts --ipc --pid --fork), inside the host's network
#     namespace. Mounts the overlay root, writes the host's identity, mounts
#     /proc (/proc/sys read-only but /proc/sys/net), a read-only /sys, a
#     small /dev, /run and /tmp, pivots into the root and execs the image's
#     tiny init (/usr/sbin/init: runs /etc/rc2.d/S*, then reaps orphans).
#
#   host.sh systemd HOSTDIR NAME LOWER KEYFILE NETNS
#     Runs in a private mount namespace (unshare --mount). Mounts the overlay
#     root, writes the host's identity and execs systemd-nspawn --boot in the
#     host's network namespace.
#
# HOSTDIR holds upper/ and work/ (overlay) and root/ (mount point). LOWER is
# the overlay lowerdir (colon-separated layers). KEYFILE is the client public
# key authorized for root, deploy and needpw. The host's SSH key pair is
# HOSTDIR/ssh_host_ed25519_key{,.pub}.
set -euo pipefail

kind=$1 hostdir=$2 name=$3 lower=$4 pubkey=$5
netns=${6:-}
R="$hostdir/root"

log() { printf '[%s] host.sh: %s\n' "$name" "$*"; }

mount -t overlay overlay \
  -o "lowerdir=$lower,upperdir=$hostdir/upper,workdir=$hostdir/work" "$R"

# --- identity, written through the overlay (lands in the upper layer) -------
# Once per `testbed up`: a host that rebooted (testbed's run_host starts it
# again) keeps its machine-id, and its /etc/hosts with what `up --net` added.
if [ ! -e "$hostdir/booted" ]; then
  echo "$name" >"$R/etc/hostname"
  cat >"$R/etc/hosts" <<EOF
127.0.0.1	localhost
127.0.1.1	$name.test $name
::1	localhost ip6-localhost ip6-loopback
ff02::1	ip6-allnodes
ff02::2	ip6-allrouters
EOF
  tr -d '-' </proc/sys/kernel/random/uuid >"$R/etc/machine-id"
  : >"$hostdir/booted"
else
  log "booting again (the host rebooted)"
fi
install -m 600 "$hostdir/ssh_host_ed25519_key" "$R/etc/ssh/ssh_host_ed25519_key"
install -m 644 "$hostdir/ssh_host_ed25519_key.pub" "$R/etc/ssh/ssh_host_ed25519_key.pub"
for user in root deploy needpw; do
  # uid, gid and home as the image knows them
  read -r uid gid home < <(awk -F: -v u="$user" '$1 == u { print $3, $4, $6 }' "$R/etc/passwd")
  [ -n "${home:-}" ] || { log "user $user missing from the image"; exit 1; }
  install -d -m 700 -o "$uid" -g "$gid" "$R$home/.ssh"
  install -m 600 -o "$uid" -g "$gid" "$pubkey" "$R$home/.ssh/authorized_keys"
done

if [ "$kind" = systemd ]; then
  # This mount namespace lives as long as the host: drop its copies of the
  # other hosts' /run/netns entries, which would keep their network
  # namespaces alive after their `ip netns del`.
  findmnt -rn -o TARGET | awk -v own="/run/netns/$netns" 'index($0, "/run/netns/") == 1 && $0 != own' |
    while read -r m; do umount -l "$m" 2>/dev/null || true; done
  # nspawn mounts /proc, /sys, /dev, /run and /tmp itself. CAP_NET_ADMIN (which
  # nspawn drops with a network namespace given by path): the host's firewall
  # (nftables), as on a server; it acts on the host's own namespace only.
  log "booting systemd-nspawn (netns $netns)"
  exec systemd-nspawn --quiet --boot --register=no --keep-unit \
    --network-namespace-path="/run/netns/$netns" --capability=CAP_NET_ADMIN \
    --machine="$netns" --hostname="$name" --directory="$R" \
    --resolv-conf=off --timezone=off --link-journal=no --console=read-only
fi

# --- plain host: we are PID 1 of the host's pid namespace -------------------
mount -t proc -o nosuid,nodev,noexec proc "$R/proc"
mount --bind "$R/proc/sys" "$R/proc/sys"
mount --bind "$R/proc/sys/net" "$R/proc/sys/net"
mount -o remount,bind,ro "$R/proc/sys"
# A boot id of this boot (the kernel's is the machine's), as systemd-nspawn
# gives its containers: what `reboot` waits to see change.
cat /proc/sys/kernel/random/uuid >"$hostdir/boot_id"
mount --bind "$hostdir/boot_id" "$R/proc/sys/kernel/random/boot_id"
mount -o remount,bind,ro "$R/proc/sys/kernel/random/boot_id"
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$R/sys"

mount -t tmpfs -o nosuid,noexec,mode=755,size=1m tmpfs "$R/dev"
for d in null:1:3 zero:1:5 full:1:7 random:1:8 urandom:1:9 tty:5:0; do
  IFS=: read -r n ma mi <<<"$d"
  mknod -m 666 "$R/dev/$n" c "$ma" "$mi"
done
mkdir -m 755 "$R/dev/pts"
mkdir -m 1777 "$R/dev/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5,nosuid,noexec devpts "$R/dev/pts"
ln -s pts/ptmx "$R/dev/ptmx"
mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m tmpfs "$R/dev/shm"
ln -s /proc/self/fd "$R/dev/fd"
ln -s /proc/self/fd/0 "$R/dev/stdin"
ln -s /proc/self/fd/1 "$R/dev/stdout"
ln -s /proc/self/fd/2 "$R/dev/stderr"

mount -t tmpfs -o nosuid,nodev,mode=755,size=64m tmpfs "$R/run"
mount -t tmpfs -o nosuid,nodev,mode=1777,size=512m tmpfs "$R/tmp"

hostname "$name"

# shutdown, reboot, halt, poweroff: the image has no init system's, so a
# reboot (Ansible's reboot module, `shutdown -r now`) works as on a server.
# The host's pid namespace, for their check that they run inside the host.
mkdir -p "$R/run/opsctl-testbed"
readlink /proc/self/ns/pid >"$R/run/opsctl-testbed/pidns"
install -m 755 "$(dirname "$0")/host-shutdown.sh" "$R/usr/local/sbin/shutdown"
for l in reboot halt poweroff; do ln -sf shutdown "$R/usr/local/sbin/$l"; done

# pivot_root rather than chroot: the host then sees only its own mounts, and
# drops its copies of the controller's mounts (other hosts' /run/netns
# entries among them) with the old root.
cd "$R"
mkdir -p .oldroot
pivot_root . .oldroot
cd /
umount -l /.oldroot
rmdir /.oldroot
log "starting init"
exec /usr/sbin/init
