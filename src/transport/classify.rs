//! Turns what `ssh`, a ProxyCommand or `sudo` printed into a typed error the user
//! can act on (as jj's git_subprocess does for git). Pure: unit-tested on text.

use std::path::PathBuf;

use super::{Output, TransportError};

/// Classifies the stderr of a failed `ssh -M` (master) launch.
pub fn connect_error(host: &str, stderr: &str) -> TransportError {
    let host = host.to_string();
    // The master runs with -v: its debug lines (which may mention an IPv6 address
    // refused before IPv4 worked) are not the error.
    let text: String = stderr
        .lines()
        .filter(|l| {
            !l.starts_with("debug")
                && !l.starts_with("OpenSSH_")
                && !l.starts_with("Authenticated to")
                && !l.starts_with("Transferred:")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let text = text.trim();
    let last = last_meaningful_line(text);
    if text.contains("REMOTE HOST IDENTIFICATION HAS CHANGED") {
        let (file, line) = offending_key(text).unzip();
        let name = changed_key_name(text);
        return TransportError::HostKeyChanged {
            host,
            name,
            file,
            line,
        };
    }
    if text.contains("Host key verification failed")
        || text.contains("No ") && text.contains("host key is known")
    {
        return TransportError::HostKeyUnknown { host, detail: last };
    }
    if text.contains("Could not resolve hostname") || text.contains("Name or service not known") {
        return TransportError::NameResolution { host, detail: last };
    }
    if text.contains("Connection refused") {
        return TransportError::ConnectionRefused { host, detail: last };
    }
    if text.contains("timed out") || text.contains("Connection timed out") {
        return TransportError::Timeout {
            host,
            seconds: None,
            detail: last,
        };
    }
    if text.contains("Permission denied (") || text.contains("Too many authentication failures") {
        return TransportError::Authentication { host, detail: last };
    }
    if text.contains("Load key")
        || text.contains("no such identity")
        || text.contains("bad permissions")
    {
        return TransportError::Authentication { host, detail: last };
    }
    if text.contains("No route to host") || text.contains("Network is unreachable") {
        return TransportError::NetworkUnreachable { host, detail: last };
    }
    if text.contains("kex_exchange_identification")
        || text.contains("Connection closed by")
        || text.contains("Connection reset")
    {
        return TransportError::ConnectionClosed { host, detail: last };
    }
    if text.contains("Bad configuration option")
        || text.contains("Unsupported option")
        || text.contains("garbage at end of line")
        || text.contains("terminating, ")
    {
        return TransportError::SshConfig { host, detail: last };
    }
    TransportError::Ssh {
        host,
        detail: if last.is_empty() {
            "ssh exited without a message".into()
        } else {
            last
        },
    }
}

/// Recognises sudo's own refusals in the stderr of a command run with `sudo -n`.
pub fn sudo_error(host: &str, user: &str, rc: i32, stderr: &str) -> Option<TransportError> {
    let host = host.to_string();
    let user = user.to_string();
    let s = stderr.trim();
    if s.contains("sudo: a password is required") || s.contains("sudo: a terminal is required") {
        return Some(TransportError::SudoPassword { host, user });
    }
    // `sudo -S` given a wrong password: "Sorry, try again." then, once its
    // input ran out, "sudo: N incorrect password attempt(s)".
    if s.contains("incorrect password attempt") {
        return Some(TransportError::SudoWrongPassword { host, user });
    }
    if s.contains("is not in the sudoers file")
        || s.contains("is not allowed to execute")
        || s.contains("may not run sudo")
    {
        return Some(TransportError::SudoDenied {
            host,
            user,
            detail: last_meaningful_line(s),
        });
    }
    if rc == 127 && (s.contains("sudo: not found") || s.contains("sudo: command not found")) {
        return Some(TransportError::SudoMissing { host });
    }
    if s.starts_with("sudo: unknown user") {
        return Some(TransportError::SudoDenied {
            host,
            user,
            detail: last_meaningful_line(s),
        });
    }
    None
}

/// A command's output, unless it says that the login shell could not start
/// opsctl's `/bin/sh` (exit status 127, nothing on stdout, and the shell naming
/// `/bin/sh` itself as the command it could not find). A command of the user's
/// that is not found is reported by that /bin/sh with the command's name, so it
/// stays a failed task with status 127.
pub fn no_shell(host: &str, out: Output) -> Result<Output, TransportError> {
    let stderr = String::from_utf8_lossy(&out.stderr);
    let missing = stderr.lines().any(|l| {
        let l = l.trim_end();
        l.ends_with(" /bin/sh: not found") || l.ends_with("/bin/sh: No such file or directory")
    });
    if out.rc == Some(127) && out.stdout.is_empty() && missing {
        return Err(TransportError::NoShell {
            host: host.to_string(),
            detail: last_meaningful_line(&stderr),
        });
    }
    Ok(out)
}

/// `Offending ED25519 key in /root/.ssh/known_hosts:3` -> (path, 3).
fn offending_key(text: &str) -> Option<(PathBuf, usize)> {
    for line in text.lines() {
        let Some(rest) = line.split(" key in ").nth(1) else {
            continue;
        };
        if !line.contains("Offending") {
            continue;
        }
        let rest = rest.trim();
        if let Some((path, num)) = rest.rsplit_once(':')
            && let Ok(n) = num.trim().parse()
        {
            return Some((PathBuf::from(path), n));
        }
    }
    None
}

/// The name ssh looked the key up under (what `ssh-keygen -R` needs): from
/// `Host key for NAME has changed`, else from its `ssh-keygen ... -R "NAME"` advice.
/// With a HostKeyAlias it is the alias; on a port other than 22, `[address]:port`.
fn changed_key_name(text: &str) -> Option<String> {
    let from_message = text.lines().find_map(|l| {
        l.trim()
            .strip_prefix("Host key for ")?
            .split_once(" has changed")
            .map(|(name, _)| name.to_string())
    });
    let from_advice = || {
        text.lines().find_map(|l| {
            let rest = l.trim().strip_prefix("ssh-keygen ")?;
            let after = rest.split_once(" -R ")?.1.trim();
            let name = after.strip_prefix('"').and_then(|a| a.split_once('"'));
            Some(match name {
                Some((name, _)) => name.to_string(),
                None => after.split_whitespace().next()?.to_string(),
            })
        })
    };
    from_message
        .or_else(from_advice)
        .filter(|n| !n.is_empty() && !n.contains(char::is_whitespace))
}

/// The line of ssh's stderr that says the most: the last one that is not a banner,
/// warning box or blank line.
fn last_meaningful_line(text: &str) -> String {
    text.lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("@@@") && !l.starts_with("Warning: Permanently added")
        })
        .rfind(|l| !l.contains("Connection closed by UNKNOWN port 65535"))
        .unwrap_or("")
        .trim_start_matches("ssh: ")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::transport::shell_quote;

    const BANNER: &str = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
        @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
        @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n";

    #[test]
    fn changed_host_key_names_file_and_line() {
        let err = "@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
            @    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n\
            @@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n\
            IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\n\
            Offending ED25519 key in /tmp/env/known_hosts:2\n\
            Host key for host2 has changed and you have requested strict checking.\n\
            Host key verification failed.\n";
        match connect_error("host2", err) {
            TransportError::HostKeyChanged {
                file, line, name, ..
            } => {
                assert_eq!(file.unwrap(), PathBuf::from("/tmp/env/known_hosts"));
                assert_eq!(line, Some(2));
                assert_eq!(name.as_deref(), Some("host2"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn changed_host_key_is_named_as_known_hosts_stores_it() {
        // ssh 9.2 with `HostKeyAlias db-primary` in the user's ssh_config
        let alias = "Offending ED25519 key in /home/me/.ssh/known_hosts:7\n\
            \x20 remove with:\n\
            \x20 ssh-keygen -f \"/home/me/.ssh/known_hosts\" -R \"db-primary\"\n\
            Host key for db-primary has changed and you have requested strict checking.\n\
            Host key verification failed.\n";
        let port = "Offending ED25519 key in /k:1\n\
            Host key for [10.0.0.5]:2222 has changed and you have requested strict checking.\n";
        let advice_only = "Offending ED25519 key in /k:1\n  ssh-keygen -f \"/k\" -R \"web-key\"\n";
        for (text, expected) in [
            (alias, "db-primary"),
            (port, "[10.0.0.5]:2222"),
            (advice_only, "web-key"),
        ] {
            let e = connect_error("db1", &format!("{BANNER}{text}"));
            match &e {
                TransportError::HostKeyChanged { name, .. } => {
                    assert_eq!(name.as_deref(), Some(expected), "{text}")
                }
                other => panic!("{other:?}"),
            }
            let hint = e.hint().unwrap();
            assert!(
                hint.contains(&format!("ssh-keygen -R {} -f", shell_quote(expected))),
                "{hint}"
            );
        }
    }

    #[test]
    fn classifies_common_failures() {
        let cases = [
            (
                "ssh: Could not resolve hostname nope: Name or service not known",
                "name resolution",
            ),
            (
                "2025/01/01 socat[12] E connect(5, AF=2 127.0.0.1:22, 16): Connection refused\nkex_exchange_identification: Connection closed by remote host\nConnection closed by UNKNOWN port 65535",
                "connection refused",
            ),
            (
                "ssh: connect to host 10.0.0.1 port 22: Connection timed out",
                "timeout",
            ),
            (
                "root@host1: Permission denied (publickey).",
                "authentication",
            ),
            (
                "No ED25519 host key is known for host1 and you have requested strict checking.\nHost key verification failed.",
                "unknown host key",
            ),
            (
                "kex_exchange_identification: read: Connection reset by peer",
                "connection closed",
            ),
            (
                "/tmp/x/ssh_config: line 3: Bad configuration option: foo\n/tmp/x/ssh_config: terminating, 1 bad configuration options",
                "ssh configuration",
            ),
        ];
        for (text, kind) in cases {
            assert_eq!(connect_error("h", text).kind(), kind, "{text}");
        }
    }

    #[test]
    fn debug_lines_are_not_the_error() {
        let log = "OpenSSH_9.2p1 Debian-2+deb12u7, OpenSSL 3.0.17 1 Jul 2025\n\
            debug1: Reading configuration data /tmp/x/ssh_config\n\
            debug1: connect to address ::1 port 22: Connection refused\n\
            debug1: Connecting to 127.0.0.1 [127.0.0.1] port 22.\n\
            debug1: Authentications that can continue: publickey\n\
            root@127.0.0.1: Permission denied (publickey).\n";
        assert_eq!(connect_error("h", log).kind(), "authentication");
    }

    #[test]
    fn refused_detail_is_the_socat_line() {
        let e = connect_error(
            "h",
            "socat[1] E connect(5, AF=2 127.0.0.1:22, 16): Connection refused\nkex_exchange_identification: Connection closed by remote host\nConnection closed by UNKNOWN port 65535\n",
        );
        assert!(e.to_string().contains("connection refused"), "{e}");
    }

    #[test]
    fn sudo_refusals() {
        assert!(matches!(
            sudo_error("h", "root", 1, "sudo: a password is required\n"),
            Some(TransportError::SudoPassword { .. })
        ));
        assert!(matches!(
            sudo_error(
                "h",
                "root",
                1,
                "bob is not in the sudoers file.  This incident will be reported.\n"
            ),
            Some(TransportError::SudoDenied { .. })
        ));
        assert!(matches!(
            sudo_error("h", "root", 127, "sh: 1: sudo: not found\n"),
            Some(TransportError::SudoMissing { .. })
        ));
        assert!(matches!(
            sudo_error(
                "h",
                "root",
                1,
                "Sorry, try again.\n\nsudo: no password was provided\nsudo: 1 incorrect password attempt\n"
            ),
            Some(TransportError::SudoWrongPassword { .. })
        ));
        assert!(sudo_error("h", "root", 1, "grep: x: No such file\n").is_none());
    }

    #[test]
    fn a_missing_shell_is_told_apart_from_a_missing_command() {
        let out = |rc, stderr: &str| crate::transport::Output {
            rc: Some(rc),
            stdout: vec![],
            stderr: stderr.as_bytes().to_vec(),
        };
        for login_shell_said in [
            "bash: line 1: /bin/sh: No such file or directory\n",
            "sh: 1: /bin/sh: not found\n",
        ] {
            let e = no_shell("h", out(127, login_shell_said)).unwrap_err();
            assert_eq!(e.kind(), "no shell");
            assert!(e.hint().unwrap().contains("ssh h /bin/sh -c true"));
        }
        // the user's command not found, as dash and bash report it: a failed task
        for said in [
            "/bin/sh: 1: nosuchcommand: not found\n",
            "bash: line 1: nosuchcommand: command not found\n",
        ] {
            assert_eq!(no_shell("h", out(127, said)).unwrap().rc, Some(127));
        }
        assert!(no_shell("h", out(1, "sh: 1: /bin/sh: not found\n")).is_ok());
    }
}
