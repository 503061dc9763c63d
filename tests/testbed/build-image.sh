#!/bin/bash
# Builds the images of the opsctl test bed. Called by `testbed image`, which
# holds the cache lock and compares stamps; not meant to be run by hand.
#
#   build-image.sh plain   CACHE OUT            -> OUT/rootfs (full image)
#   build-image.sh systemd CACHE PLAINROOT OUT  -> OUT/layer (overlay layer
#                                                  with systemd on PLAINROOT)
# Internal (mmdebstrap hooks / private mount namespace):
#   build-image.sh hook-setup CACHE ROOT
#   build-image.sh hook-extract CACHE ROOT
#   build-image.sh hook-customize CACHE ROOT
#   build-image.sh systemd-inner CACHE PLAINROOT OUT
#
# Caches under CACHE: apt/archives (.debs), apt/lists (indexes, refreshed with
# conditional requests), wheels/ (pip wheelhouse), ca/ (test CA + pebble
# certificate, generated once).
# OPSCTL_TESTBED_OFFLINE=1: skip `apt-get update` and build from the cached
# indexes and .debs only (no network at all, if the caches are complete).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF="$HERE/build-image.sh"
# shellcheck source=packages.sh
source "$HERE/packages.sh"

REPO_DIR=/var/lib/opsctl-offline-repo
WHEEL_DIR=/var/lib/opsctl-wheelhouse
CHROOT_PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin

log() { printf 'testbed image: %s\n' "$*" >&2; }
die() { printf 'testbed image: error: %s\n' "$*" >&2; exit 1; }

# Run a command inside the chroot ROOT with a clean environment (mmdebstrap
# exports APT_CONFIG pointing at its own outside configuration).
inchroot() {
  local root=$1; shift
  env -i PATH="$CHROOT_PATH" LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive \
    HOME=/root chroot "$root" "$@"
}

# --- test CA and pebble certificate (generated once, kept in the cache) ----
ensure_ca() {
  local cache=$1 d=$1/ca
  mkdir -p "$d"
  chmod 700 "$d"
  if [ ! -s "$d/ca.key" ] || [ ! -s "$d/ca.pem" ]; then
    log "generating the test CA in $d"
    cat >"$d/ca.cnf" <<'EOF'
[req]
distinguished_name = dn
prompt = no
[dn]
O = opsctl test bed
CN = opsctl test bed CA
[v3_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
EOF
    openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout "$d/ca.key.tmp" -out "$d/ca.pem.tmp" -days 3650 \
      -config "$d/ca.cnf" -extensions v3_ca 2>/dev/null
    chmod 600 "$d/ca.key.tmp"
    mv "$d/ca.key.tmp" "$d/ca.key"
    mv "$d/ca.pem.tmp" "$d/ca.pem"
    rm -f "$d/pebble.pem" "$d/pebble.key"
  fi
  if [ ! -s "$d/pebble.pem" ] || [ ! -s "$d/pebble.key" ]; then
    log "issuing pebble's certificate (localhost, 127.0.0.1, ::1)"
    cat >"$d/pebble.ext" <<'EOF'
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
EOF
    openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
      -keyout "$d/pebble.key.tmp" -out "$d/pebble.csr" -subj "/CN=localhost" 2>/dev/null
    openssl x509 -req -in "$d/pebble.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
      -set_serial "0x$(openssl rand -hex 16)" -days 3650 -extfile "$d/pebble.ext" \
      -out "$d/pebble.pem.tmp" 2>/dev/null
    mv "$d/pebble.key.tmp" "$d/pebble.key"
    mv "$d/pebble.pem.tmp" "$d/pebble.pem"
    rm -f "$d/pebble.csr"
  fi
  cmp -s "$d/ca.pem" "$cache/ca.pem" || cp "$d/ca.pem" "$cache/ca.pem"
}

# --- pip wheelhouse for the image's CPython 3.11 -----------------------------
pip_python() {
  local p
  for p in /usr/bin/python3 python3; do
    if "$p" -m pip --version >/dev/null 2>&1; then echo "$p"; return; fi
  done
  die "no python3 with pip on this machine (apt-get install python3-pip)"
}

fetch_wheels() {
  local w=$1/wheels py
  py=$(pip_python)
  mkdir -p "$w"
  local args=(download --disable-pip-version-check -q --dest "$w" --only-binary=:all:
    --python-version 3.11 --implementation cp --abi cp311
    --platform manylinux_2_36_x86_64 --platform manylinux_2_28_x86_64
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64
    --platform manylinux_2_5_x86_64 --platform manylinux1_x86_64)
  # Offline first: when the wheelhouse already satisfies everything, nothing
  # is downloaded (not even the index pages).
  if "$py" -m pip "${args[@]}" --no-index --find-links "$w" "${WHEELS[@]}" >/dev/null 2>&1; then
    log "wheelhouse up to date ($(find "$w" -name '*.whl' | wc -l) wheels)"
    return
  fi
  log "downloading wheels into $w"
  "$py" -m pip "${args[@]}" "${WHEELS[@]}"
}

# --- plain image ---------------------------------------------------------------
build_plain() {
  local cache=$1 out=$2
  mkdir -p "$cache/apt/archives/partial" "$cache/apt/lists" "$cache/wheels"
  ensure_ca "$cache"
  fetch_wheels "$cache"
  rm -rf "$out"
  mkdir -p "$out"
  local include qself qcache skip=essential/unlink,cleanup/apt/lists
  include=$(IFS=,; echo "${BASE_PACKAGES[*]}")
  if [ "${OPSCTL_TESTBED_OFFLINE:-0}" = 1 ]; then skip+=,update; fi
  qself=$(printf '%q' "$SELF")
  qcache=$(printf '%q' "$cache")
  log "mmdebstrap $SUITE (log: $out/mmdebstrap.log)"
  # A private mount namespace: whatever a hook mounts (the .deb cache bind
  # mount) goes away with it, even on failure.
  if ! unshare --mount --propagation private -- \
    mmdebstrap --mode=root --variant=minbase --format=directory --verbose \
      --include="$include" \
      --skip="$skip" \
      --setup-hook="$qself hook-setup $qcache \"\$1\"" \
      --extract-hook="$qself hook-extract $qcache \"\$1\"" \
      --customize-hook="$qself hook-customize $qcache \"\$1\"" \
      --customize-hook=/usr/share/mmdebstrap/hooks/eatmydata/customize.sh \
      "$SUITE" "$out/rootfs" "${MIRRORS[@]}" >"$out/mmdebstrap.log" 2>&1; then
    tail -n 40 "$out/mmdebstrap.log" >&2
    die "mmdebstrap failed; full log: $out/mmdebstrap.log"
  fi
}

hook_setup() {
  local cache=$1 root=$2
  mkdir -p "$root/var/cache/apt/archives" "$root/var/lib/apt/lists"
  # .debs: the cache itself, bind-mounted (unmounted again in hook-customize).
  mount --bind "$cache/apt/archives" "$root/var/cache/apt/archives"
  # Indexes: seeded from the cache, so `apt-get update` only revalidates them.
  if [ -d "$cache/apt/lists" ]; then
    find "$cache/apt/lists" -maxdepth 1 -type f ! -name lock -exec cp -p {} "$root/var/lib/apt/lists/" \;
  fi
}

# Same as mmdebstrap's eatmydata extract hook (dpkg runs under eatmydata
# while building), but takes the two .debs from the cache.
newest() { printf '%s\n' "$@" | sort -V | tail -n 1; }

hook_extract() {
  local root=$2 arch libdir a
  a="$root/var/cache/apt/archives" # the .deb cache, bind-mounted
  arch=$(head -n 1 "$root/var/lib/dpkg/arch" 2>/dev/null || dpkg --print-architecture)
  if ! compgen -G "$a/eatmydata_*_all.deb" >/dev/null ||
    ! compgen -G "$a/libeatmydata1_*_$arch.deb" >/dev/null; then
    (cd "$a" && APT_CONFIG="$MMDEBSTRAP_APT_CONFIG" apt-get download -q eatmydata libeatmydata1)
  fi
  mkdir -p "$root/usr/bin"
  dpkg-deb --fsys-tarfile "$(newest "$a"/eatmydata_*_all.deb)" |
    tar --directory="$root/usr/bin" --strip-components=3 --extract ./usr/bin/eatmydata
  libdir="/usr/lib/$(dpkg-architecture -a "$arch" -q DEB_HOST_MULTIARCH 2>/dev/null)"
  mkdir -p "$root$libdir"
  dpkg-deb --fsys-tarfile "$(newest "$a"/libeatmydata1_*_"$arch".deb)" |
    tar --directory="$root$libdir" --strip-components=4 --extract --wildcards ".$libdir/libeatmydata.so*"
  mv "$root/usr/bin/dpkg" "$root/usr/bin/dpkg.distrib"
  printf '#!/bin/sh\nexec /usr/bin/eatmydata /usr/bin/dpkg.distrib "$@"\n' >"$root/usr/bin/dpkg"
  chmod 755 "$root/usr/bin/dpkg"
  printf '/usr/bin/dpkg\n/usr/bin/dpkg.distrib\n:\n' >>"$root/var/lib/dpkg/diversions"
}

hook_customize() {
  local cache=$1 root=$2 pkg
  local repo="$root$REPO_DIR"

  # 1. keep the fresh indexes for the next build
  rm -rf "$cache/apt/lists.new"
  mkdir -p "$cache/apt/lists.new"
  find "$root/var/lib/apt/lists" -maxdepth 1 -type f ! -name lock -exec cp -p {} "$cache/apt/lists.new/" \;
  rm -rf "$cache/apt/lists"
  mv "$cache/apt/lists.new" "$cache/apt/lists"

  # 2. offline repository: every package of the stack with its dependencies
  # and recommends, resolved against this very image, as a whole and one by
  # one (a lone install may pick another alternative than the full set).
  log "downloading the offline repository packages"
  local sets=("${OFFLINE_PACKAGES[*]} ${SYSTEMD_PACKAGES[*]}")
  for pkg in "${OFFLINE_PACKAGES[@]}" "${SYSTEMD_PACKAGES[@]}"; do sets+=("$pkg"); done
  mkdir -p "$root/tmp/opsctl-uris/partial" "$repo"
  : >"$root/tmp/opsctl-needed"
  local set
  for set in "${sets[@]}"; do
    # shellcheck disable=SC2086 # a set is a space-separated package list
    inchroot "$root" apt-get install -y -q --download-only $set >/dev/null
    # shellcheck disable=SC2086
    inchroot "$root" apt-get install -qq --print-uris \
      -o Dir::Cache::archives=/tmp/opsctl-uris/ $set | awk '{print $2}' >>"$root/tmp/opsctl-needed"
  done
  local n=0 f
  while read -r f; do
    [ -n "$f" ] || continue
    [ -f "$root/var/cache/apt/archives/$f" ] || die "offline repo: $f was not downloaded"
    cp -p "$root/var/cache/apt/archives/$f" "$repo/"
    n=$((n + 1))
  done < <(sort -u "$root/tmp/opsctl-needed")
  rm -rf "$root/tmp/opsctl-uris" "$root/tmp/opsctl-needed"
  umount "$root/var/cache/apt/archives"
  log "offline repository: $n packages"
  (
    cd "$repo"
    dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages
    gzip -9nkf Packages
    {
      echo "Origin: opsctl-testbed"
      echo "Label: opsctl-testbed"
      echo "Suite: $SUITE"
      echo "Codename: $SUITE"
      echo "Date: $(LC_ALL=C date -u -R)"
      echo "Architectures: $(dpkg --print-architecture) all"
      echo "Description: opsctl test bed offline repository"
      echo "SHA256:"
      for f in Packages Packages.gz; do
        printf ' %s %s %s\n' "$(sha256sum "$f" | cut -d' ' -f1)" "$(stat -c %s "$f")" "$f"
      done
    } >Release
  )
  chmod -R a+rX "$repo"

  # 3. the hosts' apt: the offline repository only, indexes pre-fetched
  rm -f "$root/etc/apt/sources.list"
  find "$root/etc/apt/sources.list.d" -mindepth 1 -delete
  echo "deb [trusted=yes] file:$REPO_DIR ./" >"$root/etc/apt/sources.list.d/opsctl-offline.list"
  inchroot "$root" apt-get update -q >/dev/null
  for pkg in "${OFFLINE_PACKAGES[@]}" "${SYSTEMD_PACKAGES[@]}"; do
    inchroot "$root" apt-get install -s -qq "$pkg" >/dev/null ||
      die "offline repo: '$pkg' is not installable offline"
  done
  inchroot "$root" apt-get install -s -qq "${OFFLINE_PACKAGES[@]}" "${SYSTEMD_PACKAGES[@]}" >/dev/null ||
    die "offline repo: the stack is not installable offline as a whole"

  # 4. init shim, runlevel shim, sshd drop-in, pebble, pip
  install -m 755 "$HERE/image/init" "$root/usr/sbin/init"
  install -m 755 "$HERE/image/runlevel" "$root/usr/sbin/runlevel"
  install -m 755 "$HERE/image/opsctl-start-pebble" "$root/usr/local/sbin/opsctl-start-pebble"
  install -m 644 "$HERE/image/sshd-testbed.conf" "$root/etc/ssh/sshd_config.d/opsctl-testbed.conf"
  install -m 644 "$HERE/image/pip.conf" "$root/etc/pip.conf"
  install -d -m 755 "$root/etc/pebble"
  install -m 644 "$HERE/image/pebble-config.json" "$root/etc/pebble/pebble-config.json"
  install -m 644 "$cache/ca/pebble.pem" "$root/etc/pebble/cert.pem"
  install -m 600 "$cache/ca/pebble.key" "$root/etc/pebble/key.pem"
  install -d -m 755 "$root$WHEEL_DIR"
  cp -p "$cache"/wheels/*.whl "$root$WHEEL_DIR/"
  chmod 644 "$root$WHEEL_DIR"/*.whl

  # 5. trust the test CA
  install -m 644 "$cache/ca/ca.pem" "$root/usr/local/share/ca-certificates/opsctl-testbed-ca.crt"
  inchroot "$root" update-ca-certificates >/dev/null

  # 6. users: deploy (passwordless sudo), needpw (sudo needs a password)
  inchroot "$root" useradd -m -s /bin/bash deploy
  inchroot "$root" useradd -m -s /bin/bash needpw
  echo 'needpw:needpw-password' | inchroot "$root" chpasswd
  cat >"$root/etc/sudoers.d/opsctl-testbed" <<'EOF'
# opsctl test bed users
deploy ALL=(ALL:ALL) NOPASSWD: ALL
needpw ALL=(ALL:ALL) ALL
EOF
  chmod 440 "$root/etc/sudoers.d/opsctl-testbed"
  inchroot "$root" visudo -c -q

  # 7. per-host identity is written at host start: no host keys, hostname or
  # machine-id in the image. sshd logs to a file (there is no syslog).
  rm -f "$root"/etc/ssh/ssh_host_*
  : >"$root/etc/machine-id"
  echo localhost >"$root/etc/hostname"
  echo "# opsctl test bed: hosts have no DNS" >"$root/etc/resolv.conf"
  echo "LANG=C.UTF-8" >"$root/etc/default/locale"
  if grep -q '^SSHD_OPTS=' "$root/etc/default/ssh"; then
    sed -i 's|^SSHD_OPTS=.*|SSHD_OPTS="-E /var/log/sshd.log"|' "$root/etc/default/ssh"
  else
    echo 'SSHD_OPTS="-E /var/log/sshd.log"' >>"$root/etc/default/ssh"
  fi
}

# --- systemd variant: an overlay layer on top of the plain image --------------
build_systemd() {
  local cache=$1 plainroot=$2 out=$3
  rm -rf "$out"
  mkdir -p "$out/layer" "$out/work" "$out/mnt"
  if ! unshare --mount --propagation private -- "$SELF" systemd-inner "$cache" "$plainroot" "$out" \
    >"$out/build.log" 2>&1; then
    tail -n 40 "$out/build.log" >&2
    die "building the systemd layer failed; full log: $out/build.log"
  fi
  rm -rf "${out:?}/work" "${out:?}/mnt"
}

systemd_inner() {
  local plainroot=$2 out=$3 pkg
  local r="$out/mnt"
  mount -t overlay overlay -o "lowerdir=$plainroot,upperdir=$out/layer,workdir=$out/work" "$r"
  mount -t proc proc "$r/proc"
  mount --rbind /dev "$r/dev"
  mount -t tmpfs tmpfs "$r/run"
  mount -t tmpfs tmpfs "$r/tmp"
  printf '#!/bin/sh\nexit 101\n' >"$r/usr/sbin/policy-rc.d"
  chmod 755 "$r/usr/sbin/policy-rc.d"
  inchroot "$r" apt-get install -y -q "${SYSTEMD_PACKAGES[@]}"
  rm -f "$r/usr/sbin/policy-rc.d"
  inchroot "$r" apt-get clean
  # journald logs sshd here: back to Debian's default options
  sed -i 's|^SSHD_OPTS=.*|SSHD_OPTS=|' "$r/etc/default/ssh"
  [ -L "$r/usr/sbin/init" ] || die "systemd-sysv did not replace /usr/sbin/init"
  [ -e "$r/etc/systemd/system/multi-user.target.wants/ssh.service" ] ||
    inchroot "$r" systemctl enable ssh.service
  # units that make no sense in a container without devices
  inchroot "$r" systemctl mask systemd-udevd.service systemd-udevd-control.socket \
    systemd-udevd-kernel.socket systemd-timesyncd.service 2>/dev/null || true
  for pkg in "${OFFLINE_PACKAGES[@]}"; do
    inchroot "$r" apt-get install -s -qq "$pkg" >/dev/null ||
      die "systemd variant: '$pkg' is not installable offline"
  done
  : >"$r/etc/machine-id"
  echo "systemd layer built"
}

case "${1:-}" in
  plain) build_plain "$2" "$3" ;;
  systemd) build_systemd "$2" "$3" "$4" ;;
  hook-setup) hook_setup "$2" "$3" ;;
  hook-extract) hook_extract "$2" "$3" ;;
  hook-customize) hook_customize "$2" "$3" ;;
  systemd-inner) systemd_inner "$2" "$3" "$4" ;;
  *) die "usage: build-image.sh plain|systemd ... (called by testbed image)" ;;
esac
