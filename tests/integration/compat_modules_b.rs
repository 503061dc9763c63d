//! Ansible-compatible modules, part B (issue 11), through the real binary on a
//! real test-bed host: PostgreSQL installed from the offline repository and
//! managed with postgresql_user, postgresql_db, postgresql_ext and
//! postgresql_privs through `psql` as the postgres user (become). Each
//! playbook runs twice (the second run changes nothing), then the state is
//! changed behind opsctl's back and `--check --diff` reports the drift, shows
//! it and changes nothing.

use crate::common::Testbed;
use crate::modules_system::changed;

/// One SQL query's result on host1, as the postgres user.
fn sql(tb: &Testbed, db: &str, query: &str) -> String {
    let r = tb.exec(
        "host1",
        &format!("cd / && su postgres -c \"psql -X -A -t -d {db}\" <<'EOF'\n{query}\nEOF"),
    );
    r.code(0);
    r.stdout.trim().to_string()
}

const PASSWORD: &str = "Very-s3cret-app-pw";

const POSTGRES: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: the server, from the offline repository
      apt:
        name: postgresql
    - name: the server runs (its init script)
      service:
        name: postgresql
        state: started
    - name: the application's role
      become: true
      become_user: postgres
      postgresql_user:
        name: app
        password: "{{ app_password }}"
        role_attr_flags: CREATEDB,NOSUPERUSER
        conn_limit: 20
        comment: the application
        configuration:
          work_mem: 8MB
      register: u
    - assert:
        that:
          - u.user == 'app'
          - u.queries | length == 0 or u.queries[0] is search("PASSWORD '\*\*\*\*\*\*\*\*'")
    - name: a read-only role
      become: true
      become_user: postgres
      community.postgresql.postgresql_user:
        name: reader
        role_attr_flags: NOLOGIN
    - name: the application's database
      become: true
      become_user: postgres
      postgresql_db:
        name: appdb
        owner: app
        encoding: UTF-8
        template: template0
        conn_limit: "50"
        comment: the app
      register: d
    - assert:
        that: [d.db == 'appdb']
    - name: a table owned by the app
      become: true
      become_user: postgres
      command: psql -X -q -d appdb -c "CREATE TABLE IF NOT EXISTS items (id int); ALTER TABLE items OWNER TO app"
      changed_when: false
    - name: an extension
      become: true
      become_user: postgres
      postgresql_ext:
        name: pgcrypto
        db: appdb
        version: latest
      register: e
    - assert:
        that: [e.version != '']
    - name: reader may connect
      become: true
      become_user: postgres
      postgresql_privs:
        database: appdb
        type: database
        privs: CONNECT
        roles: reader
    - name: reader reads the tables
      become: true
      become_user: postgres
      postgresql_privs:
        db: appdb
        objs: ALL_IN_SCHEMA
        privs: SELECT
        roles: reader
    - name: reader reads the future tables of app
      become: true
      become_user: postgres
      postgresql_privs:
        db: appdb
        type: default_privs
        objs: TABLES
        privs: SELECT
        target_roles: app
        schema: public
        roles: reader
    - name: reader is a member of app
      become: true
      become_user: postgres
      postgresql_privs:
        db: appdb
        type: group
        objs: app
        roles: reader
    - name: PUBLIC may not use the database's temporary tables
      become: true
      become_user: postgres
      postgresql_privs:
        db: appdb
        type: database
        objs: appdb
        privs: TEMP
        roles: PUBLIC
        state: absent
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn postgresql_roles_databases_extensions_and_privileges() {
    let tb = Testbed::up(1);
    let pw = format!("app_password={PASSWORD}");
    let first = tb.play("postgres", POSTGRES, &["-e", &pw]);
    // apt, service? (the package's init script starts it), user x2, db, ext, privs x5
    first.code(0).no_panic();
    assert!(!first.stdout.contains(PASSWORD) && !first.stderr.contains(PASSWORD));
    changed(&tb.play("postgres", POSTGRES, &["-e", &pw]), 0);

    // what the server holds
    assert_eq!(
        sql(
            &tb,
            "postgres",
            "SELECT rolcreatedb, rolsuper, rolconnlimit, rolconfig::text FROM pg_roles WHERE rolname = 'app'"
        ),
        "t|f|20|{work_mem=8MB}"
    );
    assert!(
        sql(
            &tb,
            "postgres",
            "SELECT rolpassword FROM pg_authid WHERE rolname = 'app'"
        )
        .starts_with("SCRAM-SHA-256$4096:")
    );
    assert_eq!(
        sql(
            &tb,
            "postgres",
            "SELECT pg_get_userbyid(datdba), pg_encoding_to_char(encoding), datconnlimit, shobj_description(oid, 'pg_database') FROM pg_database WHERE datname = 'appdb'"
        ),
        "app|UTF8|50|the app"
    );
    assert_eq!(
        sql(
            &tb,
            "appdb",
            "SELECT (SELECT string_agg(privilege_type, ',') FROM pg_class c, aclexplode(c.relacl) a WHERE c.relname = 'items' AND a.grantee = 'reader'::regrole), has_database_privilege('reader', 'appdb', 'CONNECT'), pg_has_role('reader', 'app', 'MEMBER'), has_database_privilege('public', 'appdb', 'TEMP')"
        ),
        "SELECT|t|t|f"
    );
    assert_eq!(
        sql(
            &tb,
            "appdb",
            "SELECT extname FROM pg_extension WHERE extname = 'pgcrypto'"
        ),
        "pgcrypto"
    );
    // the password logs in over TCP (SCRAM), and only the right one
    let login = |p: &str| {
        tb.exec(
            "host1",
            &format!(
                "cd / && PGPASSWORD='{p}' psql -X -A -t -h 127.0.0.1 -U app -d appdb -c 'SELECT 1'"
            ),
        )
    };
    assert_eq!(login(PASSWORD).code(0).stdout.trim(), "1");
    assert_ne!(login("wrong").code, 0);

    // drift behind opsctl's back: a changed password, limit and owner, a
    // revoked grant, a dropped extension
    sql(
        &tb,
        "appdb",
        "ALTER ROLE app PASSWORD 'other'; ALTER ROLE app CONNECTION LIMIT 5; \
         ALTER DATABASE appdb OWNER TO postgres; REVOKE SELECT ON items FROM reader; \
         DROP EXTENSION pgcrypto;",
    );
    let check = tb.play("postgres", POSTGRES, &["-e", &pw, "--check", "--diff"]);
    // the role, the database, the extension, the table grant
    changed(&check, 4);
    check
        .stdout_has("would change")
        .stdout_has("-conn_limit: 5")
        .stdout_has("+conn_limit: 20")
        .stdout_has("+password: (changed)")
        .stdout_has("-owner: postgres")
        .stdout_has("+owner: app")
        .stdout_has("+GRANT SELECT ON TABLE public.items TO \"reader\"")
        .stdout_has("+extension: pgcrypto");
    assert!(!check.stdout.contains(PASSWORD) && !check.stdout.contains("SCRAM-SHA-256$4096:"));
    // nothing changed
    assert_eq!(
        sql(
            &tb,
            "appdb",
            "SELECT rolconnlimit FROM pg_roles WHERE rolname = 'app'"
        ),
        "5"
    );
    assert_ne!(login(PASSWORD).code, 0);
    // a real run repairs it all, the next changes nothing
    changed(&tb.play("postgres", POSTGRES, &["-e", &pw]), 4);
    assert_eq!(login(PASSWORD).code(0).stdout.trim(), "1");
    changed(&tb.play("postgres", POSTGRES, &["-e", &pw]), 0);

    // -vvvv shows scripts and outputs, never the password or its hash
    let loud = tb.play(
        "postgres",
        POSTGRES,
        &["-e", "app_password=Another-s3cret", "-vvvv"],
    );
    changed(&loud, 1);
    assert!(!loud.stdout.contains("Another-s3cret") && !loud.stderr.contains("Another-s3cret"));

    // removal, dump and rename
    let teardown = r#"
- hosts: web
  gather_facts: false
  become: true
  become_user: postgres
  tasks:
    - postgresql_db:
        name: appdb
        state: rename
        target: appdb_old
    - postgresql_db:
        name: appdb_old
        state: dump
        target: /tmp/appdb.sql.gz
    - postgresql_ext:
        name: pgcrypto
        db: appdb_old
        state: absent
    - name: reader still holds privileges; fail_on_user=no reports it
      postgresql_user:
        name: reader
        state: absent
        fail_on_user: false
      register: stuck
    - assert:
        that: [stuck is not changed, not stuck.user_removed]
    - name: the first run found reader holding privileges (the next finds no reader)
      assert:
        that: [stuck.msg is search('cannot be dropped')]
      when: "'msg' in stuck"
    - postgresql_privs:
        db: appdb_old
        type: group
        objs: app
        roles: reader
        state: absent
        fail_on_role: false
    - postgresql_privs:
        db: appdb_old
        type: database
        privs: ALL
        roles: reader
        state: absent
        fail_on_role: false
    - postgresql_privs:
        db: appdb_old
        objs: ALL_IN_SCHEMA
        privs: ALL
        roles: reader
        state: absent
        fail_on_role: false
    - postgresql_privs:
        db: appdb_old
        type: default_privs
        objs: ALL_DEFAULT
        privs: ALL
        target_roles: app
        schema: public
        roles: reader
        state: absent
        fail_on_role: false
    - postgresql_user:
        name: reader
        state: absent
"#;
    let run = tb.play("teardown", teardown, &[]);
    changed(&run, 8);
    assert_eq!(
        sql(
            &tb,
            "postgres",
            "SELECT string_agg(datname, ',' ORDER BY datname) FROM pg_database WHERE datname LIKE 'appdb%'"
        ),
        "appdb_old"
    );
    assert_eq!(
        sql(
            &tb,
            "postgres",
            "SELECT count(*) FROM pg_roles WHERE rolname = 'reader'"
        ),
        "0"
    );
    tb.exec(
        "host1",
        "gzip -dc /tmp/appdb.sql.gz | grep -q 'CREATE TABLE public.items'",
    )
    .code(0);
    // again: only the dump changes (a dump always does, as in Ansible)
    changed(&tb.play("teardown", teardown, &[]), 1);

    // a role that cannot log in by peer: the error says what to do
    let peer = "- hosts: web\n  gather_facts: false\n  tasks:\n    - postgresql_db: name=x\n";
    let run = tb.play("peer", peer, &[]);
    run.code(2).no_panic();
    run.stdout_has("become_user: postgres");
}

const UFW: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - apt:
        name: ufw
    - name: ssh stays reachable
      community.general.ufw:
        rule: allow
        port: "22"
        proto: tcp
    - name: the database from the private network
      ufw:
        rule: allow
        src: 10.0.0.0/8
        port: "5432"
        proto: tcp
        comment: postgres
    - name: a retired rule is gone
      ufw:
        rule: allow
        port: "8080"
        proto: tcp
        delete: true
    - ufw:
        default: deny
        direction: incoming
    - ufw:
        logging: "on"
    - ufw:
        state: enabled
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn ufw_rules_policies_and_state() {
    let tb = Testbed::up(1);
    // a rule to retire, made before opsctl runs
    tb.exec(
        "host1",
        "DEBIAN_FRONTEND=noninteractive apt-get install -y -q ufw >/dev/null && ufw allow 8080/tcp >/dev/null",
    )
    .code(0);
    let run = tb.play("ufw", UFW, &[]);
    // 22, 5432, delete 8080, enabled (deny incoming and logging are ufw's defaults)
    changed(&run, 4);
    changed(&tb.play("ufw", UFW, &[]), 0);
    let status = tb
        .exec("host1", "ufw status verbose")
        .code(0)
        .stdout
        .clone();
    assert!(status.contains("Status: active"), "{status}");
    assert!(
        status.contains("22/tcp") && status.contains("10.0.0.0/8") && status.contains("# postgres"),
        "{status}"
    );
    assert!(!status.contains("8080"), "{status}");

    // drift: ssh's rule deleted behind opsctl's back
    tb.exec(
        "host1",
        "ufw delete allow proto tcp from any to any port 22 >/dev/null",
    )
    .code(0);
    let check = tb.play("ufw", UFW, &["--check", "--diff"]);
    changed(&check, 1);
    check
        .stdout_has("would change")
        .stdout_has("+### tuple ### allow tcp 22 0.0.0.0/0 any 0.0.0.0/0 in");
    let rules = tb
        .exec("host1", "grep -c '^### tuple' /etc/ufw/user.rules")
        .stdout
        .clone();
    assert_eq!(rules.trim(), "1", "--check changed nothing");
    changed(&tb.play("ufw", UFW, &[]), 1);
    changed(&tb.play("ufw", UFW, &[]), 0);
}

const KEYS: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - community.crypto.openssl_privatekey:
        path: /etc/ssl/private/app.key
        size: 2048
      register: k
    - assert:
        that: [k.type == 'RSA', k.size == 2048, k.filename == '/etc/ssl/private/app.key']
    - group:
        name: ssl-cert
        system: true
    - openssl_privatekey:
        path: /etc/ssl/private/ec.key
        type: ECC
        curve: secp256r1
        group: ssl-cert
        mode: "0640"
    - openssl_privatekey:
        path: /etc/ssl/private/enc.key
        type: Ed25519
        passphrase: "{{ key_pass }}"
    - name: a CSR made outside opsctl (openssl_csr is not one of these modules)
      shell: openssl req -new -key /etc/ssl/private/ec.key -subj /CN=web.test -addext subjectAltName=DNS:web.test,DNS:www.web.test -out /etc/ssl/web.csr
      args:
        creates: /etc/ssl/web.csr
    - community.crypto.x509_certificate:
        path: /etc/ssl/certs/web.pem
        privatekey_path: /etc/ssl/private/ec.key
        csr_path: /etc/ssl/web.csr
        provider: selfsigned
        selfsigned_not_after: "+365d"
    - x509_certificate:
        path: /etc/ssl/certs/plain.pem
        privatekey_path: /etc/ssl/private/enc.key
        privatekey_passphrase: "{{ key_pass }}"
        provider: selfsigned
    - community.crypto.openssl_dhparam:
        path: /etc/ssl/dhparam.pem
        size: 1024
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn openssl_private_keys() {
    let tb = Testbed::up(1);
    let pass = "key_pass=Key-pass-s3cret";
    let run = tb.play("keys", KEYS, &["-e", pass, "--diff"]);
    // three keys, the group, the CSR, two certificates, the DH parameters
    changed(&run, 8);
    run.stdout_has("+type: ECC")
        .stdout_has("+curve: prime256v1");
    changed(&tb.play("keys", KEYS, &["-e", pass]), 0);
    let info = |cmd: &str| tb.exec("host1", cmd).code(0).stdout.trim().to_string();
    assert_eq!(
        info(
            "stat -c '%a %U %G' /etc/ssl/private/app.key /etc/ssl/private/ec.key /etc/ssl/private/enc.key"
        ),
        "600 root root\n640 root ssl-cert\n600 root root"
    );
    assert!(
        info("openssl pkey -in /etc/ssl/private/app.key -noout -text_pub").contains("(2048 bit)")
    );
    assert!(info("head -1 /etc/ssl/private/enc.key").contains("ENCRYPTED"));
    assert!(
        info("echo Key-pass-s3cret | openssl pkey -in /etc/ssl/private/enc.key -passin stdin -noout -text_pub")
            .contains("ED25519")
    );
    let cert =
        info("openssl x509 -in /etc/ssl/certs/web.pem -noout -subject -issuer -ext subjectAltName");
    assert!(
        cert.contains("subject=CN = web.test") && cert.contains("issuer=CN = web.test"),
        "{cert}"
    );
    assert!(cert.contains("DNS:www.web.test"), "{cert}");
    assert!(info("openssl dhparam -in /etc/ssl/dhparam.pem -noout -text").contains("(1024 bit)"));
    // the certificate is the key's
    assert_eq!(
        info("openssl x509 -in /etc/ssl/certs/web.pem -noout -pubkey | sha256sum"),
        info("openssl pkey -in /etc/ssl/private/ec.key -pubout | sha256sum")
    );

    // drift: a wider mode and a key of the wrong size
    tb.exec(
        "host1",
        "chmod 644 /etc/ssl/private/ec.key && openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 -out /etc/ssl/private/app.key 2>/dev/null \
         && openssl req -x509 -new -key /etc/ssl/private/app.key -subj /CN=other -days 1 -out /etc/ssl/certs/web.pem 2>/dev/null",
    )
    .code(0);
    let before = info("sha256sum /etc/ssl/private/app.key");
    let check = tb.play("keys", KEYS, &["-e", pass, "--check", "--diff", "-vvvv"]);
    changed(&check, 3);
    check
        .stdout_has("-subject: CN=other")
        .stdout_has("+subject: CN=web.test")
        .stdout_has("-size: 1024")
        .stdout_has("+size: 2048")
        .stdout_has("-mode: 0644")
        .stdout_has("+mode: 0640");
    // no key material, no passphrase, whatever the verbosity
    for s in [&check.stdout, &check.stderr] {
        assert!(!s.contains("Key-pass-s3cret"));
        assert!(!s.contains("MII"), "a PEM body was printed");
    }
    assert_eq!(info("sha256sum /etc/ssl/private/app.key"), before);
    changed(&tb.play("keys", KEYS, &["-e", pass]), 3);
    changed(&tb.play("keys", KEYS, &["-e", pass]), 0);
}
