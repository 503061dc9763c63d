//! Ansible-compatible modules, part D (issue 11), through the real binary on a
//! real test-bed host:
//! - MariaDB (mariadb-server from the offline repository; its init script
//!   starts it when apt installs it in a plain host, and `service` keeps it
//!   started) managed with mysql_db and mysql_user through the `mysql` client
//!   as root over the unix socket, as on Debian, and through a login's
//!   password (an option file made for the run, never on a command line).
//! - Django (from the test bed's wheelhouse, in a virtualenv) and a tiny
//!   project written by the test, managed with django_manage.
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

    // dump, import, removal, a new host of a known name
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
    - name: app on a new host keeps the password app has (on_new_username)
      mysql_user:
        name: app
        host: 127.0.0.1
        password: not-this-one
        update_password: on_new_username
"#;
    let run = tb.play("teardown", teardown, &[]);
    run.code(0);
    changed(&run, 5);
    assert_eq!(sql(&tb, "SELECT id FROM restored.items"), "7");
    assert_eq!(
        sql(
            &tb,
            "SELECT count(*), count(DISTINCT authentication_string) FROM mysql.user WHERE user = 'app'"
        ),
        "2\t1"
    );
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

const DJANGO: &str = r#"
- hosts: web
  gather_facts: false
  vars:
    site: /srv/site
  tasks:
    - apt:
        name: python3-venv
    - name: Django in a virtualenv (from the test bed's wheelhouse)
      pip:
        name: django
        virtualenv: /srv/venv
        virtualenv_command: python3 -m venv
    - name: the project's directories
      file:
        path: "{{ site }}/{{ item }}"
        state: directory
      loop: [site_cfg, notes/migrations, notes/static/notes, notes/fixtures]
    - name: the project's files
      copy:
        dest: "{{ site }}/{{ item.path }}"
        content: "{{ item.content }}"
      loop:
        - path: manage.py
          content: |
            import os, sys
            if __name__ == "__main__":
                os.environ.setdefault("DJANGO_SETTINGS_MODULE", "site_cfg.settings")
                from django.core.management import execute_from_command_line
                execute_from_command_line(sys.argv)
        - path: site_cfg/__init__.py
          content: ""
        - path: site_cfg/settings.py
          content: |
            SECRET_KEY = "test-only"
            INSTALLED_APPS = ["django.contrib.contenttypes", "django.contrib.staticfiles", "notes"]
            DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": "/srv/site/db.sqlite3"}}
            CACHES = {"default": {"BACKEND": "django.core.cache.backends.db.DatabaseCache", "LOCATION": "site_cache"}}
            STATIC_URL = "/static/"
            STATIC_ROOT = "/srv/static"
            USE_TZ = True
            DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
        - path: notes/__init__.py
          content: ""
        - path: notes/models.py
          content: |
            from django.db import models
            class Note(models.Model):
                text = models.CharField(max_length=100)
        - path: notes/migrations/__init__.py
          content: ""
        - path: notes/migrations/0001_initial.py
          content: |
            from django.db import migrations, models
            class Migration(migrations.Migration):
                initial = True
                dependencies = []
                operations = [migrations.CreateModel(name="Note", fields=[
                    ("id", models.AutoField(primary_key=True, serialize=False)),
                    ("text", models.CharField(max_length=100))])]
        - path: notes/static/notes/app.css
          content: "body { margin: 0 }\n"
        - path: notes/fixtures/notes.json
          content: '[{"model": "notes.note", "pk": 1, "fields": {"text": "hello"}}]'
    - name: the database schema
      community.general.django_manage:
        command: migrate
        project_path: "{{ site }}"
        settings: site_cfg.settings
        virtualenv: /srv/venv
      register: m
    - assert:
        that: [m.project_path == site, "m.cmd is search('--noinput')"]
    - name: the cache table
      django_manage:
        command: createcachetable
        app_path: "{{ site }}"
        virtualenv: /srv/venv
    - name: static files
      django_manage:
        command: collectstatic
        project_path: "{{ site }}"
        virtualenv: /srv/venv
"#;

const DJANGO_ONCE: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: initial data
      django_manage:
        command: loaddata
        project_path: /srv/site
        fixtures: notes.json
        virtualenv: /srv/venv
      register: l
    - name: the system check
      django_manage:
        command: check
        project_path: /srv/site
        virtualenv: /srv/venv
      register: c
    - assert:
        that: ["c.out is search('no issues')", c is not changed]
    - name: an unknown setting module fails with Django's words
      django_manage:
        command: check
        project_path: /srv/site
        settings: site_cfg.nope
        virtualenv: /srv/venv
      ignore_errors: true
      register: bad
    - assert:
        that: [bad is failed, "bad.msg is search('site_cfg.nope')"]
"#;

/// Rows of the project's SQLite database on host1.
fn sqlite(tb: &Testbed, query: &str) -> String {
    let r = tb.exec(
        "host1",
        &format!(
            "python3 -c 'import sqlite3, sys; c = sqlite3.connect(\"/srv/site/db.sqlite3\"); print(c.execute(sys.argv[1]).fetchall()); c.commit()' \"{query}\""
        ),
    );
    r.code(0);
    r.stdout.trim().to_string()
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn django_manage_migrate_collectstatic_cache_table_and_loaddata() {
    let tb = Testbed::up(1);
    let first = tb.play("django", DJANGO, &[]);
    first.code(0).no_panic();
    // apt, pip, directories, files, migrate, createcachetable, collectstatic
    changed(&first, 7);
    changed(&tb.play("django", DJANGO, &[]), 0);
    assert_eq!(
        sqlite(
            &tb,
            "SELECT name FROM django_migrations WHERE app = 'notes'"
        ),
        "[('0001_initial',)]"
    );
    assert_eq!(
        sqlite(
            &tb,
            "SELECT count(*) FROM sqlite_master WHERE name IN ('site_cache', 'notes_note')"
        ),
        "[(2,)]"
    );
    tb.exec("host1", "test -f /srv/static/notes/app.css")
        .code(0);

    // drift behind opsctl's back: the app's migration unapplied, the cache
    // table dropped, a static file removed
    tb.exec(
        "host1",
        "cd /srv/site && /srv/venv/bin/python manage.py migrate notes zero >/dev/null && rm /srv/static/notes/app.css",
    )
    .code(0);
    sqlite(&tb, "DROP TABLE site_cache");
    let check = tb.play("django", DJANGO, &["--check", "--diff"]);
    check.code(0);
    changed(&check, 3);
    check
        .stdout_has("+notes.0001_initial")
        .stdout_has("+    Create model Note")
        .stdout_has("+CREATE TABLE \"site_cache\"")
        .stdout_has("+Pretending to copy '/srv/site/notes/static/notes/app.css'");
    // nothing changed
    assert_eq!(
        sqlite(
            &tb,
            "SELECT count(*) FROM sqlite_master WHERE name IN ('site_cache', 'notes_note')"
        ),
        "[(0,)]"
    );
    tb.exec("host1", "test ! -e /srv/static/notes/app.css")
        .code(0);
    changed(&tb.play("django", DJANGO, &[]), 3);
    changed(&tb.play("django", DJANGO, &[]), 0);

    // loaddata always runs (changed when it installed objects, as in
    // Ansible); check reports no change; a failure shows Django's error
    let once = tb.play("django2", DJANGO_ONCE, &[]);
    once.code(0);
    changed(&once, 1);
    once.stdout_has("No module named 'site_cfg.nope'");
    assert_eq!(sqlite(&tb, "SELECT text FROM notes_note"), "[('hello',)]");
}

const DEPLOY: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: the project's directories
      community.general.deploy_helper:
        path: /srv/www
        release: "{{ release }}"
    - assert:
        that:
          - deploy_helper.new_release == release
          - deploy_helper.new_release_path == '/srv/www/releases/' + release
          - deploy_helper.shared_path == '/srv/www/shared'
    - name: the release's directory
      file:
        path: "{{ deploy_helper.new_release_path }}"
        state: directory
    - name: marked unfinished while it is built (not when it is live already)
      copy:
        content: ""
        dest: "{{ deploy_helper.new_release_path }}/{{ deploy_helper.unfinished_filename }}"
      when: deploy_helper.previous_release != deploy_helper.new_release
    - name: the release's code
      copy:
        content: "release {{ release }}\n"
        dest: "{{ deploy_helper.new_release_path }}/index.html"
    - name: live
      deploy_helper:
        path: /srv/www
        release: "{{ deploy_helper.new_release }}"
        state: finalize
        keep_releases: 2
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn deploy_helper_releases_finalize_and_clean() {
    let tb = Testbed::up(1);
    let deploy = |release: &str, extra: &[&str]| {
        let r = format!("release={release}");
        let mut args = vec!["-e", r.as_str()];
        args.extend_from_slice(extra);
        tb.play("deploy", DEPLOY, &args)
    };
    let first = deploy("r1", &[]);
    first.code(0).no_panic();
    // directories, release dir, marker, code, finalize
    changed(&first, 5);
    changed(&deploy("r1", &[]), 0);
    let live = || {
        tb.exec("host1", "readlink /srv/www/current; cat /srv/www/current/index.html; ls /srv/www/releases | tr '\\n' ' '")
            .code(0)
            .stdout
            .clone()
    };
    assert_eq!(live(), "/srv/www/releases/r1\nrelease r1\nr1 ");
    for r in ["r2", "r3", "r4"] {
        // a second apart: releases are ordered by ctime
        std::thread::sleep(std::time::Duration::from_millis(1100));
        changed(&deploy(r, &[]), 4);
    }
    // keep_releases: 2 besides the live one: r1 cleaned
    assert_eq!(live(), "/srv/www/releases/r4\nrelease r4\nr2 r3 r4 ");

    // drift behind opsctl's back: current back on r3, an unfinished build left
    tb.exec(
        "host1",
        "ln -sfn /srv/www/releases/r3 /srv/www/current && mkdir /srv/www/releases/broken && touch /srv/www/releases/broken/DEPLOY_UNFINISHED",
    )
    .code(0);
    let check = deploy("r4", &["--check", "--diff"]);
    check.code(0);
    // the marker (r4 is not live), finalize
    changed(&check, 2);
    check
        .stdout_has("+link /srv/www/current -> /srv/www/releases/r4")
        .stdout_has("+remove unfinished release broken");
    assert_eq!(live(), "/srv/www/releases/r3\nrelease r3\nbroken r2 r3 r4 ");
    changed(&deploy("r4", &[]), 2);
    assert_eq!(live(), "/srv/www/releases/r4\nrelease r4\nr2 r3 r4 ");
    changed(&deploy("r4", &[]), 0);

    // query registers the facts; absent removes the project
    let end = r#"
- hosts: web
  gather_facts: false
  tasks:
    - deploy_helper:
        path: /srv/www
        state: query
    - assert:
        that:
          - deploy_helper.previous_release == 'r4'
          - deploy_helper.previous_release_path == '/srv/www/releases/r4'
          - deploy_helper.new_release is match('^[0-9]{14}$')
    - deploy_helper:
        path: /srv/www
        state: absent
"#;
    let run = tb.play("end", end, &[]);
    run.code(0);
    changed(&run, 1);
    tb.exec("host1", "test ! -e /srv/www").code(0);
}
