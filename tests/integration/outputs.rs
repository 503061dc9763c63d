//! Whole-output snapshots (insta) of what a user reads: the recap of a run,
//! `opsctl run --list-tasks`, and the load errors (YAML syntax, unknown task
//! keyword, unknown module, undefined variable, bad inventory line). The
//! snapshots are in `snapshots/` beside this file; the scratch project's path
//! and durations are filtered out so they are stable. A changed output is
//! reviewed with `cargo insta review` (or accepted with `INSTA_UPDATE=always`);
//! under CI (`CI=true`) a missing or changed snapshot fails the test.

use crate::common::Run;
use crate::run::local;

/// Exit code, stdout and stderr as one text.
fn shown(run: &Run) -> String {
    run.no_panic();
    format!(
        "exit {}\n--- stdout\n{}--- stderr\n{}",
        run.code, run.stdout, run.stderr
    )
}

/// Compares `run`'s whole output with the snapshot `name`, the scratch
/// project's path and durations filtered.
fn snapshot(name: &str, run: &Run) {
    let mut settings = insta::Settings::clone_current();
    settings.set_prepend_module_to_snapshot(false);
    settings.add_filter(r"(/[^\s/:]+)*/opsctl-it-[0-9A-Za-z]+", "[PROJECT]");
    settings.add_filter(r#""duration_ms":\d+"#, r#""duration_ms":"[DURATION]""#);
    settings.bind(|| insta::assert_snapshot!(name, shown(run)));
}

/// One host, every status in the recap. No handlers: pending ones would be
/// kept on the host (this machine) for the next run.
const SITE: &str = r#"
- hosts: web
  gather_facts: false
  tasks:
    - name: say hello
      command: echo hello
      changed_when: false
    - name: touch a file
      file:
        path: "{{ dir }}/touched"
        state: touch
    - name: not on this host
      debug:
        msg: never
      when: inventory_hostname == 'elsewhere'
    - name: fails, ignored
      command: "false"
      ignore_errors: true
    - block:
        - name: breaks
          command: "false"
      rescue:
        - name: mended
          debug:
            msg: rescued
      tags: [mend]
    - name: the last one fails
      shell: "echo no {{ dir }}/missing >&2; exit 3"
"#;

#[test]
fn the_recap_of_a_run() {
    let p = local(SITE);
    snapshot("recap", &p.opsctl(&["run", "site", "--env", "dev"]));
}

#[test]
fn the_recap_of_a_run_as_json() {
    let p = local(SITE);
    snapshot(
        "recap_json",
        &p.opsctl(&["run", "site", "--env", "dev", "--output", "json"]),
    );
}

#[test]
fn list_tasks() {
    let p = local(SITE);
    snapshot(
        "list_tasks",
        &p.opsctl(&["run", "site", "--env", "dev", "--list-tasks"]),
    );
}

/// A load error: `files` over a one-host local project, then `args`.
fn load_error(name: &str, files: &[(&str, &str)], args: &[&str]) {
    let p = local("- hosts: web\n  tasks: []\n");
    for (path, content) in files {
        p.write(path, content);
    }
    snapshot(name, &p.opsctl(args));
}

const LIST: &[&str] = &["run", "site", "--env", "dev", "--list-tasks"];

#[test]
fn error_yaml_syntax() {
    load_error(
        "error_yaml_syntax",
        &[("playbooks/site.yml", "- hosts: web\n  tasks: [\n")],
        LIST,
    );
}

#[test]
fn error_unknown_task_keyword() {
    load_error(
        "error_unknown_task_keyword",
        &[(
            "playbooks/site.yml",
            "- hosts: web\n  tasks:\n    - name: x\n      command: echo\n      regster: out\n",
        )],
        LIST,
    );
}

#[test]
fn error_unknown_module() {
    load_error(
        "error_unknown_module",
        &[(
            "playbooks/site.yml",
            "- hosts: web\n  tasks:\n    - name: x\n      comand: echo\n",
        )],
        LIST,
    );
}

#[test]
fn error_undefined_variable() {
    load_error(
        "error_undefined_variable",
        &[(
            "environments/dev/group_vars/web.yml",
            "app_name: shop\nansible_host: \"{{ server_nmae }}.example.org\"\n",
        )],
        &["ping", "--env", "dev"],
    );
}

#[test]
fn error_bad_inventory_line() {
    load_error(
        "error_bad_inventory_line",
        &[("environments/dev/hosts", "[web]\nweb1\nweb[01:x]\n")],
        &["inventory", "--env", "dev", "--graph"],
    );
}

/// With `--output json` an error is a JSON object on stdout, nothing on stderr.
#[test]
fn an_error_in_json_mode_is_a_json_object_on_stdout() {
    let p = crate::common::Project::new(&[("environments/st/hosts", "[web]\nweb1\n")]);
    let r = p.opsctl(&["ping", "--env", "stt", "--output", "json"]);
    r.code(1);
    assert_eq!(r.stderr, "");
    let doc: serde_json::Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(doc["exit"], 1);
    assert!(
        doc["error"]
            .as_str()
            .unwrap()
            .starts_with("unknown environment 'stt'"),
        "{doc}"
    );
    assert_eq!(doc["hints"][0], "did you mean --env st?");
}
