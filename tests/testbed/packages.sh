# shellcheck shell=bash
# Package lists of the opsctl test bed image. Sourced by build-image.sh.
# Changing this file changes the image stamp, so the next `testbed image`
# (or `testbed up`) rebuilds the image.

# Debian suite and mirrors used to build the image (the hosts never see them).
SUITE=bookworm
MIRRORS=(
  "deb http://deb.debian.org/debian bookworm main"
  "deb http://deb.debian.org/debian bookworm-updates main"
  "deb http://deb.debian.org/debian-security bookworm-security main"
)

# Installed in the base image (mmdebstrap --variant=minbase --include=...).
BASE_PACKAGES=(
  openssh-server sudo ca-certificates curl procps iproute2 python3 less
  pebble adduser mount sysvinit-utils
)

# Put, with all their dependencies and recommends, in the offline apt
# repository baked into the image (not installed).
OFFLINE_PACKAGES=(
  nginx supervisor certbot python3-certbot-nginx nodejs npm git
  python3-venv python3-pip rsync acl cron logrotate unzip python3-apt
  postgresql mariadb-server ufw iptables kmod locales debconf-utils make
  openssl fail2ban restic nftables unattended-upgrades exim4-daemon-light
  bsd-mailx docker.io docker-compose
)

# Installed on top of the base image for `--kind systemd` (also in the
# offline repository).
SYSTEMD_PACKAGES=(systemd systemd-sysv dbus libpam-systemd)

# Python wheelhouse (CPython 3.11, manylinux x86_64), wired by /etc/pip.conf.
WHEELS=(
  fastapi "uvicorn[standard]" "sqlalchemy[asyncio]" alembic aiosqlite asyncpg
  python-dotenv httpx gunicorn pip setuptools wheel django
)
