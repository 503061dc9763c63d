//! Ansible-compatible modules, part D (issue 11), through the real binary on a
//! real test-bed host:
//! - MariaDB (mariadb-server from the offline repository; its init script
//!   starts it when apt installs it in a plain host, and `service` keeps it
//!   started) managed with mysql_db and mysql_user through the `mysql` client
//!   as root over the unix socket, as on Debian, and through a login's
//!   password (an option file made for the run, never on a command line).
//!
//! Each playbook runs twice (the second run changes nothing), then the state
//! is changed behind opsctl's back and `--check --diff` reports the drift,
//! shows it and changes nothing; a real run repairs it.

use crate::common::Testbed;
use crate::modules_system::changed;

/// One query's rows on host1, as root over the socket (tab-separated).
fn sql(tb: &Testbed, query: &str) -> String {
    let r = tb.exec("host1", &format!("mysql -N -B <<'EOF'\n{query}\nEOF"));
    r.code(0);
    r.stdout.trim().to_string()
}

/// Does `s` hold a mysql_native_password hash (`*` and 40 hex digits)?
fn has_native_hash(s: &str) -> bool {
    s.match_indices('*').any(|(i, _)| {
        s[i + 1..].len() >= 40 && s[i + 1..i + 41].chars().all(|c| c.is_ascii_hexdigit())
    })
}

/// A password with the characters option files and SQL must escape.
const PASSWORD: &str = r##"Very-s3cret"#\pw x'"##;

const MYSQL: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: the server, from the offline repository
      apt:
        name: mariadb-server
    - name: the server runs (its init script)
      service:
        name: mariadb
        state: started
    - name: the application's databases
      community.mysql.mysql_db:
        name: [appdb, logs]
        encoding: utf8mb4
        collation: utf8mb4_unicode_ci
      register: d
    - assert:
        that: "d.db_list == ['appdb', 'logs']"
    - name: the application's account
      mysql_user:
        name: app
        password: "{{ app_password }}"
        priv: "appdb.*:ALL,GRANT/logs.*:SELECT,INSERT"
      register: u
    - assert:
        that:
          - u.user == 'app'
          - u.password_changed is boolean
          - u.queries | select('search', 'IDENTIFIED BY') | reject('search', "PASSWORD '[*]{8}'") | list | length == 0
    - name: an admin from the private network
      community.mysql.mysql_user:
        name: admin
        host: "10.%"
        password: "{{ app_password }}"
        priv:
          "*.*": "ALL,GRANT"
    - name: a backup account that logs in by its unix user
      mysql_user:
        name: backup
        plugin: unix_socket
        priv: "*.*:SELECT,LOCK TABLES,RELOAD,SHOW VIEW"
    - name: the app's own login reads its database (the password through the option file)
      mysql_db:
        name: appdb
        login_user: app
        login_password: "{{ app_password }}"
        config_file: ""
    - name: check_implicit_admin logs in as root by the socket first
      mysql_db:
        name: appdb_cache
        login_user: nobody
        login_password: wrong
        check_implicit_admin: true
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn mysql_databases_users_privileges_dump_and_import() {
    let tb = Testbed::up(1);
    let pw = serde_json::json!({ "app_password": PASSWORD }).to_string();
    let first = tb.play("mysql", MYSQL, &["-e", &pw]);
    first.code(0).no_panic();
    // apt, dbs, app, admin, backup, appdb_cache (the service was started by apt)
    changed(&first, 6);
    assert!(!first.stdout.contains("s3cret") && !first.stderr.contains("s3cret"));
    changed(&tb.play("mysql", MYSQL, &["-e", &pw]), 0);

    // what the server holds
    assert_eq!(
        sql(
            &tb,
            "SELECT schema_name, default_character_set_name, default_collation_name FROM information_schema.schemata WHERE schema_name IN ('appdb', 'logs', 'appdb_cache') ORDER BY 1"
        ),
        "appdb\tutf8mb4\tutf8mb4_unicode_ci\nappdb_cache\tutf8mb4\tutf8mb4_general_ci\nlogs\tutf8mb4\tutf8mb4_unicode_ci"
    );
    let grants = sql(&tb, "SHOW GRANTS FOR app@localhost");
    assert!(
        grants.contains("GRANT ALL PRIVILEGES ON `appdb`.* TO `app`@`localhost` WITH GRANT OPTION")
            && grants.contains("GRANT SELECT, INSERT ON `logs`.* TO `app`@`localhost`"),
        "{grants}"
    );
    assert!(sql(&tb, "SHOW GRANTS FOR backup@localhost").contains("IDENTIFIED VIA unix_socket"));
    assert_eq!(
        sql(
            &tb,
            "SELECT plugin FROM mysql.user WHERE user = 'admin' AND host = '10.%'"
        ),
        "mysql_native_password"
    );
    // the password logs in (over the socket, by password), and only the right one
    let login = |p: &str| {
        let cnf = format!(
            "[client]\nuser=app\npassword=\"{}\"\n",
            p.replace('\\', "\\\\").replace('"', "\\\"")
        );
        tb.exec(
            "host1",
            &format!(
                "umask 077; cat > /tmp/app.cnf <<'EOF'\n{cnf}EOF\nmysql --defaults-file=/tmp/app.cnf -N -e 'SELECT 1' appdb; r=$?; rm -f /tmp/app.cnf; exit $r"
            ),
        )
    };
    assert_eq!(login(PASSWORD).code(0).stdout.trim(), "1");
    assert_ne!(login("wrong").code, 0);

    // drift behind opsctl's back: admin's password, a revoked and an extra
    // grant, a collation, a dropped account
    sql(
        &tb,
        "SET PASSWORD FOR admin@'10.%' = PASSWORD('other'); REVOKE INSERT ON logs.* FROM app@localhost; \
         GRANT SELECT ON mysql.* TO app@localhost; ALTER DATABASE logs COLLATE utf8mb4_bin; \
         DROP USER backup@localhost;",
    );
    let check = tb.play("mysql", MYSQL, &["-e", &pw, "--check", "--diff"]);
    check.code(0);
    // logs, app, admin, backup
    changed(&check, 4);
    check
        .stdout_has("would change")
        .stdout_has("-collation: utf8mb4_bin")
        .stdout_has("+collation: utf8mb4_unicode_ci")
        .stdout_has("-grant `logs`.*: SELECT\n")
        .stdout_has("-grant `mysql`.*: SELECT")
        .stdout_has("+grant `logs`.*: SELECT,INSERT")
        .stdout_has("+password: (changed)")
        .stdout_has("+plugin: unix_socket");
    assert!(!check.stdout.contains("s3cret") && !check.stdout.contains("*31EA"));
    // nothing changed
    assert_eq!(
        sql(&tb, "SELECT count(*) FROM mysql.user WHERE user = 'backup'"),
        "0"
    );
    assert!(sql(&tb, "SHOW GRANTS FOR app@localhost").contains("`mysql`.*"));
    // a real run repairs it all, the next changes nothing
    changed(&tb.play("mysql", MYSQL, &["-e", &pw]), 4);
    assert!(!sql(&tb, "SHOW GRANTS FOR app@localhost").contains("`mysql`.*"));
    changed(&tb.play("mysql", MYSQL, &["-e", &pw]), 0);

    // -vvvv shows scripts and outputs, never the password or its hash
    let loud = tb.play(
        "mysql",
        MYSQL,
        &["-e", r#"{"app_password": "Another-s3cret"}"#, "-vvvv"],
    );
    // app's and admin's passwords
    changed(&loud, 2);
    for text in [&loud.stdout, &loud.stderr] {
        assert!(!text.contains("s3cret") && !has_native_hash(text), "{text}");
    }

    // dump, import, removal
    let teardown = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: a table with a row
      command: mysql -e "CREATE TABLE IF NOT EXISTS appdb.items (id int); DELETE FROM appdb.items; INSERT INTO appdb.items VALUES (7)"
      changed_when: false
    - mysql_db:
        name: appdb
        state: dump
        target: /tmp/appdb.sql.gz
        single_transaction: true
      register: dumped
    - assert:
        that: [dumped is changed]
    - name: imported into a database it creates
      mysql_db:
        name: restored
        state: import
        target: /tmp/appdb.sql.gz
    - mysql_user:
        name: admin
        host_all: true
        state: absent
    - mysql_db:
        name: [logs, appdb_cache]
        state: absent
"#;
    let run = tb.play("teardown", teardown, &[]);
    run.code(0);
    changed(&run, 4);
    assert_eq!(sql(&tb, "SELECT id FROM restored.items"), "7");
    assert_eq!(
        sql(
            &tb,
            "SELECT count(*) FROM information_schema.schemata WHERE schema_name IN ('logs', 'appdb_cache')"
        ),
        "0"
    );
    assert_eq!(
        sql(&tb, "SELECT count(*) FROM mysql.user WHERE user = 'admin'"),
        "0"
    );
    // again: the dump and the import change (as in Ansible), nothing else
    changed(&tb.play("teardown", teardown, &[]), 2);

    // a task that cannot log in: the error says what to do
    tb.exec("host1", "id deploy").code(0);
    let denied = "- hosts: web\n  gather_facts: false\n  tasks:\n    - mysql_db:\n        name: x\n        login_user: deploy\n";
    let run = tb.play("denied", denied, &[]);
    run.code(2).no_panic();
    run.stdout_has("Access denied").stdout_has("become: true");
}
