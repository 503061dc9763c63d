#!/bin/bash
# A docker client and Debian's docker-compose for the controller side of a test
# (compose_images: ship), without installing anything on this machine and
# without a docker daemon here: the .debs are read from a test host's offline
# repository (`testbed exec`) and unpacked with `dpkg-deb -x` into OUT, whose
# bin/ then holds `docker` (the client of docker.io) and `docker-compose` (1.29,
# run by /usr/bin/python3 with the unpacked Python packages first on its path).
# The daemon they talk to is elsewhere: DOCKER_HOST, e.g. a test host's
# /var/run/docker.sock forwarded with `ssh -F DIR/ssh_config -N -L SOCK:/var/run/docker.sock host2`.
#
#   tests/testbed/controller-docker.sh DIR HOST OUT
#
# DIR: a test bed's directory (`testbed up --dir DIR`), HOST one of its hosts.
set -euo pipefail
[ $# = 3 ] || { echo "usage: $0 DIR HOST OUT" >&2; exit 2; }
dir=$1 host=$2 out=$3
here=$(cd "$(dirname "$0")" && pwd)
pkgs=(docker.io docker-compose python3-docker python3-dockerpty python3-docopt
  python3-dotenv python3-jsonschema python3-attr python3-pyrsistent python3-requests
  python3-certifi python3-charset-normalizer python3-chardet python3-idna python3-urllib3
  python3-texttable python3-websocket python3-distro python3-six python3-yaml
  python3-distutils)
mkdir -p "$out/debs" "$out/root" "$out/bin"
for p in "${pkgs[@]}"; do
  "$here/testbed" exec --dir "$dir" "$host" -- /bin/sh -c \
    "set -e; f=\$(ls /var/lib/opsctl-offline-repo/${p}_*.deb | head -n 1); cat \"\$f\"" \
    >"$out/debs/$p.deb" || { echo "$p: not in $host's offline repository" >&2; exit 1; }
  dpkg-deb -x "$out/debs/$p.deb" "$out/root"
done
rm -rf "$out/debs"
ln -sf "$out/root/usr/bin/docker" "$out/bin/docker"
cat >"$out/bin/docker-compose" <<WRAP
#!/bin/sh
PYTHONPATH="$out/root/usr/lib/python3/dist-packages:$out/root/usr/lib/python3.11\${PYTHONPATH:+:\$PYTHONPATH}" exec /usr/bin/python3 "$out/root/usr/bin/docker-compose" "\$@"
WRAP
chmod 0755 "$out/bin/docker-compose"
"$out/bin/docker" --version >/dev/null
"$out/bin/docker-compose" version --short >/dev/null
