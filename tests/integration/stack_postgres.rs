//! PostgreSQL in the stack (issue 14): roles/postgresql on the hosts of group db,
//! its password from the environment's secrets. The web host that is also the db
//! host is covered by `stack::stack_deploy_switch_fail_rollback_and_lock` (the app
//! deployed on PostgreSQL, read and written through nginx); here a separate db
//! host on the test bed's own network (`testbed up --net`): the web host reaches
//! it, another host is refused by pg_hba.conf, and `opsctl status` shows it.

use crate::common::{Run, Testbed};
use crate::stack::{changed, sh, with_roles};

/// The database password of these tests, kept in the environment's secrets.
pub(crate) const DB_PASSWORD: &str = "pg-Secret/with@odd:chars";

/// The tb environment's inventory becomes `groups` (INI text), and its
/// secrets.age holds `db_password`, encrypted to a new identity that every
/// `opsctl` run of the test bed uses (`OPSCTL_AGE_KEY_FILE`).
pub(crate) fn with_db_secrets(tb: &Testbed, groups: &str) {
    tb.write("environments/tb/hosts", groups);
    let key = tb.project.path().join("identity.txt");
    std::fs::write(&key, tb.age_key()).unwrap();
    tb.env
        .borrow_mut()
        .push(("OPSCTL_AGE_KEY_FILE".into(), key.display().to_string()));
    tb.opsctl_stdin(
        &["secrets", "set", "--env", "tb", "db_password"],
        &format!("{DB_PASSWORD}\n"),
    )
    .code(0);
}

/// No output of `run` shows the database password (nor its URL-encoded form).
#[track_caller]
pub(crate) fn no_password(run: &Run) {
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(DB_PASSWORD) && !text.contains("pg-Secret%2Fwith"),
            "the password is printed:\n{text}"
        );
    }
}

/// `psql` as the app's role from `host` to `db` over TCP; (exit code, output).
fn psql_from(tb: &Testbed, host: &str, db: &str, sql: &str) -> (i32, String) {
    let r = tb.exec(
        host,
        &format!(
            "PGPASSWORD='{DB_PASSWORD}' PGCONNECT_TIMEOUT=5 psql -XAtq -h {db} -U app -d app -c \"{sql}\" 2>&1"
        ),
    );
    (r.code, r.stdout.trim().to_string())
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn postgresql_on_a_separate_db_host() {
    // host1 the web host, host2 the db host, host3 on the same network but in no group.
    let tb = Testbed::up_net(3, &["web=host1", "db=host2"]);
    with_roles(&tb);
    with_db_secrets(&tb, "[web]\nhost1\n\n[db]\nhost2\n");
    // The firewall (roles/security) opens PostgreSQL's port to the web hosts;
    // host3 gets through it too, to meet pg_hba.conf. (fail2ban and upgrades:
    // tests/integration/security.rs.)
    tb.write(
        "environments/tb/group_vars/db.yml",
        "postgresql_max_connections: 50\npostgresql_work_mem: 8MB\n\
         security_firewall_allow:\n  - {port: 5432, from: [host3]}\n\
         security_fail2ban: false\nsecurity_upgrades: false\n",
    );

    // The db play only (the web play's roles are the stack tests' business).
    let first = tb.opsctl(&["provision", "--env", "tb", "--limit", "host2"]);
    first.code(0).no_panic();
    no_password(&first);
    assert!(changed(&first, "host2") > 0, "{}", first.stdout);
    let again = tb.opsctl(&["provision", "--env", "tb", "--limit", "host2"]);
    again.code(0);
    assert_eq!(changed(&again, "host2"), 0, "{}", again.stdout);

    // Settings from variables; the server listens beyond localhost (a web host
    // is elsewhere); pg_hba.conf names host1 only.
    let settings = sh(
        &tb,
        "host2",
        "su postgres -c \"psql -XAtq -c 'show max_connections' -c 'show work_mem' -c 'show listen_addresses' -c 'show password_encryption' -c \\\"select has_database_privilege('public', 'app', 'CONNECT')\\\"\"",
    );
    assert_eq!(settings, "50\n8MB\n*\nscram-sha-256\nf");
    let hba = sh(
        &tb,
        "host2",
        "grep '^host' /etc/postgresql/15/main/pg_hba.conf",
    );
    assert!(
        hba.contains("app    app    host1    scram-sha-256"),
        "{hba}"
    );
    assert!(
        !hba.contains("host3") && !hba.contains("all    all"),
        "{hba}"
    );

    // The role's password works from the web host, over the test bed's network.
    for h in ["host1", "host3"] {
        sh(
            &tb,
            h,
            "apt-get install -y -q postgresql-client-15 >/dev/null 2>&1",
        );
    }
    let (code, out) = psql_from(
        &tb,
        "host1",
        "host2",
        "select current_user, inet_client_addr()",
    );
    assert_eq!((code, out.as_str()), (0, "app|10.231.0.1"));
    // Any other host is refused, password or not.
    let (code, out) = psql_from(&tb, "host3", "host2", "select 1");
    assert_ne!(code, 0);
    assert!(
        out.contains("no pg_hba.conf entry for host \"10.231.0.3\""),
        "{out}"
    );

    // Drift behind opsctl's back: --check --diff shows it and changes nothing.
    sh(
        &tb,
        "host2",
        "echo 'host all all 0.0.0.0/0 trust' >> /etc/postgresql/15/main/pg_hba.conf",
    );
    let check = tb.opsctl(&[
        "provision",
        "--env",
        "tb",
        "--limit",
        "host2",
        "--check",
        "--diff",
    ]);
    check.code(0).stdout_has("-host all all 0.0.0.0/0 trust");
    no_password(&check);
    let trusts_all = || {
        let grep = "grep -q '0.0.0.0/0 trust' /etc/postgresql/15/main/pg_hba.conf";
        tb.exec("host2", grep).code == 0
    };
    assert!(trusts_all(), "--check changed pg_hba.conf");
    let repaired = tb.opsctl(&["provision", "--env", "tb", "--limit", "host2"]);
    repaired.code(0).stdout_has("reload postgresql");
    assert!(!trusts_all(), "provision did not repair pg_hba.conf");

    // The app's URL on the web host names the db host; opsctl status sees the
    // database from host1 (reachable) and on host2 (size, connections).
    let vars = tb.opsctl(&["vars", "--env", "tb", "host1", "db_host"]);
    vars.code(0).stdout_has("db_host = \"host2\"");
    let status = tb.opsctl(&["status", "--env", "tb"]);
    status.no_panic();
    no_password(&status);
    let text = &status.stdout;
    let line = |host: &str| -> String {
        let mut lines = text.lines().skip_while(|l| *l != host).skip(1);
        lines
            .by_ref()
            .take_while(|l| l.starts_with("  "))
            .find(|l| l.trim_start().starts_with("database"))
            .unwrap_or_else(|| panic!("no database line for {host}:\n{text}"))
            .to_string()
    };
    assert!(line("host1").contains("host2:5432 reachable"), "{text}");
    let db = line("host2");
    assert!(
        db.contains("app:") && db.contains("connections of 50"),
        "{text}"
    );
}
