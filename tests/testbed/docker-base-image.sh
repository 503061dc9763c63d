#!/bin/bash
# Makes the container base image of the test bed's compose tests, inside a test
# host, without network: a tarball of the host's own Debian files that Python 3
# needs (dash, libc, python3.11 and its standard library, sqlite3, ssl...),
# `docker import`ed as opsctl-testbed/python:bookworm. Run as root on a host
# whose docker engine runs: `testbed exec --dir DIR host1 -- bash < this`.
# ~44 MB (docs, man pages, locales, ensurepip, tkinter, idlelib, lib2to3 and
# the test suite left out): with the vfs storage driver every layer is a copy.
set -euo pipefail
image=${1:-opsctl-testbed/python:bookworm}
if docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image already there"
  exit 0
fi
pkgs=(libc6 dash libpython3.11-minimal libpython3.11-stdlib python3.11-minimal
  python3.11 python3-minimal python3 libsqlite3-0 libexpat1 zlib1g libffi8 libssl3
  libbz2-1.0 liblzma5 libuuid1 libncursesw6 libtinfo6 libreadline8 libdb5.3 libgdbm6
  libcrypt1 libnsl2 libtirpc3 media-types netbase)
list=$(mktemp)
trap 'rm -f "$list"' EXIT
{
  # Merged /usr: the top-level links first, then every file under /usr (dpkg
  # names some by their /bin or /lib path), each once (tar would store a
  # second entry of the same file as a hard link to itself).
  printf '%s\n' bin sbin lib lib64
  dpkg-query -L "${pkgs[@]}" | sed -E 's#^/(bin|sbin|lib|lib64)/#/usr/\1/#' |
    grep -Ev '^/usr/share/(doc|man|locale|lintian)/|/python3\.11/(ensurepip|pydoc_data|lib2to3|idlelib|tkinter|turtledemo|test)/' |
    grep '^/' | grep -Ev '^/(bin|sbin|lib|lib64)$' | sort -u | sed 's#^/##'
} >"$list"
tar --hard-dereference --no-recursion -C / -cf - -T "$list" |
  docker import -c 'ENV PATH=/usr/local/bin:/usr/bin:/bin' - "$image" >/dev/null
docker run --rm --network none "$image" python3 -c 'import sqlite3, http.server, json, ssl' ||
  { echo "$image: python3 does not start in it" >&2; exit 1; }
echo "$image made"
