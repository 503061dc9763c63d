//! Preview environments whose database is on a separate db host (issue 16): one
//! pair on the test bed's network (`testbed up --net`), host1 the web host, host2
//! the db host and the backup host (a local restic repository there). The main
//! app is deployed; a preview from a backup snapshot (anonymized) answers
//! through host1's nginx with its commit, its rows are in its own database on
//! host2 (owned by its own role, reached by password from host1); a second,
//! empty one expires and each host's timer command removes its part (host1: the
//! programs, site and files; host2: the database and role); `previews destroy`
//! removes the first one on both hosts. The main app's role, database, rows,
//! pg_hba.conf, release and programs are the same at the end. Real sshd, nginx,
//! supervisor, PostgreSQL, restic, git.

use crate::backups::{backed_up_pair, phases};
use crate::common::{Run, Testbed, git};
use crate::stack::{edit, sh};
use crate::stack_postgres::no_password;

const BACKUP_PASSWORD: &str = "preview-db-Backup/pw";

/// `curl` on host1, through nginx, for a server name (plain HTTP).
fn get(tb: &Testbed, name: &str, path: &str) -> String {
    sh(
        tb,
        "host1",
        &format!("curl -fsS --max-time 10 --resolve {name}:80:127.0.0.1 http://{name}{path}"),
    )
}

/// A note written through the app's API at a server name.
fn add_note(tb: &Testbed, name: &str, body: &str) {
    let r = sh(
        tb,
        "host1",
        &format!(
            "curl -fsS --max-time 10 --resolve {name}:80:127.0.0.1 http://{name}/api/notes -X POST \
             -H 'content-type: application/json' -d '{{\"body\": \"{body}\"}}'"
        ),
    );
    assert!(r.contains(body), "{r}");
}

/// SQL as postgres on the db host.
fn psql(tb: &Testbed, db: &str, sql: &str) -> String {
    sh(
        tb,
        "host2",
        &format!("cd / && su postgres -c \"psql -XAtq -d {db} -c \\\"{sql}\\\"\""),
    )
}

/// What must not change of the main app: on host2 its role (attributes and
/// password verifier), its database (owner, rights), its rows and the whole
/// pg_hba.conf; on host1 its live release, programs' PIDs, site and .env.
fn main_app(tb: &Testbed) -> Vec<String> {
    vec![
        psql(
            tb,
            "postgres",
            "select rolname, rolsuper, rolcreatedb, rolcreaterole, rolcanlogin, rolpassword from pg_authid where rolname = 'app'",
        ),
        psql(
            tb,
            "postgres",
            "select pg_get_userbyid(datdba), datacl from pg_database where datname = 'app'",
        ),
        psql(tb, "app", "select id, body from notes order by id"),
        sh(tb, "host2", "sha256sum /etc/postgresql/15/main/pg_hba.conf"),
        sh(tb, "host1", "readlink /srv/app/current"),
        sh(
            tb,
            "host1",
            "supervisorctl pid app-api; supervisorctl pid app-client",
        ),
        sh(
            tb,
            "host1",
            "sha256sum /etc/nginx/sites-available/app /etc/supervisor/conf.d/app-*.conf /srv/app/current/.env",
        ),
    ]
}

/// Neither the preview's database password nor the environment's secrets are
/// in `run`'s output.
#[track_caller]
fn no_secret(run: &Run, preview_password: &str) {
    no_password(run);
    for text in [&run.stdout, &run.stderr] {
        assert!(
            !text.contains(BACKUP_PASSWORD)
                && (preview_password.is_empty() || !text.contains(preview_password)),
            "a secret is printed:\n{text}"
        );
    }
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn a_preview_with_its_database_on_the_db_host() {
    let phase = phases("previews_db");
    let (tb, app, _) = backed_up_pair(
        "tls_enabled: false\npreview_domain: preview.test\n",
        BACKUP_PASSWORD,
        "backup_repository: /var/backups/opsctl-restic\n\
         anonymize_command: cd api && ../venv/bin/python -m app.anonymize\n",
    );
    let dir = app.path();
    tb.opsctl(&["provision", "--env", "tb", "--tags", "backup"])
        .code(0)
        .no_panic();
    tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"])
        .code(0)
        .no_panic();
    phase("provisioned and deployed");
    // pg_hba.conf: the app's lines as ever, and the previews' group to the
    // database of each member's own name, from host1.
    let hba = sh(
        &tb,
        "host2",
        "grep '^host' /etc/postgresql/15/main/pg_hba.conf",
    );
    assert!(
        hba.contains("host    app    app    host1    scram-sha-256")
            && hba.contains("host    sameuser    +app_previews    host1    scram-sha-256"),
        "{hba}"
    );
    add_note(&tb, "host1", "call alice@example.org");
    tb.opsctl(&["backup", "--env", "tb"]).code(0).no_panic();
    let main_before = main_app(&tb);
    let main_version = get(&tb, "host1", "/api/version");

    // A branch with another title; its preview from the snapshot.
    git(dir, &["checkout", "-q", "-b", "feat", "A"]);
    edit(
        dir,
        "client/src/page.html",
        "<h1>example app",
        "<h1>feat example app",
    );
    git(dir, &["commit", "-q", "-am", "feat"]);
    let feat = git(dir, &["rev-parse", "HEAD"]);
    let d = tb.opsctl(&[
        "deploy",
        "--env",
        "tb",
        "--preview",
        "feat",
        "--git-version",
        "feat",
        "--data",
        "snapshot",
    ]);
    d.code(0)
        .no_panic()
        .stdout_has("preview feat: database app_preview_feat from snapshot")
        .stdout_has("on host2")
        .stdout_has("preview feat answers at http://feat.preview.test");
    phase("preview feat deployed");
    // Its .env (0600, the app's) names host2 and its own role; the password is
    // in no output.
    assert_eq!(
        sh(
            &tb,
            "host1",
            "stat -c '%a %U' /srv/app-previews/feat/current/.env"
        ),
        "600 app"
    );
    let url = sh(
        &tb,
        "host1",
        "sed -n 's/^DATABASE_URL=//p' /srv/app-previews/feat/current/.env",
    );
    let password = url
        .strip_prefix("postgresql+asyncpg://app_preview_feat:")
        .and_then(|r| r.strip_suffix("@host2:5432/app_preview_feat"))
        .unwrap_or_else(|| panic!("DATABASE_URL names another database"))
        .to_string();
    assert_eq!(password.len(), 64, "a derived password");
    no_secret(&d, &password);

    // It answers through nginx with its commit; the main app with its own.
    assert!(get(&tb, "feat.preview.test", "/api/version").contains(&feat));
    assert!(get(&tb, "feat.preview.test", "/").contains("<h1>feat example app"));
    assert_eq!(get(&tb, "host1", "/api/version"), main_version);
    // Its data: the snapshot's, anonymized; a row written through its API is
    // in its database on host2, not in the main app's.
    let notes = get(&tb, "feat.preview.test", "/api/notes");
    assert!(
        !notes.contains("alice@example.org") && notes.contains("\"body\":\"note 1\""),
        "{notes}"
    );
    add_note(&tb, "feat.preview.test", "written in the preview");
    assert!(
        psql(&tb, "app_preview_feat", "select body from notes").contains("written in the preview")
    );
    assert!(!psql(&tb, "app", "select body from notes").contains("written in the preview"));
    // Its own role: a login in the previews' group, no other right; it owns
    // the database and the restored tables; it reaches only that database.
    assert_eq!(
        psql(
            &tb,
            "postgres",
            "select rolcanlogin, rolsuper, rolcreatedb, rolcreaterole, pg_has_role('app_preview_feat', 'app_previews', 'member'), \
             (select pg_get_userbyid(datdba) from pg_database where datname = 'app_preview_feat') from pg_roles where rolname = 'app_preview_feat'"
        ),
        "t|f|f|f|t|app_preview_feat"
    );
    assert_eq!(
        psql(
            &tb,
            "app_preview_feat",
            "select tableowner from pg_tables where tablename = 'notes'"
        ),
        "app_preview_feat"
    );
    // From host1 (asyncpg, in the preview's venv), its role and password reach
    // its database, and not the main app's.
    let connect = |db: &str| {
        tb.exec(
            "host1",
            &format!(
                "cd /srv/app-previews/feat/current && PW={password} venv/bin/python -c \"import asyncio, asyncpg, os\n\
                 async def go():\n    c = await asyncpg.connect(host='host2', user='app_preview_feat', password=os.environ['PW'], database='{db}', timeout=5)\n    print(await c.fetchval('select current_user'))\n\
                 asyncio.run(go())\" 2>&1"
            ),
        )
    };
    let own = connect("app_preview_feat");
    assert_eq!(
        (own.code, own.stdout.trim()),
        (0, "app_preview_feat"),
        "{own:?}"
    );
    let other = connect("app");
    assert!(
        other.code != 0 && other.stdout.contains("no pg_hba.conf entry"),
        "{other:?}"
    );
    // host2 keeps its own record of it and a timer (cron: no systemd here).
    let rec = sh(&tb, "host2", "cat /srv/app-previews/feat/preview.env");
    assert!(
        rec.contains("DB_NAME=app_preview_feat") && rec.contains("DB_ROLE=app_preview_feat"),
        "{rec}"
    );
    assert!(
        sh(&tb, "host2", "cat /etc/cron.d/opsctl-previews-app-previews")
            .contains("root /usr/local/sbin/opsctl-previews reap /srv/app-previews"),
    );
    // The list shows the web host's previews only.
    tb.opsctl(&["previews", "--env", "tb"])
        .code(0)
        .stdout_has("feat")
        .stdout_has(&feat[..7]);

    // A second preview, empty, expired: each host's timer command removes its part.
    let tmp = tb.opsctl(&[
        "deploy",
        "--env",
        "tb",
        "--preview",
        "tmp",
        "--git-version",
        "feat",
        "--lifetime",
        "1h",
    ]);
    tmp.code(0).no_panic();
    no_secret(&tmp, &password);
    assert_eq!(
        get(&tb, "tmp.preview.test", "/api/notes")
            .matches("\"id\"")
            .count(),
        0
    );
    tb.opsctl(&["previews", "extend", "tmp", "-3d", "--env", "tb"])
        .code(0)
        .stdout_has("host1 | preview tmp is removed at")
        .stdout_has("host2 | preview tmp is removed at");
    let web = sh(
        &tb,
        "host1",
        "/usr/local/sbin/opsctl-previews reap /srv/app-previews",
    );
    assert!(
        web.contains("removed preview tmp")
            && web.contains("database app_preview_tmp left to host2"),
        "{web}"
    );
    let db = sh(
        &tb,
        "host2",
        "/usr/local/sbin/opsctl-previews reap /srv/app-previews",
    );
    assert!(
        db.contains("database app_preview_tmp, role app_preview_tmp,"),
        "{db}"
    );
    assert_eq!(
        psql(
            &tb,
            "postgres",
            "select count(*) from pg_database where datname = 'app_preview_tmp'"
        ) + &psql(
            &tb,
            "postgres",
            "select count(*) from pg_roles where rolname = 'app_preview_tmp'"
        ),
        "00"
    );
    sh(
        &tb,
        "host1",
        "test ! -e /srv/app-previews/tmp && test ! -e /etc/nginx/sites-enabled/preview-tmp",
    );
    sh(&tb, "host2", "test ! -e /srv/app-previews/tmp");
    assert!(get(&tb, "feat.preview.test", "/api/version").contains(&feat));
    phase("tmp expired");

    // destroy: both hosts' parts of feat.
    let gone = tb.opsctl(&["previews", "destroy", "feat", "--env", "tb"]);
    gone.code(0)
        .stdout_has("host1 | removed preview feat")
        .stdout_has(
            "host2 | removed preview feat: database app_preview_feat, role app_preview_feat,",
        );
    assert_eq!(
        psql(
            &tb,
            "postgres",
            "select count(*) from pg_database where datname like 'app_preview%'"
        ) + &psql(
            &tb,
            "postgres",
            "select count(*) from pg_roles where left(rolname, 12) = 'app_preview_'"
        ),
        "00"
    );
    sh(
        &tb,
        "host1",
        "test ! -e /srv/app-previews/feat && test ! -e /etc/nginx/sites-available/preview-feat \
         && ! ls /etc/supervisor/conf.d | grep -q preview-",
    );
    tb.opsctl(&["previews", "--env", "tb"])
        .code(0)
        .stdout_has("no preview");

    // The main app: the same role, database, rows, pg_hba.conf, release, programs.
    assert_eq!(main_app(&tb), main_before);
    assert_eq!(get(&tb, "host1", "/api/version"), main_version);
    // The preview's password is in no file of the run journal.
    for e in std::fs::read_dir(tb.project.path().join(".opsctl/runs")).unwrap() {
        let text = std::fs::read_to_string(e.unwrap().path()).unwrap_or_default();
        assert!(
            !text.contains(&password),
            "the preview's password is in the journal"
        );
    }
    phase("done");
}
