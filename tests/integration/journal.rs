//! The run journal (.opsctl/runs/), `opsctl runs`, `--junit` (validated against
//! the JUnit schema GitLab reads), `--fail-on-change`, the HTML report in
//! headless Chromium, completions and man pages; and, on real test-bed hosts,
//! a succeeding and a failing deploy's records and `opsctl status`.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

use crate::common::{OPSCTL, Project, Run, Testbed, git, repo};

/// Runs opsctl in `dir` with a clean environment plus `env`.
pub(crate) fn opsctl(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut c = Command::new(OPSCTL);
    c.args(args).current_dir(dir).env("NO_COLOR", "1");
    for k in [
        "OPSCTL_ENV",
        "OPSCTL_PROJECT",
        "OPSCTL_RUNS_KEEP",
        // the CI this test itself runs in must not show up in the records
        "CI",
        "GITLAB_CI",
        "GITHUB_ACTIONS",
        "CI_JOB_URL",
        "CI_JOB_ID",
        "BUILD_URL",
        "OPSCTL_AGE_KEY",
        "OPSCTL_AGE_KEY_FILE",
    ] {
        c.env_remove(k);
    }
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from(c.output().expect("run opsctl"))
}

/// The runs recorded in a project: (id, lines of its file), oldest first.
pub(crate) fn runs(project: &Path) -> Vec<(String, Vec<Json>)> {
    let dir = project.join(".opsctl/runs");
    let mut ids: Vec<String> = std::fs::read_dir(&dir)
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().into_string().ok())
                .filter_map(|n| n.strip_suffix(".jsonl").map(String::from))
                .filter(|n| n != "index")
                .collect()
        })
        .unwrap_or_default();
    ids.sort();
    ids.into_iter()
        .map(|id| {
            let text = std::fs::read_to_string(dir.join(format!("{id}.jsonl"))).unwrap();
            let lines = text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            (id, lines)
        })
        .collect()
}

pub(crate) fn of_type<'a>(lines: &'a [Json], t: &str) -> Vec<&'a Json> {
    lines.iter().filter(|l| l["type"] == t).collect()
}

/// Every file under .opsctl/ and any extra file, as one string.
pub(crate) fn all_text(project: &Path, extra: &[&Path]) -> String {
    let mut s = String::new();
    let dir = project.join(".opsctl/runs");
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        s.push_str(&std::fs::read_to_string(e.path()).unwrap_or_default());
    }
    for p in extra {
        s.push_str(&std::fs::read_to_string(p).unwrap_or_default());
    }
    s
}

const HOSTS: &str = "[web]\nweb1 ansible_connection=local\nweb2 ansible_connection=local\n";

/// A playbook that changes a file per host (with the secret in it), loops,
/// and fails on web2 when `fail_web2` is set.
fn site(out: &Path) -> String {
    format!(
        r#"- hosts: web
  gather_facts: false
  tasks:
    - name: write the config
      copy:
        content: "password={{{{ db_password }}}} host={{{{ inventory_hostname }}}}\n"
        dest: "{out}/{{{{ inventory_hostname }}}}.conf"
    - name: loop over things
      command: "echo {{{{ item }}}}"
      loop: [one, two]
      changed_when: false
    - name: the step that breaks
      command: "sh -c 'echo broken >&2; exit 3'"
      when: inventory_hostname == 'web2' and (fail_web2 | default(false) | bool)
"#,
        out = out.display()
    )
}

/// A project (a git repository) with environment `dev` of two local hosts, a
/// secrets file holding db_password, and playbooks/site.yml. Returns (project,
/// identity file, the secret, output dir).
pub(crate) fn project_with_secret() -> (Project, PathBuf, &'static str, tempfile::TempDir) {
    let out = tempfile::tempdir().unwrap();
    let p = Project::new(&[("environments/dev/hosts", HOSTS)]);
    p.write("playbooks/site.yml", &site(out.path()));
    let key = p.path().join("id.txt");
    let r = opsctl(
        p.path(),
        &["secrets", "keygen", "--out", key.to_str().unwrap()],
        &[],
    );
    r.code(0);
    let public = r.stdout.lines().next().unwrap().trim().to_string();
    p.write(
        "environments/dev/recipients",
        &format!("# test\n{public}\n"),
    );
    let secret = "Zq9-journal-S3CRET-value";
    let mut c = Command::new(OPSCTL);
    c.args(["secrets", "set", "--env", "dev", "db_password"])
        .current_dir(p.path())
        .env("OPSCTL_AGE_KEY_FILE", &key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    let o = child.wait_with_output().unwrap();
    assert!(
        o.status.success(),
        "secrets set: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    std::fs::write(p.path().join(".gitignore"), "/.opsctl/\nid.txt\n").unwrap();
    git(p.path(), &["init", "-q", "-b", "main"]);
    git(p.path(), &["add", "-A"]);
    git(p.path(), &["commit", "-q", "-m", "project"]);
    (p, key, secret, out)
}

#[test]
fn journal_records_a_succeeding_and_a_failing_run_and_prunes() {
    let (p, key, secret, _out) = project_with_secret();
    let key = key.to_str().unwrap();
    let head = git(p.path(), &["rev-parse", "HEAD"]);
    let ci = [
        ("OPSCTL_AGE_KEY_FILE", key),
        ("GITLAB_CI", "true"),
        (
            "CI_JOB_URL",
            "https://gitlab.example.org/team/app/-/jobs/4242",
        ),
        ("CI_JOB_ID", "4242"),
    ];
    // 1. Succeeds, with --diff (the diff holds the secret: it must be masked) and
    // a secret-looking -e on the command line.
    opsctl(
        p.path(),
        &[
            "run",
            "site",
            "--env",
            "dev",
            "--diff",
            "--limit",
            "web",
            "-e",
            "api_token=tok-Zq9-e-value",
        ],
        &ci,
    )
    .code(0)
    .no_panic();
    // 2. The project gets an uncommitted change; the run fails on web2.
    std::fs::write(p.path().join("notes.txt"), "uncommitted\n").unwrap();
    let failed = opsctl(
        p.path(),
        &[
            "run",
            "site",
            "--env",
            "dev",
            "-e",
            "fail_web2=true",
            "--tags",
            "all",
        ],
        &[("OPSCTL_AGE_KEY_FILE", key)],
    );
    failed.code(2).no_panic();

    let recorded = runs(p.path());
    assert_eq!(recorded.len(), 2, "two runs recorded");
    let (_, ok_run) = &recorded[0];
    let (fail_id, fail_run) = &recorded[1];
    // The header: who, what, where, which commit, which CI job.
    let h = &ok_run[0];
    assert_eq!(h["type"], "run");
    assert_eq!(h["command"], "run");
    assert_eq!(h["env"], "dev");
    assert_eq!(h["limit"], "web");
    assert!(h["start"].as_str().unwrap().ends_with('Z'));
    let line = h["command_line"].as_str().unwrap();
    assert!(
        line.starts_with("opsctl run site --env dev --diff --limit web -e"),
        "{line}"
    );
    assert!(
        line.contains("api_token=********") && !line.contains("tok-Zq9-e-value"),
        "{line}"
    );
    assert!(!h["user"]["local"].as_str().unwrap().is_empty());
    assert!(h["user"].get("git_name").is_some() && h["user"].get("git_email").is_some());
    assert!(!h["controller"].as_str().unwrap().is_empty());
    assert_eq!(h["ci"]["provider"], "gitlab");
    assert_eq!(
        h["ci"]["job_url"],
        "https://gitlab.example.org/team/app/-/jobs/4242"
    );
    assert_eq!(h["ci"]["job_id"], "4242");
    assert_eq!(h["project"]["commit"], head.as_str());
    assert_eq!(h["project"]["branch"], "main");
    assert_eq!(h["project"]["dirty"], false);
    assert_eq!(fail_run[0]["project"]["dirty"], true);
    assert_eq!(fail_run[0]["tags"][0], "all");
    assert!(fail_run[0]["ci"].is_null());
    // Every task result per host: status, changed, duration, diff (shown with --diff).
    let tasks = of_type(ok_run, "task");
    let write: Vec<_> = tasks
        .iter()
        .filter(|t| t["task"] == "write the config")
        .collect();
    assert_eq!(write.len(), 2);
    for t in &write {
        assert_eq!(t["status"], "changed");
        assert_eq!(t["changed"], true);
        assert!(t["duration_ms"].is_u64());
        let diff = t["diff"][0]["unified"].as_str().unwrap();
        assert!(diff.contains("+password=******** host="), "{diff}");
    }
    assert_eq!(
        tasks
            .iter()
            .filter(|t| t["task"] == "loop over things")
            .count(),
        4,
        "2 items x 2 hosts"
    );
    let end = ok_run.last().unwrap();
    assert_eq!(
        (
            end["type"].as_str(),
            end["exit"].as_u64(),
            end["status"].as_str()
        ),
        (Some("end"), Some(0), Some("ok"))
    );
    assert_eq!(end["recap"]["web1"]["changed"], 1);
    // The failing run: the failed task with its message, the recap, the exit status.
    let broke: Vec<_> = of_type(fail_run, "task")
        .into_iter()
        .filter(|t| t["task"] == "the step that breaks" && t["status"] == "failed")
        .collect();
    assert_eq!(broke.len(), 1);
    assert_eq!(broke[0]["host"], "web2");
    assert!(
        broke[0]["msg"].as_str().unwrap().contains("return code 3"),
        "{}",
        broke[0]
    );
    let end = fail_run.last().unwrap();
    assert_eq!(
        (end["exit"].as_u64(), end["status"].as_str()),
        (Some(2), Some("failed"))
    );
    assert_eq!(end["recap"]["web2"]["failed"], 1);
    // The secret appears nowhere in the journal.
    assert!(
        !all_text(p.path(), &[]).contains(secret),
        "the secret leaked into .opsctl/runs"
    );

    // `runs`: a table of both; `runs show last`: the failing run, per host.
    let list = opsctl(p.path(), &["runs"], &[]);
    list.code(0)
        .stdout_has(fail_id)
        .stdout_has("failed (2)")
        .stdout_has("ok=");
    assert_eq!(list.stdout.lines().count(), 3, "{}", list.stdout);
    opsctl(p.path(), &["runs", "--env", "nope"], &[])
        .code(0)
        .stdout_has("no run recorded for environment nope");
    let show = opsctl(p.path(), &["runs", "show", "last"], &[]);
    show.code(0)
        .no_panic()
        .stdout_has(&format!("run {fail_id}  failed (exit 2)"))
        .stdout_has("command   opsctl run site --env dev -e fail_web2=true --tags all")
        .stdout_has(&format!(
            "project   {} at {}",
            p.path().display(),
            &head[..12]
        ))
        .stdout_has("with uncommitted changes")
        .stdout_has("\nweb2\n")
        .stdout_has("FAILED      the step that breaks (playbooks/site.yml:12)")
        .stdout_has(": non-zero return code 3: broken")
        .stdout_has("loop over things [2 items] (playbooks/site.yml:")
        .stdout_has("web2  ok=2 changed=0 failed=1");
    assert!(!show.stdout.contains(secret));
    let first = opsctl(
        p.path(),
        &["runs", "show", &recorded[0].0, "--output", "json"],
        &[],
    );
    first.code(0);
    let v: Json = serde_json::from_str(first.stdout.trim()).unwrap();
    assert_eq!(v["run"]["id"], recorded[0].0.as_str());
    assert_eq!(
        v["results"].as_array().unwrap().len(),
        6,
        "3 tasks x 2 hosts, loops folded"
    );
    opsctl(p.path(), &["runs", "show", "nope"], &[])
        .code(1)
        .stderr_has("no run nope in .opsctl/runs")
        .stderr_has("opsctl runs");

    // Pruning: OPSCTL_RUNS_KEEP=2 keeps the newest two runs (files and index).
    opsctl(
        p.path(),
        &["ping", "--env", "dev"],
        &[("OPSCTL_RUNS_KEEP", "2"), ("OPSCTL_AGE_KEY_FILE", key)],
    )
    .code(0);
    let after = runs(p.path());
    assert_eq!(after.len(), 2);
    assert_eq!(&after[0].0, fail_id);
    assert_eq!(after[1].1[0]["command"], "ping");
    let pings: Vec<_> = of_type(&after[1].1, "task");
    assert_eq!(pings.len(), 2);
    assert_eq!(pings[0]["status"], "ok");
    let index = std::fs::read_to_string(p.path().join(".opsctl/runs/index.jsonl")).unwrap();
    assert!(!index.contains(&recorded[0].0), "pruned from the index too");
    assert_eq!(index.lines().count(), 4);
    opsctl(
        p.path(),
        &["ping", "--env", "dev"],
        &[("OPSCTL_RUNS_KEEP", "0"), ("OPSCTL_AGE_KEY_FILE", key)],
    )
    .code(1)
    .stderr_has("OPSCTL_RUNS_KEEP=0 is not a number of runs");
    // Commands that touch no host record nothing.
    opsctl(
        p.path(),
        &["run", "site", "--env", "dev", "--list-tasks"],
        &[("OPSCTL_AGE_KEY_FILE", key)],
    )
    .code(0);
    opsctl(
        p.path(),
        &["inventory", "--env", "dev", "--graph"],
        &[("OPSCTL_AGE_KEY_FILE", key)],
    )
    .code(0);
    assert_eq!(runs(p.path()).len(), 2);
}

/// `xmllint --schema` against tests/fixtures/junit/junit-10.xsd.
pub(crate) fn validate_junit(file: &Path) -> Option<String> {
    let out = match Command::new("xmllint")
        .args(["--noout", "--schema"])
        .arg(repo().join("tests/fixtures/junit/junit-10.xsd"))
        .arg(file)
        .output()
    {
        Ok(o) => o,
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must have xmllint (tests/testbed/install-deps.sh installs libxml2-utils)"
            );
            eprintln!("skipped: xmllint is not installed (apt-get install libxml2-utils)");
            return None;
        }
    };
    assert!(
        out.status.success(),
        "{} does not validate:\n{}\n{}",
        file.display(),
        String::from_utf8_lossy(&out.stderr),
        std::fs::read_to_string(file).unwrap_or_default()
    );
    Some(std::fs::read_to_string(file).unwrap())
}

#[test]
fn junit_validates_against_the_schema_and_fail_on_change_catches_drift() {
    let (p, key, secret, out) = project_with_secret();
    let env = [("OPSCTL_AGE_KEY_FILE", key.to_str().unwrap())];
    let report = p.path().join("report.xml");
    let r = opsctl(
        p.path(),
        &[
            "run",
            "site",
            "--env",
            "dev",
            "--diff",
            "-e",
            "fail_web2=true",
            "--junit",
            report.to_str().unwrap(),
        ],
        &env,
    );
    r.code(2).no_panic();
    let Some(xml) = validate_junit(&report) else {
        return;
    };
    assert_eq!(
        xml.matches("<testcase ").count(),
        6,
        "one per host and task:\n{xml}"
    );
    assert_eq!(xml.matches("<testsuite ").count(), 2);
    assert!(
        xml.contains(
            "<testsuite name=\"web2\" tests=\"3\" failures=\"1\" errors=\"0\" skipped=\"0\""
        ),
        "{xml}"
    );
    assert!(
        xml.contains("<failure type=\"failed\" message=\"non-zero return code 3"),
        "{xml}"
    );
    assert!(
        xml.contains("<skipped message="),
        "web1 skips the failing step:\n{xml}"
    );
    assert!(!xml.contains(secret));

    // Drift: --check --fail-on-change fails while a host differs, and says where.
    std::fs::write(out.path().join("web1.conf"), "edited by hand\n").unwrap();
    let drift = p.path().join("drift.xml");
    let r = opsctl(
        p.path(),
        &[
            "run",
            "site",
            "--env",
            "dev",
            "--check",
            "--fail-on-change",
            "--junit",
            drift.to_str().unwrap(),
        ],
        &env,
    );
    r.code(2)
        .no_panic()
        .stderr_has("--fail-on-change: 1 task changed on web1 (drift)")
        .stderr_has("opsctl runs show last");
    let xml = validate_junit(&drift).unwrap();
    assert!(
        xml.contains("<failure type=\"changed\" message=\"changed (drift; --fail-on-change)\">"),
        "{xml}"
    );
    assert_eq!(
        std::fs::read_to_string(out.path().join("web1.conf")).unwrap(),
        "edited by hand\n",
        "check changed nothing"
    );
    // Applied, then no drift: exit 0.
    opsctl(p.path(), &["run", "site", "--env", "dev"], &env).code(0);
    opsctl(
        p.path(),
        &["run", "site", "--env", "dev", "--check", "--fail-on-change"],
        &env,
    )
    .code(0)
    .no_panic();
    // A JUnit file that cannot be written is an error naming it.
    opsctl(
        p.path(),
        &["ping", "--env", "dev", "--junit", "/nonexistent-dir/x.xml"],
        &[],
    )
    .code(1)
    .stderr_has("cannot write the JUnit report /nonexistent-dir/x.xml");
}

/// Chromium's console messages (`:CONSOLE` lines on stderr) and the DOM after
/// scripts ran, for a local HTML file.
fn chromium(file: &Path) -> Option<(String, Vec<String>)> {
    let bin = ["chromium", "chromium-browser", "google-chrome"]
        .into_iter()
        .find(|b| {
            Command::new(b)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        });
    let Some(bin) = bin else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must have chromium (tests/testbed/install-deps.sh installs it)"
        );
        eprintln!(
            "skipped: chromium is not installed (apt-get install --no-install-recommends chromium)"
        );
        return None;
    };
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--no-first-run",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg("--dump-dom")
        .arg(format!("file://{}", file.display()))
        .output()
        .expect("run chromium");
    assert!(
        out.status.success(),
        "chromium failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let console = String::from_utf8_lossy(&out.stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect();
    Some((String::from_utf8_lossy(&out.stdout).into_owned(), console))
}

#[test]
fn html_report_renders_in_headless_chromium_and_shows_the_failed_task() {
    let (p, key, secret, _out) = project_with_secret();
    let env = [("OPSCTL_AGE_KEY_FILE", key.to_str().unwrap())];
    opsctl(
        p.path(),
        &[
            "run",
            "site",
            "--env",
            "dev",
            "--diff",
            "-e",
            "fail_web2=true",
        ],
        &env,
    )
    .code(2);
    let page = p.path().join("run.html");
    opsctl(
        p.path(),
        &["runs", "report", "last", "--html", page.to_str().unwrap()],
        &[],
    )
    .code(0)
    .stdout_has("wrote ");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(!html.contains(secret));
    // Without --html the same page goes to stdout.
    let out = opsctl(p.path(), &["runs", "report", "last"], &[]);
    out.code(0);
    assert_eq!(out.stdout.trim_end(), html.trim_end());
    for asset in ["src=\"http", "href=\"http", "@import", "url(http"] {
        assert!(
            !html.contains(asset),
            "the page must need no network ({asset})"
        );
    }
    // The check can fail: a page with a script error shows on the console.
    let bad = p.path().join("bad.html");
    std::fs::write(
        &bad,
        "<!DOCTYPE html><html><body><script>no_such_function();</script></body></html>",
    )
    .unwrap();
    let Some((_, console)) = chromium(&bad) else {
        return;
    };
    assert!(
        console.iter().any(|l| l.contains("no_such_function")),
        "console errors must be visible: {console:?}"
    );

    let (dom, console) = chromium(&page).unwrap();
    assert!(console.is_empty(), "console messages: {console:?}");
    assert!(dom.contains("data-ready=\"1\""), "the page's script ran");
    let failures = dom
        .split("id=\"failures\"")
        .nth(1)
        .expect("a Failures list")
        .split("</ul>")
        .next()
        .unwrap();
    assert!(
        failures.contains("<b>web2</b>") && failures.contains("the step that breaks"),
        "{failures}"
    );
    assert!(failures.contains("non-zero return code 3"), "{failures}");
    assert!(
        dom.contains("class=\"cell s-failed\""),
        "the grid marks the failed cell"
    );
    assert!(dom.contains("failed (exit 2)"));
}

#[test]
fn completions_and_man_pages_come_from_the_cli_definition() {
    let dir = tempfile::tempdir().unwrap();
    let bash = opsctl(dir.path(), &["completions", "bash"], &[]);
    bash.code(0);
    // A registration script: completing asks opsctl itself (dynamic completion).
    assert!(bash.stdout.contains("COMPLETE=\"bash\""), "{}", bash.stdout);
    // bash loads it and completes `opsctl ru` to run and runs (opsctl on PATH).
    let script = dir.path().join("opsctl.bash");
    std::fs::write(&script, &bash.stdout).unwrap();
    let bin_dir = Path::new(OPSCTL).parent().unwrap();
    let out = Command::new("bash")
        .arg("-c")
        .arg(format!(
            "source {}; COMP_WORDS=(opsctl ru); COMP_CWORD=1; COMP_LINE='opsctl ru'; COMP_POINT=9; COMP_TYPE=9; _clap_complete_opsctl opsctl ru opsctl; printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script.display()
        ))
        .env(
            "PATH",
            format!("{}:{}", bin_dir.display(), std::env::var("PATH").unwrap_or_default()),
        )
        .output()
        .unwrap();
    let words = String::from_utf8_lossy(&out.stdout);
    assert!(
        words.lines().any(|w| w.trim() == "runs") && words.lines().any(|w| w.trim() == "run"),
        "{words}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        opsctl(dir.path(), &["completions", shell], &[])
            .code(0)
            .stdout_has("COMPLETE");
    }
    opsctl(dir.path(), &["completions", "tcsh"], &[])
        .code(1)
        .stderr_has("invalid value 'tcsh'");
    let man = opsctl(dir.path(), &["man"], &[]);
    man.code(0);
    assert!(
        man.stdout.starts_with(".ie \\n(.g .ds Aq") || man.stdout.contains(".TH opsctl 1"),
        "{}",
        &man.stdout[..200.min(man.stdout.len())]
    );
    assert!(man.stdout.contains("opsctl\\-runs") || man.stdout.contains("runs"));
    let mandir = dir.path().join("man1");
    opsctl(dir.path(), &["man", "--dir", mandir.to_str().unwrap()], &[])
        .code(0)
        .stdout_has("man pages into");
    for page in [
        "opsctl.1",
        "opsctl-runs.1",
        "opsctl-runs-show.1",
        "opsctl-status.1",
        "opsctl-deploy.1",
    ] {
        assert!(mandir.join(page).is_file(), "{page} missing");
    }
    // man renders it (when man-db is there), with the examples of after_help.
    if let Ok(o) = Command::new("man")
        .env("MANWIDTH", "100")
        .args(["-l"])
        .arg(mandir.join("opsctl-runs.1"))
        .output()
        && o.status.success()
    {
        // man justifies lines, so compare with runs of blanks folded to one.
        let text = String::from_utf8_lossy(&o.stdout);
        let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(
            text.contains("opsctl runs report last --html run.html"),
            "{text}"
        );
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "node_modules" || name == "dist" || name == "__pycache__" {
            continue;
        }
        let dest = to.join(&name);
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), &dest).unwrap();
        }
    }
}

/// The last run recorded in the test bed's project.
fn last_run(tb: &Testbed) -> Vec<Json> {
    runs(tb.project.path()).pop().expect("a run").1
}

/// The `script` and `after_script` of the GitLab job in docs/ci.md.
fn gitlab_job() -> (Vec<String>, Vec<String>) {
    let doc = std::fs::read_to_string(repo().join("docs/ci.md")).unwrap();
    let section = doc
        .split("## GitLab CI")
        .nth(1)
        .expect("docs/ci.md has a GitLab CI section");
    let yaml = section
        .split("```yaml\n")
        .nth(1)
        .and_then(|b| b.split("\n```").next())
        .expect("a yaml block");
    let v: Json = serde_saphyr::from_str(yaml).expect("the GitLab pipeline is valid YAML");
    let job = &v["deploy-staging"];
    let list = |k: &str| -> Vec<String> {
        job[k]
            .as_array()
            .unwrap_or_else(|| panic!("deploy-staging has no {k}"))
            .iter()
            .map(|l| l.as_str().unwrap().to_string())
            .collect()
    };
    (list("script"), list("after_script"))
}

/// Runs GitLab script lines the way a runner does (one bash, stop at the first
/// failure), with `env` as the job's variables; stops the ssh-agent it started.
fn run_gitlab_lines(dir: &Path, lines: &[String], env: &[(&str, &str)]) -> Run {
    let mut script = String::from(
        "set -eo pipefail\ntrap 'if [ -n \"${SSH_AGENT_PID:-}\" ]; then ssh-agent -k >/dev/null; fi' EXIT\n",
    );
    for l in lines {
        script.push_str(l);
        script.push('\n');
    }
    let bin_dir = Path::new(OPSCTL).parent().unwrap();
    let mut c = Command::new("bash");
    c.arg("-c").arg(script).current_dir(dir).env_clear();
    c.env(
        "PATH",
        format!(
            "{}:{}",
            bin_dir.display(),
            std::env::var("PATH").unwrap_or_default()
        ),
    )
    .env(
        "HOME",
        std::env::var("HOME").unwrap_or_else(|_| "/root".into()),
    )
    .env("CI", "true")
    .env("GITLAB_CI", "true");
    for (k, v) in env {
        c.env(k, v);
    }
    Run::from(c.output().unwrap())
}

#[test]
#[ignore = "needs root: the local test bed (make test runs it)"]
fn stack_gitlab_pipeline_deploy_failing_deploy_and_status() {
    let tb = Testbed::up(1);
    let root = tb.project.path().to_path_buf();
    // The project holds the ops files and the app (app_src "" = the project's own
    // repository, app_subdir app), as a repository deployed from its CI.
    copy_dir(&repo().join("roles"), &root.join("roles"));
    copy_dir(&repo().join("playbooks"), &root.join("playbooks"));
    copy_dir(&repo().join("examples/app"), &root.join("app"));
    let web: String = std::fs::read_to_string(repo().join("environments/local/group_vars/web.yml"))
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("app_subdir:") && !l.starts_with("tls_mode:"))
        .map(|l| format!("{l}\n"))
        .collect();
    // A self-signed certificate valid for 5 days: under the 14 days from which
    // status warns.
    tb.write(
        "group_vars/web.yml",
        &format!("{web}app_subdir: app\ntls_mode: self-signed\ntls_self_signed_days: 5\n"),
    );
    tb.write("group_vars/all.yml", "health_check_retries: 8\n");
    // `staging`: the same host, reached with the key the pipeline loads into an
    // ssh-agent (no IdentityFile), its secrets readable with OPSCTL_AGE_KEY only.
    let ssh_config: String = std::fs::read_to_string(tb.env_dir.join("ssh_config"))
        .unwrap()
        .lines()
        .filter(|l| {
            !l.trim_start().starts_with("IdentityFile")
                && !l.trim_start().starts_with("IdentitiesOnly")
        })
        .map(|l| format!("{l}\n"))
        .collect();
    tb.write("environments/staging/ssh_config", &ssh_config);
    tb.write(
        "environments/staging/hosts",
        &std::fs::read_to_string(tb.env_dir.join("hosts")).unwrap(),
    );
    tb.write(
        "environments/staging/group_vars/web.yml",
        "app_env:\n  APP_SECRET: \"{{ app_secret }}\"\n",
    );
    let ci_key = root.join("ci.key");
    let r = opsctl(
        &root,
        &["secrets", "keygen", "--out", ci_key.to_str().unwrap()],
        &[],
    );
    r.code(0);
    tb.write(
        "environments/staging/recipients",
        &format!("# ci\n{}\n", r.stdout.lines().next().unwrap().trim()),
    );
    let age_key: String = std::fs::read_to_string(&ci_key)
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-"))
        .unwrap()
        .to_string();
    let secret = "Zq9-app-S3CRET-in-ci";
    let mut c = Command::new(OPSCTL);
    c.args(["secrets", "set", "--env", "staging", "app_secret"])
        .current_dir(&root)
        .env("OPSCTL_AGE_KEY", &age_key)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = c.spawn().unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    tb.write(
        ".gitignore",
        "/.opsctl/\n/environments/tb/\n/ci.key\n/opsctl-junit.xml\n/opsctl-run.html\n",
    );
    git(&root, &["init", "-q", "-b", "main"]);
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "A"]);
    git(&root, &["tag", "A"]);
    std::fs::write(
        root.join("app/api/migrations/0009_broken.sql"),
        "ALTER TABLE no_such_table ADD COLUMN x TEXT;\n",
    )
    .unwrap();
    git(&root, &["add", "-A"]);
    git(&root, &["commit", "-q", "-m", "C: a migration that fails"]);
    git(&root, &["tag", "C"]);
    let commit = |t: &str| git(&root, &["rev-parse", &format!("{t}^{{commit}}")]);
    let (a, c) = (commit("A"), commit("C"));
    tb.opsctl(&["provision", "--env", "tb"]).code(0).no_panic();

    // 1. The GitLab job of docs/ci.md, its script then its after_script, with the
    // job's variables: the succeeding deploy.
    let (script, after) = gitlab_job();
    let ssh_key = std::fs::read_to_string(tb.env_dir.join("id_ed25519")).unwrap();
    let job_url = "https://gitlab.example.org/team/shop/-/jobs/777";
    let vars = [
        ("CI_COMMIT_SHA", a.as_str()),
        ("CI_JOB_URL", job_url),
        ("CI_JOB_ID", "777"),
        ("OPSCTL_AGE_KEY", age_key.as_str()),
        ("SSH_PRIVATE_KEY", ssh_key.as_str()),
    ];
    // Without the CI variables it cannot work: the key and the identity are needed.
    let other = tempfile::tempdir().unwrap();
    let other_key = other.path().join("k");
    let kg = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(&other_key)
        .output()
        .unwrap();
    assert!(kg.status.success());
    let other_key = std::fs::read_to_string(&other_key).unwrap();
    let mut wrong = vars;
    wrong[4] = ("SSH_PRIVATE_KEY", other_key.as_str());
    run_gitlab_lines(&root, &script, &wrong)
        .code(4)
        .stdout_has("host1 | UNREACHABLE");
    let no_age: Vec<_> = vars
        .iter()
        .filter(|(k, _)| *k != "OPSCTL_AGE_KEY")
        .copied()
        .collect();
    run_gitlab_lines(&root, &script, &no_age)
        .code(1)
        .stderr_has("OPSCTL_AGE_KEY");
    let job = run_gitlab_lines(&root, &script, &vars);
    job.code(0)
        .no_panic()
        .stdout_has("host1 | pong")
        .stdout_has("is live on host1");
    run_gitlab_lines(&root, &after, &vars)
        .code(0)
        .stdout_has("wrote opsctl-run.html");
    let xml = validate_junit(&root.join("opsctl-junit.xml"));
    let html = std::fs::read_to_string(root.join("opsctl-run.html")).unwrap();
    let run = last_run(&tb);
    let h = &run[0];
    assert_eq!(
        (h["command"].as_str(), h["env"].as_str()),
        (Some("deploy"), Some("staging"))
    );
    assert_eq!(h["ci"]["provider"], "gitlab");
    assert_eq!(h["ci"]["job_url"], job_url);
    assert_eq!(h["project"]["commit"], c.as_str());
    let dep = of_type(&run, "deploy");
    assert_eq!(
        (dep[0]["ref"].as_str(), dep[0]["commit"].as_str()),
        (Some(a.as_str()), Some(a.as_str()))
    );
    let end = run.last().unwrap();
    assert_eq!(
        (end["exit"].as_u64(), end["deploy"]["commit"].as_str()),
        (Some(0), Some(a.as_str()))
    );
    assert!(
        of_type(&run, "task").len() > 10,
        "every task of the deploy is recorded"
    );
    assert!(html.contains(job_url) && html.contains(&a));
    for text in [
        all_text(&root, &[]),
        html.clone(),
        xml.clone().unwrap_or_default(),
        job.stdout.clone(),
    ] {
        assert!(!text.contains(secret), "the app secret leaked");
    }
    if let Some(xml) = &xml {
        assert!(
            xml.contains("<testsuite name=\"host1\"") && !xml.contains("<failure"),
            "{xml}"
        );
    }

    // 2. A failing deploy (the migration fails): the failed task and the error.
    tb.opsctl(&["deploy", "--env", "tb", "--git-version", "C"])
        .code(2)
        .no_panic();
    let run = last_run(&tb);
    let dep = of_type(&run, "deploy");
    assert_eq!(
        (dep[0]["ref"].as_str(), dep[0]["commit"].as_str()),
        (Some("C"), Some(c.as_str()))
    );
    assert!(
        of_type(&run, "task")
            .iter()
            .any(|t| t["status"] == "failed"),
        "a failed task is recorded"
    );
    let end = run.last().unwrap();
    assert_eq!(end["exit"].as_u64(), Some(2));
    assert!(
        end["error"]
            .as_str()
            .unwrap()
            .contains("failed on host1 (step migrate"),
        "{}",
        end["error"]
    );
    tb.opsctl(&["runs", "show", "last"])
        .code(0)
        .stdout_has("failed (exit 2)")
        .stdout_has(&format!("deployed  C = {c}"))
        .stdout_has("FAILED")
        .stdout_has("step migrate");
    tb.opsctl(&["runs", "-n", "50"])
        .code(0)
        .stdout_has("deploy C")
        .stdout_has(&format!("deploy {a}"))
        .stdout_has("provision");

    // 3. status: the release of the pipeline live, programs running, nginx fine,
    // health 200, but the certificate expires within 14 days: exit 2, one line.
    let st = tb.opsctl(&["status", "--env", "tb"]);
    st.code(2)
        .no_panic()
        .stdout_has(&format!("commit {} (ref {a})", &a[..12]))
        .stdout_has("app-api RUNNING")
        .stdout_has("app-client RUNNING")
        .stdout_has("nginx       running, configuration ok (nginx -t)")
        .stdout_has("health      GET /: 200, GET /api/health: 200")
        .stdout_has("1 thing needs attention:")
        .stdout_has("  host1: certificate host1.test expires in 4 days (/etc/ssl/opsctl/host1.test/fullchain.pem)");
    // A stopped program is named too (and nginx answers 502 without the API).
    let stop = tb.exec("host1", "supervisorctl stop app-api");
    assert_eq!(stop.code, 0, "{}{}", stop.stdout, stop.stderr);
    let st = tb.opsctl(&["status", "--env", "tb", "--output", "json"]);
    st.code(2).no_panic();
    let v: Json = serde_json::from_str(st.stdout.trim()).unwrap();
    let bad: Vec<&str> = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["ok"] == false)
        .map(|c| c["msg"].as_str().unwrap())
        .collect();
    assert!(
        bad.iter()
            .any(|m| m.starts_with("program app-api is STOPPED")),
        "{bad:?}"
    );
    assert!(
        bad.iter()
            .any(|m| m.starts_with("certificate host1.test expires in 4 days")),
        "{bad:?}"
    );
    assert!(
        bad.iter()
            .any(|m| m.starts_with("GET /api/health: HTTP 502")),
        "{bad:?}"
    );
    assert_eq!(
        v["release"].as_str().map(|r| r.ends_with(&a[..7])),
        Some(true)
    );
    let run = last_run(&tb);
    assert_eq!(run[0]["command"], "status");
    assert!(
        of_type(&run, "task")
            .iter()
            .any(|t| t["task"] == "status: supervisor app-api" && t["status"] == "failed")
    );
}
