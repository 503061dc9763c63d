//! Compose apps end to end (issue 17, "Must show" 1-4), on one plain host of the
//! test bed: `opsctl provision` with the engine (roles/docker), then `opsctl
//! deploy` of tests/fixtures/compose-app (a Python stdlib server in a container
//! with host networking, its SQLite file in a bind mount) at refs A, B and D (its
//! version check fails) of a git repository made here, and `rollback`. The base
//! image is made on the host from its own files (tests/testbed/docker-base-image.sh).
//! Then previews of it (`deploy --preview`, issue 17): their own compose
//! projects, ports, upstream files, sites, certificates and data, the main
//! stack untouched; `previews destroy` and the expiry timer's command.

use std::path::Path;

use crate::common::{Testbed, git, repo};
use crate::stack::{all_vars, changed, copy_dir, edit, releases, sh, under_requests, with_roles};

/// The app's repository: tests/fixtures/compose-app as A; B (A + a comment);
/// D (B, but /version answers "broken": the version check through nginx fails
/// once the stack is live). Returns (A, B, D) commits.
pub(crate) fn app_repo(dir: &Path) -> [String; 3] {
    copy_dir(&repo().join("tests/fixtures/compose-app"), dir);
    git(dir, &["init", "-q", "-b", "main"]);
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "A"]);
    git(dir, &["tag", "A"]);
    edit(dir, "app.py", "import os\n", "import os  # B\n");
    git(dir, &["commit", "-q", "-am", "B"]);
    git(dir, &["tag", "B"]);
    edit(
        dir,
        "app.py",
        "self.answer(200, revision())",
        "self.answer(200, \"broken\")",
    );
    git(dir, &["commit", "-q", "-am", "D: the version check fails"]);
    git(dir, &["tag", "D"]);
    ["A", "B", "D"].map(|t| git(dir, &["rev-parse", &format!("{t}^{{commit}}")]))
}

/// The group_vars of a compose app of tests/fixtures/compose-app on test-bed
/// hosts (docker without bridge or iptables, vfs storage), shared with
/// compose_multi.rs.
pub(crate) const COMPOSE_VARS: &str = "app_kind: compose\ncontainer_engine: docker\n\
docker_storage_driver: vfs\n\
docker_daemon_options: {bridge: none, iptables: false}\n\
docker_nofile_limit: hard\n\
compose_files: [docker-compose.yml, docker-compose.persist.yml]\n\
version_check_path: /version\nhealth_checks: [/health, /notes]\n";

pub(crate) const CURL: &str = "curl -fsS --max-time 10 --cacert /tmp/pebble-root.pem";

/// The image id of the running container of service web (one project only).
pub(crate) fn web_image(tb: &Testbed) -> String {
    sh(
        tb,
        "host1",
        "ids=$(docker ps -q --filter label=com.docker.compose.service=web); \
         [ $(echo \"$ids\" | wc -w) = 1 ] || { docker ps -a >&2; exit 1; }; \
         docker inspect --format '{{.Image}}' $ids",
    )
}

/// group_vars/all.yml pointing at the app's repository, and pebble started
/// on host1 (the ACME server of its certificate).
pub(crate) fn app_vars(tb: &Testbed, app: &Path) {
    all_vars(tb, app, 4);
    sh(tb, "host1", "opsctl-start-pebble start");
}

/// The base image the app's Dockerfile starts from, made on `host` (whose
/// docker runs) by tests/testbed/docker-base-image.sh.
pub(crate) fn base_image(tb: &Testbed, host: &str) {
    let base = std::fs::read_to_string(repo().join("tests/testbed/docker-base-image.sh")).unwrap();
    sh(
        tb,
        host,
        &format!("cat > /tmp/base.sh <<'OPSCTL_EOF'\n{base}OPSCTL_EOF\nbash /tmp/base.sh"),
    );
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn compose_app_deploy_switch_fail_rollback() {
    let tb = Testbed::up(1);
    let app = tempfile::Builder::new()
        .prefix("opsctl-compose-")
        .tempdir()
        .unwrap();
    let [a, b, d] = app_repo(app.path());
    with_roles(&tb);
    tb.write(
        "environments/tb/group_vars/web.yml",
        &format!(
            "server_name: host1.test\nansible_user: root\n\
             tls_enabled: true\ntls_mode: acme\nacme_server: https://127.0.0.1:14000/dir\n\
             health_check_validate_certs: false\n{COMPOSE_VARS}\
             deploy_maintenance: never\n\
             app_env: {{GREETING: hello}}\n"
        ),
    );
    app_vars(&tb, app.path());

    // 1. A fresh host: provision with the engine, the base image, deploy A.
    let prov = tb.opsctl(&["provision", "--env", "tb"]);
    prov.code(0).no_panic();
    sh(
        &tb,
        "host1",
        "docker info --format '{{.Driver}}' | grep -qx vfs",
    );
    sh(&tb, "host1", "! ip link show docker0 2>/dev/null");
    sh(
        &tb,
        "host1",
        "! command -v node && ! test -d /srv/app/shared/venvs",
    );
    base_image(&tb, "host1");
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"]);
    dep.code(0).no_panic().stdout_has("is live on host1");
    sh(
        &tb,
        "host1",
        "curl -sS --fail -o /tmp/pebble-root.pem https://127.0.0.1:15000/roots/0",
    );
    let get = |path: &str| sh(&tb, "host1", &format!("{CURL} https://host1.test{path}"));
    assert_eq!(get("/version"), a);
    assert_eq!(
        sh(&tb, "host1", "stat -c '%a %U' /srv/app/current/.env"),
        "600 root"
    );
    sh(
        &tb,
        "host1",
        "grep -qx GREETING=hello /srv/app/current/.env",
    );
    let image_a = web_image(&tb);
    let again = tb.opsctl(&["provision", "--env", "tb"]);
    again.code(0);
    assert_eq!(changed(&again, "host1"), 0, "{}", again.stdout);
    tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"])
        .code(0)
        .stdout_has("already live on every host");

    // 2. A note written through nginx, then B under a request loop: no request
    // fails, the loop sees A then B, the note is still there (bind mount), and
    // A's stack is gone.
    sh(
        &tb,
        "host1",
        &format!("{CURL} -X POST --data-binary 'written before B' https://host1.test/notes"),
    );
    let (dep, ok, errors) =
        under_requests(&tb, &format!("{CURL} https://host1.test/version"), || {
            tb.opsctl(&["deploy", "--env", "tb", "--git-version", "B"])
        });
    dep.code(0).no_panic();
    let (on_a, on_b) = (
        ok.lines().filter(|l| *l == a).count(),
        ok.lines().filter(|l| *l == b).count(),
    );
    eprintln!(
        "during the switch to B: {} ok ({on_a} on A, {on_b} on B), {errors} errors",
        ok.lines().count()
    );
    assert_eq!(errors, "0", "requests failed during the switch");
    assert!(on_a > 0 && on_b > 0, "the loop saw A then B: {on_a} {on_b}");
    assert_eq!(get("/version"), b);
    assert_eq!(get("/notes"), "written before B");
    let image_b = web_image(&tb);
    assert_ne!(image_a, image_b);

    // 3. D: its stack starts, nginx switches to it, the version check fails:
    // B's stack serves again, D is bad, D's containers are gone.
    let fail_d = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "D"]);
    fail_d.code(2).no_panic().stderr_has("step health");
    assert_eq!(get("/version"), b);
    assert_eq!(web_image(&tb), image_b);

    // 4. rollback: back to A's images (skipping the bad D), data intact.
    tb.opsctl(&["rollback", "--env", "tb"]).code(0).no_panic();
    assert_eq!(get("/version"), a);
    assert_eq!(web_image(&tb), image_a);
    assert_eq!(get("/notes"), "written before B");
    // status: the live stack's container, healthy once its healthcheck passed.
    sh(
        &tb,
        "host1",
        "for i in $(seq 50); do \
           docker ps --filter label=com.docker.compose.service=web --filter health=healthy -q | grep -q . && exit 0; \
           sleep 0.2; done; exit 1",
    );
    let project = sh(
        &tb,
        "host1",
        "sed -n 's/^COMPOSE_PROJECT_NAME=//p' /srv/app/current/.env",
    );
    assert!(project.ends_with(&a[..7]), "{project}");
    tb.opsctl(&["status", "--env", "tb"])
        .code(0)
        .stdout_has(&format!(
            "{project}_web_1 running, healthy, 0 restart(s) ({project}-web)"
        ));
    // logs: the live stack's container, named after its service.
    tb.opsctl(&["logs", "--env", "tb", "web", "-n", "50"])
        .code(0)
        .stdout_has(&format!("serving {a} on"));
    let hosts = releases(&tb);
    let results: Vec<(String, String)> = hosts[0]["releases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["commit"].as_str().unwrap_or("").to_string(),
                r["result"].as_str().unwrap_or("").to_string(),
            )
        })
        .collect();
    assert_eq!(
        results,
        vec![
            (a.clone(), "ok".to_string()),
            (b.clone(), "rolled-back".to_string()),
            (d.clone(), "bad".to_string())
        ],
        "{hosts:?}"
    );

    // 5. Previews of the compose app beside the main app (at A now).
    previews_beside_the_main_app(&tb, &a, &b);

    // 6. The community.docker modules on the same engine: --check changes
    // nothing, the run makes the image, the container and the compose project,
    // a second run changes nothing.
    sh(
        &tb,
        "host1",
        "mkdir -p /tmp/echo /tmp/stack && \
         printf 'FROM opsctl-testbed/python:bookworm\\nLABEL opsctl.test=echo\\n' > /tmp/echo/Dockerfile && \
         printf 'version: \"2.4\"\\nservices:\\n  idle:\\n    image: opsctl-testbed/python:bookworm\\n    network_mode: none\\n    command: [\"python3\", \"-c\", \"import time; time.sleep(600)\"]\\n' > /tmp/stack/docker-compose.yml",
    );
    let playbook = r#"- hosts: web
  gather_facts: false
  tasks:
    - community.docker.docker_image:
        name: opsctl-test/echo
        tag: v1
        source: build
        build: {path: /tmp/echo}
    - community.docker.docker_container:
        name: echo
        image: opsctl-test/echo:v1
        network_mode: host
        command: [python3, -m, http.server, "8090", --bind, 127.0.0.1]
        env: {GREETING: hi}
        restart_policy: unless-stopped
    - community.docker.docker_compose_v2:
        project_src: /tmp/stack
        project_name: modtest
"#;
    let check = tb.play("docker_modules", playbook, &["--check"]);
    check.code(0).no_panic();
    assert_eq!(changed(&check, "host1"), 3, "{}", check.stdout);
    sh(
        &tb,
        "host1",
        "! docker image inspect opsctl-test/echo:v1 >/dev/null 2>&1 && ! docker inspect echo >/dev/null 2>&1",
    );
    let first = tb.play("docker_modules", playbook, &[]);
    first.code(0).no_panic();
    assert_eq!(changed(&first, "host1"), 3, "{}", first.stdout);
    sh(
        &tb,
        "host1",
        "for i in $(seq 50); do curl -fsS -o /dev/null http://127.0.0.1:8090/ && exit 0; sleep 0.1; done; exit 1",
    );
    assert_eq!(
        sh(
            &tb,
            "host1",
            "docker ps -q --filter label=com.docker.compose.project=modtest --filter status=running | wc -l"
        ),
        "1"
    );
    let second = tb.play("docker_modules", playbook, &[]);
    second.code(0);
    assert_eq!(changed(&second, "host1"), 0, "{}", second.stdout);
}

/// `curl` on host1 through nginx at a server name (pebble's certificate verified).
pub(crate) fn at(tb: &Testbed, name: &str, path: &str) -> String {
    sh(
        tb,
        "host1",
        &format!("{CURL} --resolve {name}:443:127.0.0.1 https://{name}{path}"),
    )
}

/// The ids of the containers of the compose project live in `root`, sorted.
fn stack_ids(tb: &Testbed, root: &str) -> String {
    sh(
        tb,
        "host1",
        &format!(
            "p=$(sed -n 's/^COMPOSE_PROJECT_NAME=//p' {root}/current/.env); [ -n \"$p\" ] && \
             docker ps -aq --no-trunc --filter label=com.docker.compose.project=$p | sort"
        ),
    )
}

/// Nothing of preview `name` is left on host1: no container, network or image
/// of its project, no files, site, upstream file, certificate or port record.
pub(crate) fn preview_gone(tb: &Testbed, name: &str) {
    sh(
        tb,
        "host1",
        &format!(
            "! docker ps -a --format '{{{{.Label \"com.docker.compose.project\"}}}}' | grep -q '^app-preview-{name}-' && \
             ! docker images --format '{{{{.Repository}}}}' | grep -q '^app-preview-{name}-' && \
             ! docker network ls --format '{{{{.Name}}}}' | grep -q '^app-preview-{name}-' && \
             test ! -e /srv/app-previews/{name} && test ! -e /etc/nginx/sites-enabled/preview-{name} && \
             test ! -e /etc/nginx/sites-available/preview-{name} && \
             test ! -e /etc/nginx/opsctl-upstream-preview-{name}.conf && test ! -e /etc/ssl/opsctl/preview-{name} && \
             ! grep -rqs '^NAME={name}$' /srv/app-previews/*/preview.env"
        ),
    );
}

/// Previews of the compose app (docs/compose.md, docs/previews.md) on host1,
/// whose main app is live at `a`: `pb` of B beside it, answering at its own
/// name over https with its commit, its own project, ports, data and site; a
/// failed deploy of it (D) leaves it serving B; a second preview; `destroy`
/// and the timer's command leave nothing of them; the main stack's containers
/// are the same throughout.
fn previews_beside_the_main_app(tb: &Testbed, a: &str, b: &str) {
    let web = tb.env_dir.join("group_vars/web.yml");
    let vars = std::fs::read_to_string(&web).unwrap();
    std::fs::write(&web, format!("{vars}preview_domain: preview.test\n")).unwrap();
    let main_ids = stack_ids(tb, "/srv/app");
    assert!(!main_ids.is_empty());
    let main_images = sh(
        tb,
        "host1",
        "docker images --format '{{.Repository}}' | grep -c '^app-'",
    );
    let deploy = |name: &str, rev: &str| {
        tb.opsctl(&[
            "deploy",
            "--env",
            "tb",
            "--preview",
            name,
            "--git-version",
            rev,
        ])
    };

    deploy("pb", "B")
        .code(0)
        .no_panic()
        .stdout_has("preview pb answers at https://pb.preview.test");
    assert_eq!(at(tb, "pb.preview.test", "/version"), b);
    assert_eq!(at(tb, "host1.test", "/version"), a);
    assert_eq!(
        stack_ids(tb, "/srv/app"),
        main_ids,
        "the main stack changed"
    );
    // Its project, its port (from the preview range, nginx's upstream for it),
    // its .env (0600) and data directory under the preview's root.
    let env = |k: &str| {
        sh(
            tb,
            "host1",
            &format!("sed -n 's/^{k}=//p' /srv/app-previews/pb/current/.env"),
        )
    };
    let project = env("COMPOSE_PROJECT_NAME");
    assert!(
        project.starts_with("app-preview-pb-") && project.ends_with(&b[..7]),
        "{project}"
    );
    let port: u32 = env("OPSCTL_PORT").parse().unwrap();
    assert!((20000..=20999).contains(&port), "{port}");
    assert_eq!(
        sh(
            tb,
            "host1",
            "cat /etc/nginx/opsctl-upstream-preview-pb.conf"
        ),
        format!("server 127.0.0.1:{port};")
    );
    assert_eq!(
        sh(
            tb,
            "host1",
            &format!(
                "docker ps --filter label=com.docker.compose.project={project} --format '{{{{.Names}}}}'"
            )
        ),
        format!("{project}_web_1")
    );
    assert_eq!(env("OPSCTL_DATA_DIR"), "/srv/app-previews/pb/shared/data");
    assert_eq!(
        sh(
            tb,
            "host1",
            "stat -c '%a %U' /srv/app-previews/pb/current/.env"
        ),
        "600 root"
    );
    // Its data is its own: a note written in it is not in the main app's, the
    // main app's is not in it.
    sh(
        tb,
        "host1",
        &format!(
            "{CURL} --resolve pb.preview.test:443:127.0.0.1 -X POST --data-binary 'written in pb' https://pb.preview.test/notes"
        ),
    );
    assert_eq!(at(tb, "pb.preview.test", "/notes"), "written in pb");
    assert_eq!(at(tb, "host1.test", "/notes"), "written before B");
    sh(
        tb,
        "host1",
        "d=$(sed -n 's/^OPSCTL_DATA_DIR=//p' /srv/app/current/.env); \
         [ -n \"$d\" ] && [ \"$d\" != /srv/app-previews/pb/shared/data ] && test -f \"$d/app.sqlite3\" \
         && test -f /srv/app-previews/pb/shared/data/app.sqlite3",
    );
    // Deployed again at the same commit: nothing to do.
    deploy("pb", "B")
        .code(0)
        .stdout_has("already live on every host");
    let pb_ids = stack_ids(tb, "/srv/app-previews/pb");

    // D fails its version check at the preview's name: pb serves B again.
    deploy("pb", "D")
        .code(2)
        .no_panic()
        .stderr_has("step health");
    assert_eq!(at(tb, "pb.preview.test", "/version"), b);
    assert_eq!(at(tb, "pb.preview.test", "/notes"), "written in pb");
    assert_eq!(stack_ids(tb, "/srv/app-previews/pb"), pb_ids);

    // A second preview (of A): ports of its own; pb's and the main stack stay.
    deploy("pa", "A").code(0).no_panic();
    assert_eq!(at(tb, "pa.preview.test", "/version"), a);
    assert_eq!(at(tb, "pa.preview.test", "/notes"), "");
    assert_eq!(stack_ids(tb, "/srv/app-previews/pb"), pb_ids);
    assert_eq!(stack_ids(tb, "/srv/app"), main_ids);
    let list = tb.opsctl(&["previews", "--env", "tb", "--output", "json"]);
    list.code(0);
    let rows: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&list.stdout)
        .into_iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(rows.len(), 2, "{}", list.stdout);
    let pa = rows.iter().find(|r| r["name"] == "pa").unwrap();
    assert_eq!(pa["compose_project"], "app-preview-pa");
    assert_eq!(pa["commit"], a);
    let pb = rows.iter().find(|r| r["name"] == "pb").unwrap();
    assert_eq!(pb["commit"], b);
    assert_ne!(pa["client_port"], pb["client_port"]);
    tb.opsctl(&["previews", "extend", "pb", "1d", "--env", "tb"])
        .code(0)
        .stdout_has("preview pb is removed at");

    // destroy: nothing of pb is left, pa and the main stack serve as before.
    tb.opsctl(&["previews", "destroy", "pb", "--env", "tb"])
        .code(0)
        .no_panic();
    preview_gone(tb, "pb");
    let log = sh(tb, "host1", "cat /srv/app-previews/removed.log");
    assert!(
        log.contains("removed preview pb:") && log.contains("compose project app-preview-pb"),
        "{log}"
    );
    eprintln!("preview pb: project {project}, port {port}; {log}");
    assert_eq!(at(tb, "pa.preview.test", "/version"), a);
    assert_eq!(stack_ids(tb, "/srv/app"), main_ids);

    // Expired: what the timer runs removes pa.
    tb.opsctl(&["previews", "extend", "pa", "-9d", "--env", "tb"])
        .code(0);
    let reaped = sh(
        tb,
        "host1",
        "grep -h 'opsctl-previews reap /srv/app-previews' /etc/cron.d/opsctl-previews-app-previews >/dev/null && \
         /usr/local/sbin/opsctl-previews reap /srv/app-previews",
    );
    assert!(reaped.contains("removed preview pa:"), "{reaped}");
    preview_gone(tb, "pa");
    assert_eq!(stack_ids(tb, "/srv/app"), main_ids);
    assert_eq!(at(tb, "host1.test", "/version"), a);
    assert_eq!(at(tb, "host1.test", "/notes"), "written before B");
    assert_eq!(
        sh(
            tb,
            "host1",
            "docker images --format '{{.Repository}}' | grep -c '^app-'"
        ),
        main_images,
        "the main app's images"
    );
}
