//! The deploy modules on real test-bed hosts: git, supervisorctl, unarchive,
//! pip, npm, get_url, uri, wait_for, fetch, pause, apt_key, apt_repository.
//!
//! Each module: a first run changes, a second run reports changed=0 (and runs
//! only its probe: one command per task with -v), `--check` on a drifted host
//! reports the change and changes nothing, `--diff` shows it. Nothing leaves
//! the host: the "remote" git repository is a bare repository inside it, HTTP
//! is `python3 -m http.server` on 127.0.0.1 inside it, started and stopped here.

use crate::common::{Run, Testbed};

/// `changed=N` of host1's recap line.
#[track_caller]
fn changed(run: &Run) -> u32 {
    let line = run
        .stdout
        .lines()
        .rev()
        .find(|l| l.starts_with("host1 ") && l.contains(" ok="))
        .unwrap_or_else(|| panic!("no recap line:\n{}\n{}", run.stdout, run.stderr));
    let n = line.split("changed=").nth(1).unwrap_or("");
    n.split_whitespace().next().unwrap_or("").parse().unwrap()
}

/// Commands run on the host (with -v, on stderr): one `host1 $ ...` line each.
fn commands(run: &Run) -> usize {
    run.stdout
        .lines()
        .chain(run.stderr.lines())
        .filter(|l| l.trim_start().starts_with("host1 $ "))
        .count()
}

#[track_caller]
fn exec(tb: &Testbed, script: &str) -> String {
    let r = tb.exec("host1", script);
    assert_eq!(
        r.code, 0,
        "{script}\n--- stdout\n{}\n--- stderr\n{}",
        r.stdout, r.stderr
    );
    r.stdout
}

#[track_caller]
fn apt_install(tb: &Testbed, packages: &str) {
    exec(
        tb,
        &format!(
            "export DEBIAN_FRONTEND=noninteractive; apt-get update -q >/dev/null && apt-get install -y -q {packages} >/dev/null"
        ),
    );
}

/// Runs a playbook with `-v` and extra arguments; exits 0.
#[track_caller]
fn play_ok(tb: &Testbed, name: &str, yaml: &str, extra: &[&str]) -> Run {
    let mut args = vec!["-v"];
    args.extend_from_slice(extra);
    let r = tb.play(name, yaml, &args);
    r.code(0).no_panic();
    r
}

/// A first run changes; a second run changes nothing with one command per task.
#[track_caller]
fn converges(tb: &Testbed, name: &str, yaml: &str, extra: &[&str], tasks: usize) -> Run {
    let first = play_ok(tb, name, yaml, extra);
    assert!(
        changed(&first) >= 1,
        "the first run changes:\n{}",
        first.stdout
    );
    let second = play_ok(tb, name, yaml, extra);
    assert_eq!(
        changed(&second),
        0,
        "the second run changes nothing:\n{}",
        second.stdout
    );
    assert_eq!(
        commands(&second),
        tasks,
        "only the probes run:\n{}\n{}",
        second.stdout,
        second.stderr
    );
    first
}

// ---------------------------------------------------------------------------

const GIT: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: deploy
      git:
        repo: "{{ repo | default('/srv/git/app.git') }}"
        dest: /srv/app
        version: "{{ ver }}"
        force: "{{ force | default(false) }}"
      register: r
    - name: registered
      assert:
        that:
          - r.after | length == 40
          - r.before is none or r.before | length == 40
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn git_supervisorctl_and_unarchive() {
    let tb = Testbed::up(1);
    apt_install(&tb, "git supervisor unzip");
    // A "remote" repository inside the host: two commits on main, an annotated tag on the first.
    let shas = exec(
        &tb,
        r#"set -e
git init -q --bare -b main /srv/git/app.git
git init -q -b main /tmp/work && cd /tmp/work
git config user.email t@example.test && git config user.name t
echo v1 > app.txt && git add app.txt && git commit -qm one && git tag -a v1.0 -m "release 1"
echo v2 > app.txt && git commit -qam two
git remote add origin /srv/git/app.git && git push -q origin main --tags
git rev-parse HEAD 'v1.0^{commit}'"#,
    );
    let shas: Vec<&str> = shas.lines().collect();
    let (main, tag) = (shas[0], shas[1]);
    let head = || {
        exec(&tb, "git -C /srv/app rev-parse HEAD")
            .trim()
            .to_string()
    };

    // a branch: clone, then nothing (one probe, no fetch)
    converges(&tb, "git", GIT, &["-e", "ver=main"], 1);
    assert_eq!(head(), main);
    assert_eq!(exec(&tb, "cat /srv/app/app.txt"), "v2\n");

    // a tag in check mode: reported with its commit, nothing changes
    let r = play_ok(&tb, "git", GIT, &["-e", "ver=v1.0", "--check", "--diff"]);
    assert_eq!(changed(&r), 1);
    r.stdout_has("would change")
        .stdout_has(&format!("-{main}"))
        .stdout_has(&format!("+{tag}"));
    assert_eq!(head(), main, "check mode changes nothing");
    // the tag, detached
    converges(&tb, "git", GIT, &["-e", "ver=v1.0"], 1);
    assert_eq!(head(), tag);
    assert!(exec(&tb, "git -C /srv/app status").contains("HEAD detached"));
    // a short sha
    let short = &main[..7];
    converges(&tb, "git", GIT, &["-e", &format!("ver={short}")], 1);
    assert_eq!(head(), main);

    // a new commit on the remote branch is fetched
    let new = exec(
        &tb,
        "cd /tmp/work && echo v3 > app.txt && git commit -qam three && git push -q origin main && git rev-parse HEAD",
    );
    converges(&tb, "git", GIT, &["-e", "ver=main"], 1);
    assert_eq!(head(), new.trim());
    assert_eq!(exec(&tb, "cat /srv/app/app.txt"), "v3\n");

    // local modifications: refused without force, discarded with it
    exec(&tb, "echo hotfix >> /srv/app/app.txt");
    tb.play("git", GIT, &["-e", "ver=main"])
        .code(2)
        .no_panic()
        .stdout_has("Local modifications exist in the destination: /srv/app (force=no)")
        .stdout_has("M app.txt");
    assert!(exec(&tb, "cat /srv/app/app.txt").contains("hotfix"));
    let r = play_ok(&tb, "git", GIT, &["-e", "ver=main", "-e", "force=true"]);
    assert_eq!(changed(&r), 1);
    assert_eq!(exec(&tb, "cat /srv/app/app.txt"), "v3\n");
    // a moved remote url is set again
    exec(&tb, "git -C /srv/app remote set-url origin /elsewhere.git");
    let r = play_ok(&tb, "git", GIT, &["-e", "ver=main"]);
    assert_eq!(changed(&r), 1);
    assert_eq!(
        exec(&tb, "git -C /srv/app config remote.origin.url").trim(),
        "/srv/git/app.git"
    );
    // a version that does not exist
    tb.play("git", GIT, &["-e", "ver=nosuch"])
        .code(2)
        .stdout_has("version 'nosuch' is neither a branch, a tag nor a commit");

    // --- supervisorctl: a program kept alive by supervisor
    exec(
        &tb,
        "printf '[program:sleeper]\\ncommand=sleep 1000\\n' > /etc/supervisor/conf.d/sleeper.conf",
    );
    let sup = r#"
- hosts: web
  gather_facts: false
  tasks:
    - supervisorctl: name=sleeper state={{ st }}
"#;
    let status = || exec(&tb, "supervisorctl status sleeper || true");
    converges(&tb, "sup", sup, &["-e", "st=present"], 1);
    assert!(status().contains("sleeper"), "{}", status());
    let r = play_ok(&tb, "sup", sup, &["-e", "st=started"]);
    assert_eq!((changed(&r), commands(&r)), (0, 1), "present started it");
    let r = play_ok(&tb, "sup", sup, &["-e", "st=stopped", "--check", "--diff"]);
    assert_eq!(changed(&r), 1);
    r.stdout_has("-sleeper RUNNING");
    assert!(status().contains("RUNNING"), "check mode stops nothing");
    converges(&tb, "sup", sup, &["-e", "st=stopped"], 1);
    assert!(status().contains("STOPPED"));
    converges(&tb, "sup", sup, &["-e", "st=started"], 1);
    assert!(status().contains("RUNNING"));
    let pid = |s: String| {
        s.split("pid ")
            .nth(1)
            .and_then(|p| p.split(',').next())
            .unwrap_or("")
            .to_string()
    };
    let before = pid(status());
    let r = play_ok(&tb, "sup", sup, &["-e", "st=restarted", "--diff"]);
    assert_eq!(changed(&r), 1);
    assert_ne!(pid(status()), before, "restarted");
    // a changed program definition is applied by restarted
    exec(
        &tb,
        "sed -i 's/sleep 1000/sleep 1001/' /etc/supervisor/conf.d/sleeper.conf",
    );
    play_ok(&tb, "sup", sup, &["-e", "st=restarted"]);
    exec(
        &tb,
        "for i in 1 2 3 4 5; do pgrep -f 'sleep 1001' && exit 0; sleep 0.2; done; exit 1",
    );
    converges(&tb, "sup", sup, &["-e", "st=absent"], 1);
    assert!(!status().contains("RUNNING"));
    exec(&tb, "rm /etc/supervisor/conf.d/sleeper.conf");
    tb.play("sup", sup, &["-e", "st=started"])
        .code(2)
        .stdout_has("ERROR (no such process): sleeper is not in the supervisor configuration");

    // --- unarchive: a tgz from the playbook's files/, a zip already on the host
    let src = tb.project.path().join("arc");
    std::fs::create_dir_all(src.join("app/sub")).unwrap();
    std::fs::write(src.join("app/a.txt"), "one\n").unwrap();
    std::fs::write(src.join("app/sub/b.txt"), "two\n").unwrap();
    std::fs::create_dir_all(tb.project.path().join("playbooks/files")).unwrap();
    let tgz = tb.project.path().join("playbooks/files/app.tgz");
    let tar = |dir: &std::path::Path| {
        let st = std::process::Command::new("tar")
            .arg("-czf")
            .arg(&tgz)
            .arg("-C")
            .arg(dir)
            .arg("app")
            .status()
            .unwrap();
        assert!(st.success());
    };
    tar(&src);
    exec(
        &tb,
        "mkdir -p /srv/rel /srv/site /tmp/z/www && echo z > /tmp/z/www/index.html && cd /tmp/z && python3 -c 'import shutil; shutil.make_archive(\"/srv/site\", \"zip\", \"/tmp/z\")'",
    );
    let arc = r#"
- hosts: web
  gather_facts: false
  tasks:
    - unarchive: src=app.tgz dest=/srv/rel owner=www-data mode=u=rwX,g=rX,o=
    - unarchive: src=/srv/site.zip dest=/srv/site remote_src=yes
"#;
    // both archives' probes are gathered in one exec (the module protocol)
    converges(&tb, "arc", arc, &[], 1);
    assert_eq!(
        exec(&tb, "cat /srv/rel/app/sub/b.txt /srv/site/www/index.html"),
        "two\nz\n"
    );
    assert_eq!(
        exec(&tb, "stat -c '%U %a' /srv/rel/app/a.txt /srv/rel/app/sub"),
        "www-data 640\nwww-data 750\n"
    );
    // a new archive: reported in check mode, extracted without it
    std::fs::write(src.join("app/a.txt"), "one, edited\n").unwrap();
    tar(&src);
    let r = play_ok(&tb, "arc", arc, &["--check", "--diff"]);
    assert_eq!(changed(&r), 1);
    r.stdout_has("+app.tgz sha256=");
    assert_eq!(exec(&tb, "cat /srv/rel/app/a.txt"), "one\n");
    let r = play_ok(&tb, "arc", arc, &[]);
    assert_eq!(changed(&r), 1);
    assert_eq!(exec(&tb, "cat /srv/rel/app/a.txt"), "one, edited\n");
}

// ---------------------------------------------------------------------------

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn pip_in_a_virtualenv() {
    let tb = Testbed::up(1);
    apt_install(&tb, "python3-venv");
    let pb = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: the API's packages
      pip:
        name: [fastapi, "uvicorn>=0.20"]
        virtualenv: /srv/api/venv
      register: p
    - assert:
        that: p.virtualenv == '/srv/api/venv'
"#;
    converges(&tb, "pip", pb, &[], 1);
    exec(&tb, "/srv/api/venv/bin/python -c 'import fastapi, uvicorn'");
    // drift: a package removed by hand is reported by check mode, then put back
    exec(&tb, "/srv/api/venv/bin/pip uninstall -q -y uvicorn");
    let r = play_ok(&tb, "pip", pb, &["--check", "--diff"]);
    assert_eq!(changed(&r), 1);
    r.stdout_has("+uvicorn>=0.20");
    assert!(
        tb.exec("host1", "/srv/api/venv/bin/python -c 'import uvicorn'")
            .code
            != 0
    );
    let r = play_ok(&tb, "pip", pb, &["--diff"]);
    assert_eq!(changed(&r), 1);
    r.stdout_has("+uvicorn==");
    // a requirements file: decided without running pip when satisfied
    exec(
        &tb,
        "printf 'fastapi\\nhttpx  # client\\n' > /srv/api/requirements.txt",
    );
    let req = r#"
- hosts: web
  gather_facts: false
  tasks:
    - pip: requirements=requirements.txt chdir=/srv/api virtualenv=/srv/api/venv
    - pip: name=h11 state=absent virtualenv=/srv/api/venv
      when: remove | default(false) | bool
"#;
    converges(&tb, "req", req, &[], 1);
    exec(&tb, "/srv/api/venv/bin/python -c 'import httpx'");
    let r = play_ok(&tb, "req", req, &["-e", "remove=true", "--check"]);
    assert_eq!(changed(&r), 1);
    exec(&tb, "/srv/api/venv/bin/python -c 'import h11'");
    // errors say what to do
    let bad = r#"
- hosts: web
  gather_facts: false
  tasks:
    - pip: name=nosuchpackage virtualenv=/srv/api/venv
"#;
    tb.play("bad", bad, &[])
        .code(2)
        .no_panic()
        .stdout_has("No matching distribution found for nosuchpackage");
}

// ---------------------------------------------------------------------------

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn npm_installs_a_project_once() {
    let tb = Testbed::up(1);
    apt_install(&tb, "npm");
    // A project whose dependency is a local tarball: no registry needed.
    exec(
        &tb,
        r#"set -e
mkdir -p /srv/lib /srv/web && cd /srv/lib
printf '{"name":"mylib","version":"1.0.0","main":"index.js"}\n' > package.json
echo 'module.exports = 1' > index.js
npm pack --silent >/dev/null
cd /srv/web && printf '{"name":"web","version":"1.0.0","dependencies":{"mylib":"file:../lib/mylib-1.0.0.tgz"}}\n' > package.json"#,
    );
    let pb = r#"
- hosts: web
  gather_facts: false
  tasks:
    - npm: path=/srv/web ci={{ ci | default(false) }} production=true
"#;
    converges(&tb, "npm", pb, &[], 1);
    exec(
        &tb,
        "test -f /srv/web/node_modules/mylib/index.js && test -f /srv/web/package-lock.json",
    );
    // npm ci: other options, installed once
    converges(&tb, "npm", pb, &["-e", "ci=true"], 1);
    // drift: node_modules removed; check mode reports it and installs nothing
    exec(&tb, "rm -rf /srv/web/node_modules");
    let r = play_ok(&tb, "npm", pb, &["-e", "ci=true", "--check", "--diff"]);
    assert_eq!(changed(&r), 1);
    r.stdout_has("+lock=");
    assert!(tb.exec("host1", "test -e /srv/web/node_modules").code != 0);
    let r = play_ok(&tb, "npm", pb, &["-e", "ci=true"]);
    assert_eq!(changed(&r), 1);
    exec(&tb, "test -f /srv/web/node_modules/mylib/index.js");
    // one package
    let one = r#"
- hosts: web
  gather_facts: false
  tasks:
    - npm: name=mylib path=/srv/web version=1.0.0
    - npm: name=mylib path=/srv/web state={{ st | default('present') }}
"#;
    let r = play_ok(&tb, "one", one, &[]);
    // both tasks' probes are gathered in one exec (the module protocol)
    assert_eq!((changed(&r), commands(&r)), (0, 1));
    converges(
        &tb,
        "one2",
        one.replace("    - npm: name=mylib path=/srv/web version=1.0.0\n", "")
            .as_str(),
        &["-e", "st=absent"],
        1,
    );
    exec(&tb, "test ! -e /srv/web/node_modules/mylib");
}

// ---------------------------------------------------------------------------

const NET: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: the server answers
      wait_for: port=8000 timeout=10
    - name: a file it serves, with a checksum file
      get_url:
        url: http://127.0.0.1:8000/app.txt
        dest: /srv/app.txt
        mode: "0640"
        checksum: "sha256:http://127.0.0.1:8000/SHA256SUMS"
    - name: always compared
      get_url:
        url: http://127.0.0.1:8000/app.txt
        dest: /srv/dl/
        force: true
    - name: an API
      uri:
        url: http://127.0.0.1:8000/health.json
        return_content: true
      register: api
    - assert:
        that:
          - api.status == 200
          - api.json.ok
          - api.content_type == 'application/json'
    - name: a POST is not sent in check mode
      uri:
        url: http://127.0.0.1:8000/nope
        method: POST
        body_format: json
        body: {a: 1}
        status_code: [501]
    - name: a log line
      wait_for:
        path: /srv/app.log
        search_regex: 'listening on (?P<port>\d+)'
        timeout: 5
      register: w
    - assert:
        that: w.match_groupdict.port == '3000'
    - name: nothing on 8001
      wait_for: port=8001 state=stopped timeout=5
    - fetch: src=/srv/app.txt dest=fetched
    - fetch: src=/etc/hostname dest=fetched/ flat=yes
    - apt_key:
        url: http://127.0.0.1:8000/key.asc
        keyring: /etc/apt/keyrings/test.gpg
        id: F8D2585B8783D481
    - apt_repository:
        repo: "deb [signed-by=/etc/apt/keyrings/test.gpg trusted=yes] file:/srv/aptrepo ./"
        filename: local
    - pause: seconds=1
    - pause: prompt="Go on?"
"#;

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn get_url_uri_wait_for_fetch_apt_repository() {
    let tb = Testbed::up(1);
    exec(
        &tb,
        r#"set -e
mkdir -p /srv/www /srv/dl /srv/aptrepo && touch /srv/aptrepo/Packages
cd /srv/www && echo v1 > app.txt && sha256sum app.txt > SHA256SUMS && echo '{"ok": true}' > health.json
echo 'app listening on 3000' > /srv/app.log
f=/usr/share/keyrings/debian-archive-bookworm-stable.gpg
{ echo '-----BEGIN PGP PUBLIC KEY BLOCK-----'; echo; base64 -w64 < $f; echo '-----END PGP PUBLIC KEY BLOCK-----'; } > key.asc
setsid python3 -m http.server 8000 --bind 127.0.0.1 --directory /srv/www >/dev/null 2>&1 < /dev/null &
echo $! > /run/http.pid"#,
    );
    // uri POST is skipped in check mode only; here it runs (501 from http.server is expected)
    // fetch, apt_key and apt_repository read their facts in merged execs; the
    // first read-ahead reads only the pending handlers (the play starts with
    // wait_for, which reads nothing ahead): the start exec of old, now shown
    let first = converges(&tb, "net", NET, &["--diff"], 10);
    first
        .stdout_has("+sha256: ")
        .stdout_has("4D64FEC119C2029067D6E791F8D2585B8783D481");
    assert_eq!(
        exec(
            &tb,
            "stat -c %a /srv/app.txt; cat /srv/app.txt /srv/dl/app.txt"
        ),
        "640\nv1\nv1\n"
    );
    assert_eq!(
        exec(
            &tb,
            "cmp /etc/apt/keyrings/test.gpg /usr/share/keyrings/debian-archive-bookworm-stable.gpg && cat /etc/apt/sources.list.d/local.list"
        ),
        "deb [signed-by=/etc/apt/keyrings/test.gpg trusted=yes] file:/srv/aptrepo ./\n"
    );
    let fetched = tb.project.path().join("playbooks/fetched");
    assert_eq!(
        std::fs::read_to_string(fetched.join("host1/srv/app.txt")).unwrap(),
        "v1\n"
    );
    assert_eq!(
        std::fs::read_to_string(fetched.join("hostname")).unwrap(),
        "host1\n"
    );

    // drift: a new version served, the local copy and the repository line edited
    exec(
        &tb,
        "cd /srv/www && echo v2 > app.txt && sha256sum app.txt > SHA256SUMS && echo v0 > /srv/app.txt && rm /etc/apt/sources.list.d/local.list",
    );
    let r = play_ok(&tb, "net", NET, &["--check", "--diff"]);
    // get_url x2 (checksum, force), the fetch of app.txt, apt_repository
    assert_eq!(changed(&r), 4, "{}", r.stdout);
    r.stdout_has("+deb [signed-by=/etc/apt/keyrings/test.gpg trusted=yes] file:/srv/aptrepo ./");
    r.stdout_has("not run in check mode: a POST request may change things");
    assert_eq!(
        exec(&tb, "cat /srv/app.txt /srv/dl/app.txt; ls /srv/dl | wc -l"),
        "v0\nv1\n1\n"
    );
    assert!(
        tb.exec("host1", "test -e /etc/apt/sources.list.d/local.list")
            .code
            != 0
    );
    let r = play_ok(&tb, "net", NET, &[]);
    assert_eq!(changed(&r), 4, "{}", r.stdout);
    assert_eq!(exec(&tb, "cat /srv/app.txt /srv/dl/app.txt"), "v2\nv2\n");
    assert_eq!(
        std::fs::read_to_string(fetched.join("host1/srv/app.txt")).unwrap(),
        "v2\n"
    );

    // failures the user can act on
    let bad = r#"
- hosts: web
  gather_facts: false
  tasks:
    - get_url: url=http://127.0.0.1:8000/missing dest=/srv/missing
      ignore_errors: true
    - get_url:
        url: http://127.0.0.1:8000/app.txt
        dest: /srv/bad
        checksum: "sha256:0000000000000000000000000000000000000000000000000000000000000000"
      ignore_errors: true
    - uri: url=http://127.0.0.1:8001/
      ignore_errors: true
    - wait_for: port=8001 timeout=1
      ignore_errors: true
    - apt_repository: repo="deb http://127.0.0.1:8001/debian bookworm main"
      ignore_errors: true
    - apt_key: data=notakey
"#;
    tb.play("bad", bad, &[])
        .code(2)
        .no_panic()
        .stdout_has("Request failed for http://127.0.0.1:8000/missing: curl: (22)")
        .stdout_has("The checksum for /srv/bad did not match 0000")
        .stdout_has("Status code was -1 and not [200]: Request failed: curl: (7)")
        .stdout_has("Timeout when waiting for 127.0.0.1:8001")
        .stdout_has("(the sources are left as they were)")
        .stdout_has("apt_key without keyring needs id, url or file");
    assert_eq!(
        exec(&tb, "ls /etc/apt/sources.list.d/ | grep -c 8001 || true").trim(),
        "0"
    );
    assert_eq!(
        exec(&tb, "ls -a /srv | grep -c opsctl || true").trim(),
        "0",
        "no temporary file left"
    );

    exec(&tb, "kill $(cat /run/http.pid)");
}
