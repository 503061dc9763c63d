//! `compose_images: ship` (issue 17): the images of a compose release built on
//! the controller and streamed to the web host (`docker save` over opsctl's
//! connection into `docker load`), on two hosts of the test bed: host1 is the
//! web host (roles/docker by `opsctl provision`, no base image: nothing can be
//! built there), host2 the controller's build machine, whose docker daemon the
//! controller reaches through its socket forwarded over SSH (DOCKER_HOST), with
//! the docker client and docker-compose unpacked from the test bed's .debs
//! (tests/testbed/controller-docker.sh): this machine runs no daemon.

use std::path::Path;
use std::process::{Child, Command, Stdio};

use crate::common::{Testbed, git, repo};
use crate::compose::{self, CURL, web_image};
use crate::stack::{edit, sh, with_roles};

/// compose.rs's repository (A, B, D), and E: D with a build step that fails.
/// Returns (A, B) commits.
fn app_repo(dir: &Path) -> [String; 2] {
    let [a, b, _] = compose::app_repo(dir);
    edit(
        dir,
        "Dockerfile",
        "COPY . /app\n",
        "COPY . /app\nRUN echo 'the build step E breaks' && exit 3\n",
    );
    git(dir, &["commit", "-q", "-am", "E: the build fails"]);
    git(dir, &["tag", "E"]);
    [a, b]
}

/// `ssh -N -L SOCK:/var/run/docker.sock host2`, stopped by PID when dropped.
struct Forward(Child);

impl Drop for Forward {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn compose_images_shipped_from_the_controller() {
    let tb = Testbed::up_net(2, &["web=host1", "build=host2"]);
    let app = tempfile::Builder::new()
        .prefix("opsctl-ship-")
        .tempdir()
        .unwrap();
    let [a, b] = app_repo(app.path());
    with_roles(&tb);
    let engine = "container_engine: docker\ndocker_storage_driver: vfs\n\
                  docker_daemon_options: {bridge: none, iptables: false}\n\
                  docker_nofile_limit: hard\n";
    tb.write(
        "environments/tb/group_vars/web.yml",
        &format!(
            "server_name: host1.test\nansible_user: root\n\
             tls_enabled: true\ntls_mode: acme\nacme_server: https://127.0.0.1:14000/dir\n\
             health_check_validate_certs: false\n\
             app_kind: compose\n{engine}\
             compose_images: ship\n\
             compose_ship_keep: 2\n\
             compose_files: [docker-compose.yml, docker-compose.persist.yml]\n\
             version_check_path: /version\nhealth_checks: [/health]\n\
             deploy_maintenance: never\n"
        ),
    );
    tb.write("environments/tb/group_vars/build.yml", engine);
    compose::app_vars(&tb, app.path());

    // The web host: the stack with the engine. The build machine: the engine
    // (roles/docker) and the base image the app's Dockerfile starts from.
    tb.opsctl(&["provision", "--env", "tb", "--limit", "host1"])
        .code(0)
        .no_panic();
    tb.play("build_machine", "- hosts: build\n  roles: [docker]\n", &[])
        .code(0)
        .no_panic();
    compose::base_image(&tb, "host2");

    // The controller's docker: client and compose unpacked, the daemon of
    // host2 behind a socket forwarded over SSH.
    let ctl = tempfile::Builder::new()
        .prefix("opsctl-ctl-")
        .tempdir()
        .unwrap();
    let tools = Command::new(repo().join("tests/testbed/controller-docker.sh"))
        .arg(&tb.env_dir)
        .arg("host2")
        .arg(ctl.path())
        .output()
        .unwrap();
    assert!(
        tools.status.success(),
        "controller-docker.sh: {}",
        String::from_utf8_lossy(&tools.stderr)
    );
    let sock = ctl.path().join("docker.sock");
    let forward = Forward(
        Command::new("ssh")
            .arg("-F")
            .arg(tb.env_dir.join("ssh_config"))
            .args(["-N", "-o", "ExitOnForwardFailure=yes", "-L"])
            .arg(format!("{}:/var/run/docker.sock", sock.display()))
            .arg("host2")
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let path = format!(
        "{}:{}",
        ctl.path().join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let docker_host = format!("unix://{}", sock.display());
    let controller = |args: &[&str]| -> String {
        let out = Command::new(ctl.path().join("bin/docker"))
            .args(args)
            .env("DOCKER_HOST", &docker_host)
            .output()
            .unwrap();
        assert!(out.status.success(), "docker {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    for i in 0.. {
        if sock.exists()
            && Command::new(ctl.path().join("bin/docker"))
                .arg("version")
                .env("DOCKER_HOST", &docker_host)
                .output()
                .is_ok_and(|o| o.status.success())
        {
            break;
        }
        assert!(i < 100, "the forwarded docker socket does not answer");
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    tb.env.borrow_mut().push(("PATH".into(), path));

    // 1. A daemon that does not answer: an error naming DOCKER_HOST, before
    // any host changed.
    tb.env.borrow_mut().push((
        "DOCKER_HOST".into(),
        "unix:///nonexistent/docker.sock".into(),
    ));
    let down = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"]);
    down.no_panic()
        .stderr_has("the docker daemon at unix:///nonexistent/docker.sock does not answer")
        .stderr_has("DOCKER_HOST");
    assert_ne!(down.code, 0);
    sh(&tb, "host1", "! test -e /srv/app/current");
    tb.env.borrow_mut().pop();
    tb.env
        .borrow_mut()
        .push(("DOCKER_HOST".into(), docker_host.clone()));

    // 2. A: built on host2, shipped to host1, live through nginx.
    let dep = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A"]);
    dep.code(0)
        .no_panic()
        .stdout_has("on the controller in")
        .stdout_has("): shipped ")
        .stdout_has("is live on host1");
    eprintln!("{}", dep.stdout);
    sh(
        &tb,
        "host1",
        "curl -sS --fail -o /tmp/pebble-root.pem https://127.0.0.1:15000/roots/0",
    );
    let get = |path: &str| sh(&tb, "host1", &format!("{CURL} https://host1.test{path}"));
    assert_eq!(get("/version"), a);
    let image_a = web_image(&tb);
    let name_a = sh(
        &tb,
        "host1",
        "sed -n 's/^OPSCTL_PROJECT=//p' /srv/app/current/.env",
    ) + "-web";
    // The image host1 runs is the one host2 built (same id), and host1 could
    // not have built it: it has no base image.
    assert_eq!(
        controller(&["image", "inspect", "--format", "{{.Id}}", &name_a]),
        image_a
    );
    sh(
        &tb,
        "host1",
        "! docker image inspect opsctl-testbed/python:bookworm >/dev/null 2>&1",
    );

    // 3. The same commit again (--force: a new release): nothing goes over
    // the connection, the host's image gets the new release's name.
    let again = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "A", "--force"]);
    again
        .code(0)
        .no_panic()
        .stdout_has("nothing shipped; tagged ");
    assert!(!again.stdout.contains("): shipped "), "{}", again.stdout);
    assert_eq!(web_image(&tb), image_a);
    assert_eq!(get("/version"), a);

    // 4. A build that fails: its last lines, nothing shipped, A still live.
    let broken = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "E"]);
    broken
        .no_panic()
        .stderr_has("did not build on the controller")
        .stderr_has("the build step E breaks");
    assert_ne!(broken.code, 0);
    assert_eq!(get("/version"), a);

    // 5. B: its images shipped; then rollback to A's images, already on host1.
    let dep_b = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "B"]);
    dep_b.code(0).no_panic().stdout_has("): shipped ");
    assert_eq!(get("/version"), b);
    let image_b = web_image(&tb);
    assert_ne!(image_b, image_a);
    // The controller keeps the images of the newest compose_ship_keep (2)
    // releases: A's first release's are gone, A --force's and B's stay.
    dep_b.stdout_has("removed the controller's images of 1 older release tag(s)");
    let tags = controller(&["image", "ls", "--format", "{{.Repository}}", "app-*"]);
    let mut releases: Vec<&str> = tags.lines().map(|l| &l[4..26]).collect();
    releases.sort_unstable();
    releases.dedup();
    assert_eq!(releases.len(), 2, "{tags}");
    assert!(!tags.lines().any(|l| l == name_a), "{tags}");
    assert!(releases[1].ends_with(&b[..7]), "{tags}");
    let back = tb.opsctl(&["rollback", "--env", "tb"]);
    back.code(0).no_panic();
    assert!(!back.stdout.contains("shipped"), "{}", back.stdout);
    assert_eq!(get("/version"), a);
    assert_eq!(web_image(&tb), image_a);

    // A preview of B (docs/compose.md): its images are built on the
    // controller under its own project's names and only tagged on host1 (it
    // has B's image); it answers at its name while the main app serves A;
    // destroy leaves nothing of it.
    let web = tb.env_dir.join("group_vars/web.yml");
    let vars = std::fs::read_to_string(&web).unwrap();
    std::fs::write(&web, format!("{vars}preview_domain: preview.test\n")).unwrap();
    let pv = tb.opsctl(&[
        "deploy",
        "--env",
        "tb",
        "--preview",
        "ps",
        "--git-version",
        "B",
    ]);
    pv.code(0)
        .no_panic()
        .stdout_has("on the controller in")
        .stdout_has(": app-preview-ps-")
        .stdout_has("preview ps answers at https://ps.preview.test");
    assert_eq!(compose::at(&tb, "ps.preview.test", "/version"), b);
    assert_eq!(get("/version"), a);
    let preview_image = sh(
        &tb,
        "host1",
        "p=$(sed -n 's/^OPSCTL_PROJECT=//p' /srv/app-previews/ps/current/.env); docker image inspect --format '{{.Id}}' \"$p-web\"",
    );
    assert_eq!(preview_image, image_b);
    tb.opsctl(&["previews", "destroy", "ps", "--env", "tb"])
        .code(0)
        .no_panic();
    compose::preview_gone(&tb, "ps");
    assert_eq!(get("/version"), a);
    assert_eq!(web_image(&tb), image_a);

    // 6. A host whose docker is down: `docker load` fails there, the host named.
    sh(&tb, "host1", "service docker stop >/dev/null");
    let no_load = tb.opsctl(&["deploy", "--env", "tb", "--git-version", "B", "--force"]);
    no_load
        .no_panic()
        .stdout_has("docker load on the host: ")
        .stderr_has("failed on host1 (step images");
    drop(forward);
}
