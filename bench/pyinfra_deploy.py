"""The operations of bench/playbook.yml (role bench), with pyinfra's operations.

Same order, same files (bench/roles/bench/files, templates) and the same
variables (bench/roles/bench/defaults/main.yml), so that the three tools of
`make bench` do the same work.
"""

import os

from pyinfra import host
from pyinfra.facts.files import File
from pyinfra.operations import apt, crontab, files, git, server

ROLE = os.path.join(os.path.dirname(os.path.abspath(__file__)), "roles", "bench")


def _defaults():
    """The role's defaults: flat `key: value` scalars (no YAML library here)."""
    out = {}
    with open(os.path.join(ROLE, "defaults", "main.yml")) as f:
        for raw in f:
            line = raw.split("#", 1)[0].rstrip()
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            if not sep or key != key.strip():
                raise ValueError(f"defaults/main.yml: not a flat `key: value` line: {raw!r}")
            value = value.strip().strip('"')
            out[key] = int(value) if value.isdigit() else value
    return out


v = _defaults()
root = v["app_root"]

files.directory(name="app directory", path=root, mode="755")

files.put(
    name="motd",
    src=os.path.join(ROLE, "files", "motd.txt"),
    dest=f"{root}/motd.txt",
    mode="644",
)

files.template(
    name="app config",
    src=os.path.join(ROLE, "templates", "app.conf.j2"),
    dest=f"{root}/app.conf",
    mode="644",
    inventory_hostname=host.name,
    **v,
)

files.line(
    name="environment line",
    path="/etc/environment",
    line="^BENCH_ENV=.*$",
    replace="BENCH_ENV=production",
)

apt.packages(name="packages present", packages=["curl", "git", "cron"])

# command with `creates`: pyinfra's way is a fact checked while planning
if not host.get_fact(File, path=f"{root}/initialized"):
    server.shell(name="initialise once", commands=[f"cp /etc/hostname {root}/initialized"])

server.service(name="cron running", service="cron", running=True)

server.user(
    name="app user",
    user=v["app_user"],
    comment="bench app",
    shell="/bin/bash",
    home=f"/home/{v['app_user']}",
    create_home=True,
)

crontab.crontab(
    name="cleanup job",
    cron_name="bench cleanup",
    user=v["app_user"],
    minute="*/15",
    command="find /tmp -maxdepth 1 -name 'bench-*' -mmin +60 -delete",
)

git.repo(name="app checkout", src=v["app_repo"], dest=f"{root}/app", branch=v["app_version"])

files.link(name="current release", path=f"{root}/current", target=f"{root}/app")
