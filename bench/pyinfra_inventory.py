"""pyinfra inventory of `make bench`: the test bed's hosts (group web).

bench/run sets OPSCTL_BENCH_DIR to the test bed directory; its `hosts` file
(Ansible INI, one host per line under [web]) and `ssh_config` (ProxyCommand
through the host's network namespace, HostKeyAlias, key, known_hosts) are
the ones opsctl and ansible-playbook use.
"""

import os

_dir = os.environ.get("OPSCTL_BENCH_DIR", "/tmp/opsctl-bench")


def _hosts():
    names = []
    with open(os.path.join(_dir, "hosts")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line and not line.startswith("["):
                names.append(line.split()[0])
    return names


web = (
    _hosts(),
    {
        # paramiko reads Host blocks (ProxyCommand, User, IdentityFile) from it
        "ssh_config_file": os.path.join(_dir, "ssh_config"),
        "ssh_known_hosts_file": os.path.join(_dir, "known_hosts"),
        "ssh_strict_host_key_checking": "yes",
        "ssh_key": os.path.join(_dir, "id_ed25519"),
        "ssh_user": "root",
        "ssh_allow_agent": False,
        "ssh_look_for_keys": False,
    },
)
