//! The `status` of init scripts on a host without systemd: what opsctl's facts
//! say (`modules/sysv_status.rs`: pidfiles and liveness instead of running the
//! script, for the scripts it knows) is what `/etc/init.d/X status` says, for
//! nginx, supervisor, cron, postgresql and fail2ban, running, stopped and with a
//! stale pidfile or socket.

use crate::common::Testbed;

const SERVICES: [&str; 5] = ["nginx", "supervisor", "cron", "postgresql", "fail2ban"];

/// Each service's status as opsctl reads it (a `--check` run of `service:
/// state=started`, its registered `status.status_rc`), and which answered:
/// the facts or the script (`-vvvv` shows the gather exec's output).
fn opsctl_says(tb: &Testbed) -> Vec<(String, String, String)> {
    let mut tasks = String::new();
    for s in SERVICES {
        tasks.push_str(&format!(
            "    - service: {{ name: {s}, state: started }}\n      register: r_{s}\n"
        ));
    }
    let msg: Vec<String> = SERVICES
        .iter()
        .map(|s| format!("{s}={{{{ r_{s}.status.status_rc }}}}"))
        .collect();
    let playbook = format!(
        "- hosts: all\n  gather_facts: false\n  tasks:\n{tasks}    - debug: {{ msg: \"RCS {}\" }}\n",
        msg.join(" ")
    );
    let run = tb.play("status", &playbook, &["--check", "-vvvv"]);
    run.code(0);
    let all = format!("{}{}", run.stdout, run.stderr);
    let line = all
        .lines()
        .find_map(|l| l.split_once("RCS ").map(|(_, r)| r.trim_end_matches('"')))
        .unwrap_or_else(|| panic!("no RCS line:\n{all}"));
    SERVICES
        .iter()
        .map(|s| {
            let rc = line
                .split_whitespace()
                .find_map(|kv| kv.strip_prefix(&format!("{s}=")))
                .unwrap_or_else(|| panic!("no rc for {s}: {line}"));
            let by = all
                .lines()
                .find_map(|l| {
                    l.split_once(&format!("status_by {s} "))
                        .map(|(_, b)| b.split_whitespace().next().unwrap_or("").to_string())
                })
                .unwrap_or_default();
            (s.to_string(), rc.to_string(), by)
        })
        .collect()
}

/// What each init script's own `status` exits with.
fn scripts_say(tb: &Testbed) -> Vec<String> {
    SERVICES
        .iter()
        .map(|s| {
            let r = tb.exec(
                "host1",
                &format!("/etc/init.d/{s} status >/dev/null 2>&1 </dev/null; echo $?"),
            );
            r.stdout.trim().to_string()
        })
        .collect()
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn init_script_status_from_facts_is_the_scripts_own() {
    let tb = Testbed::up(1);
    tb.exec(
        "host1",
        "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null && \
         apt-get install -y -q nginx supervisor cron postgresql fail2ban >/dev/null 2>&1; \
         printf '[sshd]\\nenabled = false\\n' > /etc/fail2ban/jail.local",
    )
    .code(0);
    let start = "for s in nginx supervisor cron postgresql fail2ban; do /etc/init.d/$s start >/dev/null 2>&1; done; sleep 2";
    let stop = "for s in nginx supervisor cron postgresql fail2ban; do /etc/init.d/$s stop >/dev/null 2>&1; done; sleep 1";
    // a pid that no process has
    let stale = "sh -c 'echo $$ > /tmp/dead'; p=$(cat /tmp/dead); \
                 for f in /run/nginx.pid /var/run/supervisord.pid /var/run/crond.pid /var/lib/postgresql/15/main/postmaster.pid; do echo $p > $f; done; \
                 mkdir -p /var/run/fail2ban && : > /var/run/fail2ban/fail2ban.sock";
    // a live process that is not the daemon (the LSB helpers call it running,
    // supervisor's script looks at its command line)
    let foreign = "sleep 300 >/dev/null 2>&1 & p=$!; \
                   for f in /run/nginx.pid /var/run/supervisord.pid /var/run/crond.pid; do echo $p > $f; done";
    let mut decided = Vec::new();
    for (state, script) in [
        ("running", start),
        ("stopped", stop),
        ("stale pidfile", stale),
        ("live foreign pid", foreign),
    ] {
        tb.exec("host1", script);
        let ours = opsctl_says(&tb);
        let theirs = scripts_say(&tb);
        for ((name, rc, by), want) in ours.iter().zip(&theirs) {
            assert_eq!(
                rc, want,
                "{name} {state}: opsctl says {rc} (by {by}), the script {want}"
            );
            if by == "facts" {
                decided.push(format!("{name} {state}"));
            }
        }
    }
    // The facts answered, not the script, where they can: the LSB pidfile
    // services in every state, supervisor, fail2ban stopped.
    for want in [
        "cron running",
        "cron stopped",
        "cron stale pidfile",
        "cron live foreign pid",
        "nginx running",
        "nginx stopped",
        "nginx stale pidfile",
        "supervisor running",
        "supervisor stopped",
        "supervisor stale pidfile",
        "supervisor live foreign pid",
        "fail2ban stopped",
    ] {
        assert!(
            decided.iter().any(|d| d == want),
            "{want}: answered by the script, not the facts (facts answered: {decided:?})"
        );
    }
}
