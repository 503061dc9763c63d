#!/bin/bash
# Installs, on a Debian 12 controller (as root), everything the opsctl test
# bed needs: tests/testbed/testbed image|up|down|exec. Idempotent: does
# nothing (not even apt-get update) when all is there already.
#   install-deps.sh [--dev]     --dev also installs shellcheck
set -euo pipefail

[ "$(id -u)" -eq 0 ] || { echo "install-deps.sh: run as root" >&2; exit 1; }

PKGS=(
  mmdebstrap eatmydata dpkg-dev debian-archive-keyring gpg  # image build
  python3 python3-pip openssl ca-certificates curl           # wheelhouse, test CA
  iproute2 util-linux mount procps socat                     # hosts: netns, nsenter, unshare
  openssh-client                                             # ssh, ssh-keygen
  rsync git                                                  # synchronize, the deploy (git archive)
  binutils                                                   # make dist (strip, objdump)
  systemd-container                                          # systemd-nspawn (--kind systemd)
  chromium libxml2-utils                                     # tests: HTML run report, JUnit schema (xmllint)
)
if [ "${1:-}" = --dev ]; then PKGS+=(shellcheck); fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f '${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps.sh: all test bed dependencies are installed"
  exit 0
fi

echo "install-deps.sh: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# a third-party source that cannot be reached must not stop us
apt-get update -q || echo "install-deps.sh: apt-get update reported errors; installing anyway" >&2
# --no-install-recommends: systemd-container recommends libnss-mymachines,
# which edits /etc/nsswitch.conf; mmdebstrap's recommends are not needed.
apt-get install -y -q --no-install-recommends "${missing[@]}"
