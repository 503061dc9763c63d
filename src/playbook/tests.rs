//! Loader tests: a real-looking project (tests/fixtures/playbooks/site), broken
//! projects (tests/fixtures/playbooks/broken) and small playbooks written here,
//! with the exact file:line:col of every error.

use std::path::{Path, PathBuf};

use serde_json::json;

use super::*;

fn fixtures() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/playbooks")
}

/// A scratch project directory.
struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    fn new() -> Scratch {
        Scratch {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }
    fn file(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, content).unwrap();
        p
    }
    fn load(&self, rel: &str) -> Result<Playbook, LoadError> {
        load_playbook(&self.path(rel), None)
    }
}

/// Loads `yaml` as `play.yml` in a fresh directory.
fn load(yaml: &str) -> Result<Playbook, LoadError> {
    let s = Scratch::new();
    s.file("play.yml", yaml);
    s.load("play.yml")
}

fn play(yaml: &str) -> Play {
    match load(yaml) {
        Ok(mut p) => p.plays.remove(0),
        Err(e) => panic!("{}", e.to_error()),
    }
}

fn tasks(yaml: &str) -> Vec<Task> {
    play(yaml).tasks
}

fn load_err(yaml: &str) -> LoadError {
    match load(yaml) {
        Ok(p) => panic!("expected an error, loaded {p:?}"),
        Err(e) => e,
    }
}

/// (file name, line, column)
fn pos(e: &LoadError) -> (String, usize, usize) {
    let file = e
        .location
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    (file, e.location.line, e.location.column.unwrap_or(0))
}

/// Asserts the first error's position, message and hint.
#[track_caller]
fn assert_err(e: &LoadError, line: usize, col: usize, message: &str, hint: &str) {
    assert_eq!(
        (e.location.line, e.location.column),
        (line, Some(col)),
        "position of: {e}"
    );
    assert_eq!(e.message, message, "{e}");
    let h = e.hint.as_deref().unwrap_or("");
    assert!(h.contains(hint), "hint {h:?} lacks {hint:?}");
}

fn names(ts: &[Task]) -> Vec<String> {
    ts.iter().map(Task::display_name).collect()
}

fn args(t: &Task) -> serde_json::Value {
    match &t.action {
        Action::Module { args, .. } => serde_json::Value::Object(args.clone()),
        other => panic!("not a module task: {other:?}"),
    }
}

fn task<'a>(ts: &'a [Task], name: &str) -> &'a Task {
    ts.iter()
        .find(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no task {name} in {:?}", names(ts)))
}

fn var_names(v: &[VarEntry]) -> Vec<&str> {
    v.iter().map(|v| v.name.as_str()).collect()
}

// ------------------------------------------------------------ the real project

fn site() -> Playbook {
    let path = fixtures().join("site/site.yml");
    load_playbook(&path, None).unwrap_or_else(|e| panic!("{}", e.to_error()))
}

#[test]
fn site_imports_both_playbooks() {
    let pb = site();
    let plays: Vec<_> = pb.plays.iter().map(|p| p.name.clone().unwrap()).collect();
    assert_eq!(plays, ["Provision the web servers", "Deploy the app"]);
}

#[test]
fn provision_play_keywords() {
    let p = &site().plays[0];
    assert_eq!(p.hosts, "web");
    assert_eq!(p.become_, Some(json!(true)));
    assert_eq!(p.gather_facts, Some(json!(false)));
    assert_eq!(var_names(&p.vars), ["app_user", "api_port"]);
    assert_eq!(p.vars_files.len(), 1);
    assert_eq!(p.vars_files[0].0, ["vars/common.yml"]);
    assert_eq!(
        (p.vars_files[0].1.line, p.vars_files[0].1.column),
        (10, Some(7))
    );
    assert_eq!(p.tags, ["provision"]);
    assert!(p.dir.ends_with("site"));
    assert_eq!((p.location.line, p.location.column), (2, Some(3)));
}

#[test]
fn provision_roles_in_order_each_once_with_params() {
    let p = &site().plays[0];
    let roles: Vec<&str> = p.roles.iter().map(|r| r.name.as_str()).collect();
    // nginx's dependencies (common: already there; certbot) come before nginx;
    // app depends on common, already run with the same (no) parameters.
    assert_eq!(roles, ["common", "certbot", "nginx", "app"]);
    let nginx = &p.roles[2];
    assert_eq!(var_names(&nginx.params), ["server_name"]);
    assert_eq!(var_names(&nginx.defaults), ["nginx_port", "server_name"]);
    assert_eq!(var_names(&nginx.vars), ["nginx_conf_dir"]);
    assert_eq!(p.roles[1].params[0].value, json!("ops@example.org"));
    let app = &p.roles[3];
    assert_eq!(app.params[0].name, "app_port");
    assert_eq!(app.params[0].value, json!(3000));
    // defaults/main/ is a directory: its files in name order.
    assert_eq!(var_names(&app.defaults), ["api_workers", "app_port"]);
    assert!(
        app.defaults[0]
            .location
            .file
            .ends_with("defaults/main/api.yml")
    );
}

#[test]
fn provision_task_order_roles_before_tasks() {
    let p = &site().plays[0];
    assert_eq!(names(&p.pre_tasks), ["Check the OS"]);
    assert_eq!(
        names(&p.tasks),
        [
            "Create the app user",
            "Base packages",
            "Certificates",
            "Install nginx",
            "Directories",
            "Enable the site",
            "Ship the release",
            "Per-kind setup",
            "Migrations",
            "nginx configuration is valid",
            "The API answers",
            "Say hello",
            "Restart everything when asked",
        ]
    );
    assert_eq!(names(&p.post_tasks), ["meta: flush_handlers", "Smoke test"]);
    assert!(matches!(p.post_tasks[0].action, Action::FlushHandlers));
    let role_of = |n: &str| task(&p.tasks, n).role.as_ref().map(|r| r.name.clone());
    assert_eq!(role_of("Base packages").as_deref(), Some("common"));
    assert_eq!(role_of("Enable the site").as_deref(), Some("nginx"));
    assert_eq!(role_of("Say hello"), None);
}

#[test]
fn provision_handlers_roles_first() {
    let p = &site().plays[0];
    assert_eq!(
        names(&p.handlers),
        [
            "reload systemd",
            "restart nginx",
            "reload nginx",
            "restart app",
            "restart apps"
        ]
    );
    let h = &p.handlers[1];
    assert_eq!(h.listen, ["restart everything"]);
    assert_eq!(h.role.as_ref().unwrap().name, "nginx");
    assert_eq!(p.handlers[4].listen, ["restart everything"]);
    assert!(p.handlers.iter().all(|h| h.tags.is_empty()));
}

#[test]
fn tags_and_when_are_inherited() {
    let p = &site().plays[0];
    let t = |n: &str| task(&p.tasks, n);
    assert_eq!(p.pre_tasks[0].tags, ["always", "provision"]);
    assert_eq!(t("Base packages").tags, ["provision"]);
    // certbot is a dependency of nginx: the dependency's tags, then nginx's, then the play's.
    assert_eq!(t("Certificates").tags, ["tls", "nginx", "web", "provision"]);
    // import_tasks in a role: the import's tags, the role's, the play's.
    assert_eq!(
        t("Enable the site").tags,
        ["site", "nginx", "web", "provision"]
    );
    assert!(
        t("Enable the site")
            .location
            .file
            .ends_with("roles/nginx/tasks/site.yml")
    );
    // The role's `when` is on every task of the role.
    assert_eq!(t("Per-kind setup").when, ["deploy_app | default(true)"]);
    // import_tasks with when/tags: on each imported task, the task's own last.
    let check = t("nginx configuration is valid");
    assert_eq!(check.when, ["run_checks"]);
    assert_eq!(check.tags, ["nginx", "checks", "provision"]);
    assert_eq!(check.changed_when, Some(vec!["False".to_string()]));
}

#[test]
fn blocks_pass_keywords_to_their_tasks() {
    let p = &site().plays[0];
    let ship = task(&p.tasks, "Ship the release");
    let Action::Block {
        block,
        rescue,
        always,
    } = &ship.action
    else {
        panic!("{ship:?}")
    };
    assert_eq!(names(block), ["Fetch the code", "Build it"]);
    assert_eq!(names(rescue), ["Roll back"]);
    assert_eq!(names(always), ["Clean up"]);
    // role when first, then the block's `when: true` (a bool literal becomes "True").
    assert_eq!(ship.when, ["deploy_app | default(true)", "True"]);
    for t in block.iter().chain(rescue).chain(always) {
        assert_eq!(
            t.when,
            ["deploy_app | default(true)", "True"],
            "{}",
            t.display_name()
        );
        assert_eq!(t.tags, ["app", "provision"]);
        assert_eq!(t.become_user.as_deref(), Some("{{ app_user }}"));
        assert_eq!(t.role.as_ref().unwrap().name, "app");
    }
    assert_eq!(rescue[0].ignore_errors, Some(json!(true)));
    assert_eq!(block[1].notify, ["restart apps"]);

    let api = task(&p.tasks, "The API answers");
    let Action::Block { block, .. } = &api.action else {
        panic!()
    };
    assert_eq!(block[0].when, ["run_checks", "api_port is defined"]);
    assert_eq!(block[0].become_, Some(json!(false)));
    assert_eq!(block[0].tags, ["checks", "provision"]);
}

#[test]
fn module_arguments() {
    let p = &site().plays[0];
    // Free-form with an option in the line and `args:`.
    let hello = task(&p.tasks, "Say hello");
    assert_eq!(hello.module_name(), Some("shell"));
    assert_eq!(
        args(hello),
        json!({"chdir": "/tmp", "_raw_params": "echo hello > hello.txt", "creates": "/tmp/hello.txt"})
    );
    let user = task(&p.tasks, "Create the app user");
    assert_eq!(
        args(user),
        json!({"creates": "{{ app_home }}", "_raw_params": "useradd --system --create-home --home-dir {{ app_home }} {{ app_user }}"})
    );
    assert_eq!(
        task(&p.tasks, "Base packages").environment,
        Some(json!({"DEBIAN_FRONTEND": "noninteractive"}))
    );
    let smoke = task(&p.post_tasks, "Smoke test");
    assert_eq!(smoke.register.as_deref(), Some("smoke"));
    assert_eq!(smoke.until, Some(vec!["smoke.rc == 0".to_string()]));
    assert_eq!(
        (smoke.retries.clone(), smoke.delay.clone()),
        (Some(json!(5)), Some(json!(2)))
    );
    let restart = task(&p.tasks, "Restart everything when asked");
    assert_eq!(restart.when, ["restart_all is defined", "restart_all"]);
    assert_eq!(restart.notify, ["restart nginx", "restart apps"]);
}

#[test]
fn loops() {
    let p = &site().plays[0];
    let certs = task(&p.tasks, "Certificates");
    assert_eq!(
        certs.loop_,
        Some(json!([
            {"key": "demo.example.org", "value": "/srv/app/public"},
            {"key": "api.example.org", "value": "/srv/api/public"}
        ]))
    );
    assert_eq!(certs.loop_kind, LoopKind::Loop);
    assert_eq!(certs.loop_control.label.as_deref(), Some("{{ item.key }}"));
    assert_eq!(certs.loop_control.loop_var, "item");
    // with_items holding templates: flattened by the engine after templating.
    let dirs = task(&p.tasks, "Directories");
    assert_eq!(dirs.loop_kind, LoopKind::Items);
    assert_eq!(dirs.loop_.as_ref().unwrap().as_array().unwrap().len(), 2);
    let mig = task(&p.tasks, "Migrations");
    assert_eq!(mig.loop_, Some(json!("{{ databases }}")));
    assert_eq!(mig.loop_control.loop_var, "db");
    assert_eq!(mig.loop_control.index_var.as_deref(), Some("i"));
    assert_eq!(mig.loop_control.pause, Some(1.5));
}

#[test]
fn includes_stay_dynamic() {
    let p = &site().plays[0];
    let kind = task(&p.tasks, "Per-kind setup");
    match &kind.action {
        Action::IncludeTasks {
            file, inherited, ..
        } => {
            assert_eq!(file, "{{ app_kind | default('node') }}.yml");
            assert_eq!(inherited.tags, ["provision"]);
            assert_eq!(inherited.when, ["deploy_app | default(true)"]);
        }
        other => panic!("{other:?}"),
    }
    let deploy = &site().plays[1];
    let mig = task(&deploy.tasks, "Migrate");
    match &mig.action {
        Action::IncludeRole { name, tasks_from } => {
            assert_eq!(name, "app");
            assert_eq!(tasks_from.as_deref(), Some("migrate"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(var_names(&mig.vars), ["migrate_to"]);
    // An included role is not one of the play's roles.
    assert!(deploy.roles.is_empty());
}

#[test]
fn deploy_play() {
    let p = &site().plays[1];
    assert_eq!(p.hosts, "web,workers");
    assert_eq!(p.serial, Some(json!("50%")));
    assert_eq!(p.max_fail_percentage, Some(20.0));
    assert!(p.any_errors_fatal);
    assert_eq!(p.environment, Some(json!({"NODE_ENV": "production"})));
    // vars of the import_playbook entry
    assert_eq!(var_names(&p.vars), ["git_version"]);
    let rec = task(&p.tasks, "Record the release");
    assert_eq!(rec.module_name(), Some("shell"));
    assert_eq!(
        args(rec),
        json!({"_raw_params": "echo {{ git_version }} >> releases.log", "chdir": "/srv/app"})
    );
    let tell = task(&p.tasks, "Tell the controller");
    assert_eq!(tell.delegate_to.as_deref(), Some("localhost"));
    assert_eq!(tell.run_once, Some(json!(true)));
    assert_eq!(
        args(tell),
        json!({"_raw_params": "echo deployed {{ git_version }}"})
    );
    assert!(p.tasks.iter().all(|t| t.tags == ["deploy"]));
}

#[test]
fn task_location_is_its_first_key() {
    let p = &site().plays[0];
    let t = task(&p.tasks, "Say hello");
    assert_eq!((t.location.line, t.location.column), (35, Some(7)));
    assert!(t.location.file.ends_with("site/provision.yml"));
    let t = task(&p.tasks, "Certificates");
    assert_eq!((t.location.line, t.location.column), (1, Some(3)));
    assert!(t.location.file.ends_with("roles/certbot/tasks/main.yml"));
}

// ------------------------------------------------------------- run-time loads

#[test]
fn load_role_at_run_time() {
    let search = vec![fixtures().join("site/roles")];
    let params = vec![VarEntry {
        name: "migrate_to".into(),
        value: json!("v2"),
        location: Location::file("x"),
    }];
    let (role, tasks, handlers) = load_role("app", &search, params, Some("migrate")).unwrap();
    assert_eq!(role.name, "app");
    assert_eq!(var_names(&role.params), ["migrate_to"]);
    // its dependency (common) first, then tasks/migrate.yml
    assert_eq!(
        names(&tasks),
        ["Create the app user", "Base packages", "Run the migrations"]
    );
    assert_eq!(tasks[2].failed_when.as_ref().unwrap().len(), 2);
    assert_eq!(names(&handlers), ["reload systemd", "restart app"]);

    let e = load_role("ngnix", &search, vec![], None).unwrap_err();
    assert_eq!(e.message, "role 'ngnix' not found");
    assert!(e.hint.unwrap().contains("did you mean 'nginx'?"));
    let e = load_role("app", &search, vec![], Some("nope")).unwrap_err();
    assert_eq!(e.message, "role 'app' has no tasks file 'nope'");
}

#[test]
fn load_tasks_file_at_run_time() {
    let f = fixtures().join("site/roles/app/tasks/migrate.yml");
    let search = vec![fixtures().join("site/roles")];
    let (role, _, _) = load_role("app", &search, vec![], None).unwrap();
    let tasks = load_tasks_file(&f, Some(role.clone()), &["deploy".to_string()]).unwrap();
    assert_eq!(names(&tasks), ["Run the migrations"]);
    assert_eq!(tasks[0].tags, ["deploy"]);
    assert_eq!(tasks[0].role.as_ref().unwrap().name, "app");

    // An import_role inside a file loaded at run time brings its handlers.
    let s = Scratch::new();
    s.file("roles/r/tasks/main.yml", "- command: /bin/true\n");
    s.file(
        "roles/r/handlers/main.yml",
        "- name: h\n  command: /bin/true\n",
    );
    let inc = s.file(
        "inc.yml",
        "- import_role:\n    name: r\n- command: ls\n  notify: h\n",
    );
    let cx = IncludeContext {
        playbook_dir: Some(s.path("")),
        role_search: vec![s.path("roles")],
    };
    let f = load_tasks_file_with(&inc, None, &[], &cx).unwrap();
    assert_eq!(f.tasks.len(), 2);
    assert_eq!(names(&f.handlers), ["h"]);
    assert_eq!(f.roles[0].name, "r");

    let bad = s.file("bad.yml", "- comand: ls\n");
    let e = load_tasks_file(&bad, None, &[]).unwrap_err();
    assert_eq!(pos(&e), ("bad.yml".into(), 1, 3));
}

#[test]
fn resolve_tasks_file_order() {
    let s = Scratch::new();
    s.file("roles/r/tasks/x.yml", "[]");
    s.file("roles/r/tasks/sub/y.yml", "[]");
    s.file("z.yml", "[]");
    let role = Role {
        name: "r".into(),
        dir: s.path("roles/r"),
        defaults: vec![],
        vars: vec![],
        params: vec![],
        allow_duplicates: false,
    };
    let from = s.path("roles/r/tasks/sub/y.yml");
    let pd = s.path("");
    assert_eq!(
        resolve_tasks_file("x.yml", &from, Some(&role), Some(&pd)).unwrap(),
        s.path("roles/r/tasks/x.yml")
    );
    assert_eq!(
        resolve_tasks_file("z.yml", &from, Some(&role), Some(&pd)).unwrap(),
        s.path("z.yml")
    );
    let looked = resolve_tasks_file("w.yml", &from, Some(&role), Some(&pd)).unwrap_err();
    assert_eq!(looked.len(), 3);
}

#[test]
fn finish_loop_kinds() {
    assert_eq!(
        finish_loop(LoopKind::Items, json!([[1, 2], 3, [[4]]])).unwrap(),
        vec![json!(1), json!(2), json!(3), json!([4])]
    );
    assert_eq!(
        finish_loop(LoopKind::Items, json!("a")).unwrap(),
        vec![json!("a")]
    );
    assert_eq!(
        finish_loop(LoopKind::Dict, json!({"a": 1})).unwrap(),
        vec![json!({"key": "a", "value": 1})]
    );
    assert!(finish_loop(LoopKind::Loop, json!({"a": 1})).is_err());
    assert!(finish_loop(LoopKind::Dict, json!([1])).is_err());
}

// ------------------------------------------------------------ task forms

#[test]
fn free_form_with_args_and_fqcn() {
    let ts = tasks(
        "- hosts: all\n  tasks:\n    - ansible.builtin.command: ls -l\n      args:\n        chdir: /tmp\n    - ansible.legacy.raw: uptime\n    - ansible.builtin.meta: noop\n    - command:\n        argv: [ls, -l]\n",
    );
    assert_eq!(
        args(&ts[0]),
        json!({"chdir": "/tmp", "_raw_params": "ls -l"})
    );
    assert_eq!(ts[1].module_name(), Some("raw"));
    assert!(matches!(ts[2].action, Action::Noop));
    assert_eq!(args(&ts[3]), json!({"argv": ["ls", "-l"]}));
}

#[test]
fn key_value_short_form() {
    let ts = tasks(
        "- hosts: all\n  tasks:\n    - debug: msg='hello world' verbosity=2\n    - debug: msg=\"hello {{ name | default('you there') }}\"\n    - ansible.builtin.debug: var=result\n",
    );
    // values are validated and stored under their types ("2" is an integer)
    assert_eq!(args(&ts[0]), json!({"msg": "hello world", "verbosity": 2}));
    assert_eq!(
        args(&ts[1]),
        json!({"msg": "hello {{ name | default('you there') }}"})
    );
    assert_eq!(args(&ts[2]), json!({"var": "result"}));

    let e = load_err("- hosts: all\n  tasks:\n    - debug: msg=a var\n");
    assert_err(
        &e,
        3,
        14,
        "debug: 'var' is not a key=value argument; debug takes no free-form text",
        "key=value",
    );
    let e = load_err("- hosts: all\n  tasks:\n    - debug: msg='a\n");
    assert_err(
        &e,
        3,
        14,
        "debug: unbalanced quotes or Jinja braces; debug takes no free-form text",
        "mapping",
    );
    // Static validation of the k=v arguments.
    let e = load_err("- hosts: all\n  tasks:\n    - debug: msg=a verbosity=high\n");
    assert_err(
        &e,
        3,
        7,
        "argument 'verbosity' must be an integer, got \"high\"",
        "debug arguments: msg, var, verbosity",
    );
    let e = load_err("- hosts: all\n  tasks:\n    - debug: msg=a var=b\n");
    assert_err(
        &e,
        3,
        7,
        "arguments 'msg' and 'var' are mutually exclusive",
        "debug arguments",
    );
}

#[test]
fn action_forms() {
    let ts = tasks(
        "- hosts: all\n  tasks:\n    - action: debug msg=hi\n    - action:\n        module: command\n        cmd: ls\n    - local_action:\n        module: shell\n        cmd: date\n",
    );
    assert_eq!(args(&ts[0]), json!({"msg": "hi"}));
    assert_eq!(args(&ts[1]), json!({"cmd": "ls"}));
    assert_eq!(ts[2].delegate_to.as_deref(), Some("localhost"));
    assert_eq!(args(&ts[2]), json!({"cmd": "date"}));
}

#[test]
fn when_forms() {
    let ts = tasks(
        "- hosts: all\n  tasks:\n    - command: ls\n      when: false\n    - command: ls\n      when: [true, \"x is defined\", 1]\n    - command: ls\n      when: a == 'b'\n",
    );
    assert_eq!(ts[0].when, ["False"]);
    assert_eq!(ts[1].when, ["True", "x is defined", "1"]);
    assert_eq!(ts[2].when, ["a == 'b'"]);
}

#[test]
fn tags_forms() {
    let p = play(
        "- hosts: all\n  tags: [site]\n  tasks:\n    - command: ls\n      tags: \"web, tls,web\"\n    - command: ls\n      tags: 2024\n    - command: ls\n      tags: [never, debug]\n",
    );
    assert_eq!(p.tasks[0].tags, ["web", "tls", "site"]);
    assert_eq!(p.tasks[1].tags, ["2024", "site"]);
    assert_eq!(p.tasks[2].tags, ["never", "debug", "site"]);
}

#[test]
fn with_dict_and_with_items_forms() {
    let ts = tasks(
        "- hosts: all\n  tasks:\n    - command: echo {{ item.key }}\n      with_dict: \"{{ users }}\"\n    - command: echo {{ item }}\n      with_items: [[a, b], c]\n    - command: echo {{ item }}\n      with_items: one\n    - command: echo {{ item }}\n      with_list: [[a, b]]\n",
    );
    assert_eq!(ts[0].loop_kind, LoopKind::Dict);
    assert_eq!(ts[0].loop_, Some(json!("{{ users }}")));
    assert_eq!(ts[1].loop_, Some(json!(["a", "b", "c"])));
    assert_eq!(ts[1].loop_kind, LoopKind::Loop);
    assert_eq!(ts[2].loop_, Some(json!(["one"])));
    assert_eq!(ts[3].loop_, Some(json!([["a", "b"]])));
}

#[test]
fn handler_keywords_and_play_defaults() {
    let p = play(
        "- hosts: all\n  ignore_errors: true\n  no_log: true\n  tasks:\n    - command: ls\n      notify: [restart, reload web]\n  handlers:\n    - name: restart\n      command: ls\n    - name: reload\n      command: ls\n      listen: reload web\n",
    );
    assert_eq!(p.ignore_errors, Some(json!(true)));
    assert_eq!(p.tasks[0].ignore_errors, Some(json!(true)));
    assert_eq!(p.tasks[0].no_log, Some(json!(true)));
    assert_eq!(p.handlers[1].listen, ["reload web"]);
    assert_eq!(p.handlers[1].no_log, Some(json!(true)));
}

#[test]
fn role_dedup_params_and_allow_duplicates() {
    let s = Scratch::new();
    s.file("roles/x/tasks/main.yml", "- name: x task\n  command: ls\n");
    s.file("roles/y/tasks/main.yml", "- name: y task\n  command: ls\n");
    s.file("roles/y/meta/main.yml", "allow_duplicates: true\n");
    s.file(
        "play.yml",
        "- hosts: all\n  roles:\n    - x\n    - {role: x, port: 1}\n    - {role: x, port: 1}\n    - role: x\n      vars: {port: 2}\n    - y\n    - y\n",
    );
    let p = s.load("play.yml").unwrap().plays.remove(0);
    assert_eq!(
        names(&p.tasks),
        ["x task", "x task", "x task", "y task", "y task"]
    );
    let ports: Vec<_> = p
        .roles
        .iter()
        .map(|r| r.params.first().map(|v| v.value.clone()))
        .collect();
    assert_eq!(ports, [None, Some(json!(1)), Some(json!(2)), None, None]);
    assert!(std::sync::Arc::ptr_eq(
        &p.roles[1],
        p.tasks[1].role.as_ref().unwrap()
    ));
}

#[test]
fn import_role_and_project_roles() {
    let s = Scratch::new();
    // the project root's roles/ is searched after the playbook's
    s.file(
        "roles/shared/tasks/main.yml",
        "- name: shared\n  command: ls\n",
    );
    s.file(
        "roles/shared/tasks/extra.yml",
        "- name: extra\n  command: ls\n",
    );
    s.file(
        "roles/shared/handlers/main.yml",
        "- name: shared handler\n  command: ls\n",
    );
    s.file(
        "playbooks/play.yml",
        "- hosts: all\n  tasks:\n    - import_role:\n        name: shared\n        tasks_from: extra\n      vars: {a: 1}\n      when: x\n      tags: t\n",
    );
    let p = load_playbook(&s.path("playbooks/play.yml"), Some(s.dir.path()))
        .unwrap()
        .plays
        .remove(0);
    assert_eq!(names(&p.tasks), ["extra"]);
    assert_eq!(p.tasks[0].when, ["x"]);
    assert_eq!(p.tasks[0].tags, ["t"]);
    assert_eq!(var_names(&p.roles[0].params), ["a"]);
    assert_eq!(names(&p.handlers), ["shared handler"]);
    assert_eq!(p.role_search.len(), 2);
    // without the project root, not found
    let e = load_playbook(&s.path("playbooks/play.yml"), None).unwrap_err();
    assert_eq!(e.message, "role 'shared' not found");
}

#[test]
fn import_tasks_relative_paths_and_role_path() {
    let s = Scratch::new();
    s.file("roles/r/tasks/main.yml", "- import_tasks: sub/a.yml\n");
    s.file(
        "roles/r/tasks/sub/a.yml",
        "- import_tasks: b.yml\n- import_tasks: \"{{ role_path }}/tasks/c.yml\"\n",
    );
    s.file("roles/r/tasks/sub/b.yml", "- name: b\n  command: ls\n");
    s.file(
        "roles/r/tasks/c.yml",
        "- name: c\n  command: ls\n- import_tasks: common.yml\n",
    );
    s.file("common.yml", "- name: common\n  command: ls\n");
    s.file("play.yml", "- hosts: all\n  roles: [r]\n");
    let p = s.load("play.yml").unwrap().plays.remove(0);
    assert_eq!(names(&p.tasks), ["b", "c", "common"]);
}

#[test]
fn include_tasks_forms() {
    let s = Scratch::new();
    s.file("inc.yml", "- name: inside\n  command: ls\n");
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - block:\n        - include_tasks:\n            file: inc.yml\n            apply:\n              tags: [x]\n              become: true\n          tags: own\n      when: outer\n      tags: blk\n    - ansible.builtin.include_tasks: inc.yml\n      loop: [1, 2]\n      register: r\n",
    );
    let p = s.load("play.yml").unwrap().plays.remove(0);
    let Action::Block { block, .. } = &p.tasks[0].action else {
        panic!()
    };
    let inc = &block[0];
    assert_eq!(inc.tags, ["own", "blk"]);
    assert_eq!(inc.when, ["outer"]);
    match &inc.action {
        Action::IncludeTasks {
            file,
            apply,
            inherited,
        } => {
            assert_eq!(file, "inc.yml");
            let apply = apply.as_ref().unwrap();
            assert_eq!(apply.tags, ["x"]);
            assert_eq!(apply.become_, Some(json!(true)));
            // the include's own tags are not passed down; the block's are
            assert_eq!(inherited.tags, ["blk"]);
            assert_eq!(inherited.when, ["outer"]);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(p.tasks[1].loop_, Some(json!([1, 2])));
    assert_eq!(p.tasks[1].register.as_deref(), Some("r"));
}

// ------------------------------------------------------------------ errors

#[test]
fn unknown_keyword_with_suggestion() {
    let e = load_err("- hosts: all\n  tasks:\n    - name: x\n      command: ls\n      whne: x\n");
    assert_err(
        &e,
        5,
        7,
        "unknown task keyword 'whne'",
        "did you mean 'when'?",
    );
    assert_eq!(pos(&e).0, "play.yml");
    assert_eq!(
        e.to_string(),
        format!("{}: unknown task keyword 'whne'", e.location)
    );
    assert!(e.to_string().contains("play.yml:5:7: "));
}

#[test]
fn unknown_module() {
    let e = load_err("- hosts: all\n  tasks:\n    - name: x\n      comand: ls\n");
    assert_err(
        &e,
        4,
        7,
        "unknown module 'comand'",
        "did you mean 'command'?",
    );
    // an FQCN of the wrong collection: the nearest real one
    let e = load_err(
        "- hosts: all\n  tasks:\n    - community.docker.docker_containr:\n        name: x\n",
    );
    assert_err(
        &e,
        3,
        7,
        "unknown module 'community.docker.docker_containr'",
        "did you mean 'community.docker.docker_container'?",
    );
    let e = load_err("- hosts: all\n  tasks:\n    - frobnicate_widgets: x\n");
    assert_err(
        &e,
        3,
        7,
        "unknown module 'frobnicate_widgets'",
        "opsctl's modules: ",
    );
    // a keyword typo next to a module is a keyword
    let e = load_err("- hosts: all\n  tasks:\n    - command: ls\n      registr: x\n");
    assert_err(
        &e,
        4,
        7,
        "unknown task keyword 'registr'",
        "did you mean 'register'?",
    );
    let e = load_err("- hosts: all\n  tasks:\n    - action: comand ls\n");
    assert_err(
        &e,
        3,
        15,
        "unknown module 'comand'",
        "did you mean 'command'?",
    );
}

#[test]
fn zero_or_two_actions() {
    let e = load_err("- hosts: all\n  tasks:\n    - name: nothing to do\n      when: x\n");
    assert_err(&e, 3, 7, "task has no action", "add a module");
    let e = load_err("- hosts: all\n  tasks:\n    - command: ls\n      shell: ls\n");
    assert_err(
        &e,
        4,
        7,
        "a task has one action; this one has 'command' and 'shell'",
        "split",
    );
    let e = load_err("- hosts: all\n  tasks:\n    - block: []\n      include_tasks: x.yml\n");
    assert_err(
        &e,
        4,
        7,
        "a task has one action; this one has 'block' and 'include_tasks'",
        "split",
    );
    let e = load_err("- hosts: all\n  tasks:\n    - {}\n");
    assert_err(&e, 3, 7, "empty task", "add a module");
    let e = load_err("- hosts: all\n  tasks:\n    - ls -l\n");
    assert_err(
        &e,
        3,
        7,
        "a task must be a mapping, found a string",
        "`- command: ls -l`",
    );
}

#[test]
fn wrong_types() {
    let cases: &[(&str, usize, usize, &str, &str)] = &[
        (
            "      when: {a: 1}\n",
            4,
            7,
            "'when' must be an expression or a list of expressions, found a mapping",
            "quote",
        ),
        (
            "      when: [a, {b: 1}]\n",
            4,
            17,
            "each condition of 'when' must be an expression, found a mapping",
            "quote",
        ),
        (
            "      register: [a, b]\n",
            4,
            7,
            "'register' must be a variable name, found a list",
            "register: result",
        ),
        (
            "      register: my-result\n",
            4,
            7,
            "invalid variable name 'my-result' for register",
            "letters",
        ),
        (
            "      loop: [1]\n      loop_control: item\n",
            5,
            7,
            "'loop_control' must be a mapping, found a string",
            "loop_control is a mapping",
        ),
        (
            "      loop: [1]\n      loop_control: {loop_vr: x}\n",
            5,
            22,
            "unknown loop_control key 'loop_vr'",
            "did you mean 'loop_var'?",
        ),
        (
            "      loop: {a: 1}\n",
            4,
            7,
            "'loop' must be a list or a template giving one, found a mapping",
            "dict2items",
        ),
        (
            "      loop: users\n",
            4,
            7,
            "'loop' must be a list or a template giving one, found a string",
            "\"{{ name }}\"",
        ),
        (
            "      loop: [1]\n      with_items: [2]\n",
            5,
            7,
            "a task has one loop; 'loop' and 'with_items' are both given",
            "keep one",
        ),
        (
            "      notify: {a: 1}\n",
            4,
            7,
            "'notify' must be a name or a list of names, found a mapping",
            "handler name",
        ),
        (
            "      tags: {a: 1}\n",
            4,
            7,
            "'tags' must be a tag or a list of tags, found a mapping",
            "comma-separated",
        ),
        (
            "      become: maybe\n",
            4,
            7,
            "'become' must be a boolean (true/false) or a template, found a string",
            "boolean",
        ),
        (
            "      retries: -1\n",
            4,
            7,
            "'retries' must be a non-negative integer or a template, found an integer",
            "integer",
        ),
        (
            "      vars: [1]\n",
            4,
            13,
            "vars must be a mapping of name: value, found a list",
            "name: value",
        ),
        (
            "      vars: {bad-name: 1}\n",
            4,
            14,
            "invalid variable name 'bad-name'",
            "letters",
        ),
        (
            "      environment: [a]\n",
            4,
            7,
            "'environment' must be a mapping of NAME: value (or a template), found a list",
            "NAME: value",
        ),
        (
            "      args: chdir=/tmp\n",
            4,
            7,
            "'args' must be a mapping, found a string",
            "mapping",
        ),
        (
            "      listen: x\n",
            4,
            7,
            "'listen' is only valid on handlers",
            "handlers:",
        ),
        (
            "      rescue: []\n",
            4,
            7,
            "'rescue' needs a 'block' in the same task",
            "block:",
        ),
        (
            "      ansible.builtin.import_playbook: x.yml\n",
            4,
            7,
            "'import_playbook' cannot be used in a task list",
            "top level",
        ),
        (
            "      include: x.yml\n",
            4,
            7,
            "'include' was removed from Ansible (2.16)",
            "include_tasks",
        ),
        (
            "      delegate_to: [a]\n",
            4,
            7,
            "'delegate_to' must be a string, found a list",
            "string",
        ),
        (
            "      become_method: su\n",
            4,
            7,
            "become_method 'su' is not supported",
            "sudo",
        ),
        (
            "      any_errors_fatal: \"{{ x }}\"\n",
            4,
            7,
            "'any_errors_fatal' must be true or false (not a template), found a string",
            "true or false",
        ),
    ];
    for (extra, line, col, msg, hint) in cases {
        let yaml = format!("- hosts: all\n  tasks:\n    - command: ls\n{extra}");
        let e = load_err(&yaml);
        assert_eq!(
            (e.location.line, e.location.column, e.message.as_str()),
            (*line, Some(*col), *msg),
            "for {extra:?}: {e}"
        );
        let h = e.hint.clone().unwrap_or_default();
        assert!(h.contains(hint), "for {extra:?}: hint {h:?} lacks {hint:?}");
        assert!(e.others.is_empty(), "for {extra:?}: {:?}", e.others);
    }
}

#[test]
fn module_argument_errors() {
    let e =
        load_err("- hosts: all\n  tasks:\n    - shell:\n        cmd: ls\n        chdri: /tmp\n");
    assert_err(
        &e,
        3,
        7,
        "unknown argument 'chdri' for shell: did you mean 'chdir'? valid arguments: chdir, cmd, creates, executable, removes, stdin, stdin_add_newline, strip_empty_ends",
        "shell takes a command line",
    );
    let e = load_err("- hosts: all\n  tasks:\n    - command:\n        chdir: /tmp\n");
    assert_err(&e, 3, 7, "command needs one of: cmd, argv", "command takes");
    let e = load_err("- hosts: all\n  tasks:\n    - command: ls\n      args:\n        cmd: ls\n");
    assert_err(
        &e,
        3,
        7,
        "arguments 'cmd' and '_raw_params' are mutually exclusive",
        "command takes",
    );
    let e = load_err("- hosts: all\n  tasks:\n    - command: [ls]\n");
    assert_err(
        &e,
        3,
        16,
        "arguments of command must be a command line or a mapping, found a list",
        "mapping",
    );
    // a template is not type-checked at load time
    let ts = tasks(
        "- hosts: all\n  tasks:\n    - command: ls\n      args:\n        stdin_add_newline: \"{{ x }}\"\n",
    );
    assert_eq!(args(&ts[0])["stdin_add_newline"], json!("{{ x }}"));
}

#[test]
fn keywords_not_allowed_on_blocks_imports_includes() {
    let e =
        load_err("- hosts: all\n  tasks:\n    - block:\n        - command: ls\n      loop: [1]\n");
    assert_err(
        &e,
        5,
        7,
        "'loop' cannot be used on a block",
        "inside the block",
    );
    let e = load_err(
        "- hosts: all\n  tasks:\n    - block:\n        - command: ls\n      register: r\n",
    );
    assert_err(
        &e,
        5,
        7,
        "'register' cannot be used on a block",
        "inside the block",
    );
    let s = Scratch::new();
    s.file("t.yml", "- command: ls\n");
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: t.yml\n      loop: [1, 2]\n",
    );
    let e = s.load("play.yml").unwrap_err();
    assert_err(
        &e,
        4,
        7,
        "'loop' cannot be used on import_tasks",
        "include_tasks",
    );
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - include_tasks: t.yml\n      become: true\n",
    );
    let e = s.load("play.yml").unwrap_err();
    assert_err(
        &e,
        4,
        7,
        "'become' cannot be used on include_tasks",
        "apply:",
    );
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - include_tasks:\n        file: t.yml\n        aply: {}\n",
    );
    let e = s.load("play.yml").unwrap_err();
    assert_err(
        &e,
        5,
        9,
        "unknown argument 'aply' for include_tasks",
        "did you mean 'apply'?",
    );
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: \"{{ which }}.yml\"\n",
    );
    let e = s.load("play.yml").unwrap_err();
    assert_err(
        &e,
        3,
        21,
        "import_tasks is static: its file name cannot use variables",
        "include_tasks",
    );
}

#[test]
fn meta_errors() {
    let e = load_err("- hosts: all\n  tasks:\n    - meta: end_everything\n");
    assert_err(
        &e,
        3,
        13,
        "meta: 'end_everything' is not supported",
        "flush_handlers, end_play, end_host, end_role, end_batch, clear_facts, clear_host_errors, reset_connection, refresh_inventory, noop",
    );
    let e = load_err("- hosts: all\n  tasks:\n    - meta: flush_handler\n");
    assert_err(
        &e,
        3,
        13,
        "meta: 'flush_handler' is not supported",
        "did you mean 'flush_handlers'?",
    );
    let ts = tasks(
        "- hosts: all\n  tasks:\n    - meta: end_play\n    - meta: end_host\n      when: x\n    - meta: refresh_inventory\n",
    );
    assert!(matches!(ts[2].action, Action::RefreshInventory));
    assert!(matches!(ts[0].action, Action::EndPlay));
    assert!(matches!(ts[1].action, Action::EndHost));
    assert_eq!(ts[1].when, ["x"]);
}

#[test]
fn local_action_conflicts_with_delegate_to() {
    let e = load_err(
        "- hosts: all\n  tasks:\n    - local_action: command ls\n      delegate_to: web1\n",
    );
    assert_err(
        &e,
        4,
        7,
        "local_action already runs on localhost: 'delegate_to' conflicts with it",
        "remove delegate_to",
    );
}

#[test]
fn play_errors() {
    let e = load_err("- host: all\n  tasks: []\n");
    assert_err(
        &e,
        1,
        3,
        "unknown play keyword 'host'",
        "did you mean 'hosts'?",
    );
    assert_eq!(e.others[0].message, "the play has no 'hosts'");
    let e = load_err("- hosts: all\n  shell: ls\n");
    assert_err(
        &e,
        2,
        3,
        "unknown play keyword 'shell'",
        "put the play's tasks under tasks:",
    );
    let e = load_err("- hosts: all\n  strategy: free\n");
    assert_err(&e, 2, 3, "strategy 'free' is not supported", "linearly");
    let e = load_err("- hosts: all\n  vars_prompt: []\n");
    assert_err(
        &e,
        2,
        3,
        "play keyword 'vars_prompt' is not supported by opsctl",
        "-e",
    );
    let e = load_err("- hosts: all\n  become_method: su\n");
    assert_err(&e, 2, 3, "become_method 'su' is not supported", "sudo");
    let e = load_err("- hosts: all\n  serial: lots\n");
    assert_err(
        &e,
        2,
        3,
        "'serial' must be a number of hosts, a percentage or a list of them, found \"lots\"",
        "30%",
    );
    let e = load_err("- hosts: all\n  max_fail_percentage: 120\n");
    assert_err(
        &e,
        2,
        3,
        "'max_fail_percentage' must be a number from 0 to 100, found 120",
        "20",
    );
    let e = load_err("- hosts: {a: 1}\n");
    assert_err(
        &e,
        1,
        3,
        "'hosts' must be a host pattern or a list of them, found a mapping",
        "hosts: web",
    );
    let e = load_err("- hosts: all\n  vars_files: [missing.yml]\n");
    assert_err(
        &e,
        2,
        16,
        "vars file not found: missing.yml",
        "relative to the playbook",
    );
    let e = load_err("- hosts: all\n  roles: common\n");
    assert_err(
        &e,
        2,
        3,
        "'roles' must be a list of roles, found a string",
        "roles:",
    );
    let e = load_err("- name: a task, not a play\n  command: ls\n");
    assert_err(&e, 2, 3, "unknown play keyword 'command'", "tasks:");
    assert_eq!(
        e.others[0].hint.as_deref(),
        Some("this looks like a task: a playbook is a list of plays, each with hosts: and tasks:")
    );
    // a play accepts tags, collections, check_mode, diff, strategy: linear
    let p = play(
        "- hosts: all\n  collections: [community.general]\n  strategy: linear\n  check_mode: true\n  diff: \"{{ d }}\"\n",
    );
    assert_eq!(p.check_mode, Some(json!(true)));
    assert_eq!(p.diff, Some(json!("{{ d }}")));
}

#[test]
fn playbook_shape_errors() {
    let e = load_err("hosts: all\ntasks: []\n");
    assert_err(
        &e,
        1,
        1,
        "a playbook must be a list of plays, found a mapping",
        "'- hosts: ...'",
    );
    let e = load_err("# nothing\n");
    assert_eq!(e.message, "the playbook has no plays");
    assert_eq!((e.location.line, e.location.column), (1, Some(1)), "{e}");
    let e = load_err("# nothing yet\n---\n[]\n");
    assert_eq!(e.message, "the playbook has no plays");
    assert_eq!((e.location.line, e.location.column), (3, Some(1)), "{e}");
    let e = load_err("- hosts: all\n  tasks:\n    - name: x\n      command: [unclosed\n");
    assert!(e.message.starts_with("invalid YAML"), "{e}");
    assert_eq!(e.location.line, 4);
    assert!(e.hint.is_some());
    let e = load_err("- hosts: all\n  tasks:\n    - name: x\n      name: y\n      command: ls\n");
    assert_eq!(e.location.line, 4, "{e}");
}

#[test]
fn tasks_file_shape_errors() {
    let s = Scratch::new();
    s.file("t.yml", "hosts: all\ntasks: []\n");
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - import_tasks: t.yml\n",
    );
    let e = s.load("play.yml").unwrap_err();
    assert_err(
        &e,
        1,
        1,
        "a tasks file must be a list of tasks, found a mapping",
        "import_playbook",
    );
    assert_eq!(pos(&e).0, "t.yml");
    s.file("t.yml", "- hosts: all\n  tasks: []\n");
    let e = s.load("play.yml").unwrap_err();
    assert_err(
        &e,
        1,
        3,
        "'hosts' is a play keyword, not a task keyword",
        "import_playbook",
    );
}

#[test]
fn missing_role_fixture() {
    let e = load_playbook(&fixtures().join("broken/missing_role.yml"), None).unwrap_err();
    assert_err(&e, 4, 13, "role 'ngnix' not found", "did you mean 'nginx'?");
    assert!(
        e.hint.as_ref().unwrap().contains("roles/ngnix"),
        "{:?}",
        e.hint
    );
    assert!(e.others.is_empty());
}

#[test]
fn role_cycle_fixture() {
    let e = load_playbook(&fixtures().join("broken/role_cycle.yml"), None).unwrap_err();
    assert_err(
        &e,
        2,
        11,
        "role dependency cycle: a -> b -> a",
        "cannot depend on itself",
    );
    assert!(e.location.file.ends_with("roles/b/meta/main.yml"));
}

#[test]
fn import_cycle_fixture() {
    let e = load_playbook(&fixtures().join("broken/import_cycle.yml"), None).unwrap_err();
    assert_eq!(pos(&e), ("b.yml".into(), 1, 3));
    assert!(e.message.starts_with("import cycle: "), "{e}");
    let chain: Vec<&str> = e.message["import cycle: ".len()..].split(" -> ").collect();
    assert_eq!(chain.len(), 3, "{e}");
    assert!(
        chain[0].ends_with("tasks/a.yml")
            && chain[1].ends_with("tasks/b.yml")
            && chain[2].ends_with("a.yml")
    );
    assert!(e.hint.unwrap().contains("cycle"));
}

#[test]
fn missing_import_fixture() {
    let e = load_playbook(&fixtures().join("broken/missing_import.yml"), None).unwrap_err();
    assert_err(
        &e,
        5,
        21,
        "import_tasks: file not found: tasks/nope.yml",
        "looked at",
    );
}

#[test]
fn every_problem_is_reported() {
    let e = load_playbook(&fixtures().join("broken/many_errors.yml"), None).unwrap_err();
    let all: Vec<(usize, usize, &str)> = e
        .all()
        .map(|e| {
            (
                e.location.line,
                e.location.column.unwrap(),
                e.message.as_str(),
            )
        })
        .collect();
    assert_eq!(
        all,
        [
            (5, 7, "unknown task keyword 'whne'"),
            (7, 7, "unknown module 'comand'"),
            (
                10,
                7,
                "a task has one action; this one has 'command' and 'shell'"
            ),
            (18, 7, "'register' must be a variable name, found a list"),
            (21, 15, "notify: no handler named 'restart ngnix'"),
        ]
    );
    let text = e.to_error().to_string();
    assert!(
        text.contains("many_errors.yml:21:15: notify: no handler named 'restart ngnix'"),
        "{text}"
    );
    assert!(text.contains("hint: did you mean 'when'?"), "{text}");
    // the second play has no handlers: the hint says so
    assert!(e.others[3].hint.as_ref().unwrap().contains("no handlers"));
}

#[test]
fn notify_must_name_a_handler() {
    let e = load_err(
        "- hosts: all\n  tasks:\n    - command: ls\n      notify:\n        - restart nginx\n        - reload ngnix\n  handlers:\n    - name: reload nginx\n      command: ls\n    - name: restart\n      command: ls\n      listen: restart nginx\n",
    );
    assert_err(
        &e,
        6,
        11,
        "notify: no handler named 'reload ngnix'",
        "did you mean 'reload nginx'?",
    );
    assert!(e.others.is_empty());
    // role handlers answer to "role : name" too; templated names are not checked
    let s = Scratch::new();
    s.file(
        "roles/web/handlers/main.yml",
        "- name: reload\n  command: ls\n",
    );
    s.file("play.yml", "- hosts: all\n  roles: [web]\n  tasks:\n    - command: ls\n      notify:\n        - \"web : reload\"\n        - reload\n        - \"{{ h }}\"\n");
    assert!(s.load("play.yml").is_ok());
    // a handler without a name can never be notified
    let e = load_err("- hosts: all\n  handlers:\n    - command: ls\n");
    assert_err(
        &e,
        3,
        7,
        "a handler needs a name (or listen:) to be notified",
        "name:",
    );
}

#[test]
fn import_playbook_errors() {
    let s = Scratch::new();
    s.file("self.yml", "- import_playbook: self.yml\n");
    let e = s.load("self.yml").unwrap_err();
    assert_err(
        &e,
        1,
        3,
        &format!(
            "import cycle: {} -> {}",
            crate::location::display_path(&s.path("self.yml")),
            crate::location::display_path(&s.path("self.yml"))
        ),
        "cycle",
    );
    s.file("a.yml", "- import_playbook: nope.yml\n");
    let e = s.load("a.yml").unwrap_err();
    assert_err(
        &e,
        1,
        20,
        "import_playbook: file not found: nope.yml",
        "relative to the importing playbook",
    );
    s.file("b.yml", "- import_playbook: a.yml\n  when: x\n");
    let e = s.load("b.yml").unwrap_err();
    assert_err(
        &e,
        2,
        3,
        "'when' on import_playbook is not supported",
        "condition",
    );
    s.file(
        "c.yml",
        "- ansible.builtin.import_playbook: d.yml\n  tags: t\n  vars: {v: 1}\n",
    );
    s.file(
        "d.yml",
        "- hosts: all\n  vars: {v: 0, w: 2}\n  tasks:\n    - command: ls\n",
    );
    let p = s.load("c.yml").unwrap().plays.remove(0);
    assert_eq!(p.tasks[0].tags, ["t"]);
    let vars: Vec<_> = p
        .vars
        .iter()
        .map(|v| (v.name.as_str(), v.value.clone()))
        .collect();
    assert_eq!(vars, [("v", json!(0)), ("w", json!(2)), ("v", json!(1))]);
}

#[test]
fn role_entry_and_meta_errors() {
    let s = Scratch::new();
    s.file("roles/r/tasks/main.yml", "- command: ls\n");
    s.file("roles/m/meta/main.yml", "dependencies: r\n");
    s.file("roles/n/meta/main.yml", "dependencys: [r]\n");
    let cases: &[(&str, usize, usize, &str, &str)] = &[
        (
            "  roles:\n    - {vars: {a: 1}}\n",
            3,
            7,
            "a role entry needs 'role:'",
            "- role:",
        ),
        (
            "  roles:\n    - role: \"{{ which }}\"\n",
            3,
            13,
            "a role name here cannot use variables",
            "include_role",
        ),
        (
            "  roles:\n    - role: r\n      bad-param: 1\n",
            4,
            7,
            "invalid role parameter name 'bad-param'",
            "letters",
        ),
        (
            "  roles:\n    - [r]\n",
            3,
            7,
            "a role entry must be a role name or a mapping with role:, found a list",
            "roles:",
        ),
        (
            "  roles: [m]\n",
            1,
            1,
            "'dependencies' must be a list of roles, found a string",
            "dependencies:",
        ),
        (
            "  roles: [n]\n",
            1,
            1,
            "unknown key 'dependencys' in role meta",
            "did you mean 'dependencies'?",
        ),
        (
            "  tasks:\n    - include_role:\n        name: rr\n",
            4,
            15,
            "role 'rr' not found",
            "did you mean 'r'?",
        ),
        (
            "  tasks:\n    - include_role:\n        name: r\n        tasks_from: nope\n",
            4,
            15,
            "role 'r' has no tasks file 'nope'",
            "nope.yml",
        ),
        (
            "  tasks:\n    - include_role:\n        name: r\n        public: true\n",
            5,
            9,
            "include_role: 'public' is not supported",
            "name and tasks_from",
        ),
        (
            "  tasks:\n    - include_role: {}\n",
            3,
            7,
            "include_role needs the role's name",
            "name: nginx",
        ),
        (
            "  tasks:\n    - import_role:\n        name: \"{{ x }}\"\n",
            4,
            15,
            "import_role is static: its name and tasks_from cannot use variables",
            "include_role",
        ),
    ];
    for (body, line, col, msg, hint) in cases {
        s.file("play.yml", &format!("- hosts: all\n{body}"));
        let e = s.load("play.yml").unwrap_err();
        // errors inside role files point into the role file (line 1:1 for meta)
        assert_eq!(
            (e.location.line, e.location.column, e.message.as_str()),
            (*line, Some(*col), *msg),
            "for {body:?}: {e}"
        );
        let h = e.hint.clone().unwrap_or_default();
        assert!(h.contains(hint), "for {body:?}: hint {h:?} lacks {hint:?}");
    }
}

#[test]
fn included_files_are_checked_at_load_time() {
    let s = Scratch::new();
    s.file("inc.yml", "- name: broken\n  comand: ls\n");
    s.file("roles/r/tasks/main.yml", "- shel: ls\n");
    s.file("play.yml", "- hosts: all\n  tasks:\n    - include_tasks: inc.yml\n    - include_role: {name: r}\n    - include_tasks: \"{{ x }}.yml\"\n    - include_tasks: missing.yml\n");
    let e = s.load("play.yml").unwrap_err();
    let all: Vec<(String, usize, usize, &str)> = e
        .all()
        .map(|e| {
            let (f, l, c) = pos(e);
            (f, l, c, e.message.as_str())
        })
        .collect();
    assert_eq!(
        all,
        [
            ("inc.yml".to_string(), 2, 3, "unknown module 'comand'"),
            ("main.yml".to_string(), 1, 3, "unknown module 'shel'"),
            (
                "play.yml".to_string(),
                6,
                22,
                "include_tasks: file not found: missing.yml"
            ),
        ]
    );
    // a file including itself is fine (recursion decided at run time)
    s.file(
        "rec.yml",
        "- name: again\n  include_tasks: rec.yml\n  when: depth | int < 3\n",
    );
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - include_tasks: rec.yml\n",
    );
    assert!(s.load("play.yml").is_ok());
}

#[test]
fn error_display_and_user_error() {
    let e = load_err("- hosts: all\n  tasks:\n    - comand: ls\n");
    let user = e.to_error();
    assert!(
        user.message
            .ends_with("play.yml:3:7: unknown module 'comand'"),
        "{}",
        user.message
    );
    assert_eq!(user.hints, ["did you mean 'command'?"]);
}

// -------------------------------------------------------------- robustness

/// A copy of the site project to mutate.
fn site_copy() -> Scratch {
    let s = Scratch::new();
    fn copy(from: &Path, to: &Path) {
        std::fs::create_dir_all(to).unwrap();
        for ent in std::fs::read_dir(from).unwrap().flatten() {
            let p = ent.path();
            let dest = to.join(ent.file_name());
            if p.is_dir() {
                copy(&p, &dest);
            } else {
                std::fs::copy(&p, &dest).unwrap();
            }
        }
    }
    copy(&fixtures().join("site"), s.dir.path());
    s
}

fn yaml_value() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let leaf = prop_oneof![
        Just("ls".to_string()),
        Just("true".to_string()),
        Just("3".to_string()),
        Just("null".to_string()),
        Just("\"{{ x }}\"".to_string()),
        Just("src=a dest=/b".to_string()),
        Just("x.yml".to_string()),
        Just("common".to_string()),
        Just("flush_handlers".to_string()),
        Just("'a b'".to_string()),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(", "))),
            proptest::collection::vec((yaml_key(), inner), 0..4).prop_map(|v| {
                let items: Vec<String> = v.into_iter().map(|(k, v)| format!("{k}: {v}")).collect();
                format!("{{{}}}", items.join(", "))
            }),
        ]
    })
}

fn yaml_key() -> impl proptest::strategy::Strategy<Value = String> {
    use proptest::prelude::*;
    let mut keys: Vec<&'static str> = keywords::TASK_KEYWORDS.to_vec();
    keys.extend(keywords::PLAY_KEYWORDS);
    keys.extend([
        "command",
        "shell",
        "copy",
        "file",
        "role",
        "file",
        "apply",
        "tasks_from",
        "loop_var",
        "junk",
        "dependencies",
    ]);
    proptest::sample::select(keys).prop_map(str::to_string)
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(200))]

    /// Whatever the bytes, loading gives plays or positioned errors.
    #[test]
    fn arbitrary_text_never_panics(src in "(?s).{0,300}") {
        let s = Scratch::new();
        s.file("play.yml", &src);
        let _ = s.load("play.yml");
    }

    /// Plays built from real keywords and odd values never panic.
    #[test]
    fn arbitrary_plays_never_panic(
        play_keys in proptest::collection::vec((yaml_key(), yaml_value()), 0..6),
        task_keys in proptest::collection::vec(proptest::collection::vec((yaml_key(), yaml_value()), 0..5), 0..4),
    ) {
        let s = Scratch::new();
        s.file("x.yml", "- command: ls\n");
        s.file("roles/common/tasks/main.yml", "- command: ls\n");
        let mut y = String::from("- hosts: all\n");
        for (k, v) in &play_keys {
            if k != "hosts" && k != "tasks" {
                y.push_str(&format!("  {k}: {v}\n"));
            }
        }
        y.push_str("  tasks:\n");
        for t in &task_keys {
            let items: Vec<String> = t.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            y.push_str(&format!("    - {{{}}}\n", items.join(", ")));
        }
        s.file("play.yml", &y);
        if let Err(e) = s.load("play.yml") {
            for e in e.all() {
                proptest::prop_assert!(e.location.line > 0, "{}", e);
            }
        }
    }
}

/// Mutations of the real project's playbook (and of a role's tasks) never panic.
#[test]
fn mutated_site_never_panics() {
    use proptest::test_runner::{Config, TestRunner};
    let s = site_copy();
    let targets = ["provision.yml", "roles/app/tasks/main.yml"];
    let bases: Vec<String> = targets
        .iter()
        .map(|t| std::fs::read_to_string(s.path(t)).unwrap())
        .collect();
    let mut runner = TestRunner::new(Config::with_cases(300));
    let strategy = (
        0usize..2,
        0usize..1500,
        "[ :\\-\\[\\]{}'\"#&*!|>%@`\n\tx]{0,4}",
    );
    runner
        .run(&strategy, |(which, cut, insert)| {
            let base = &bases[which];
            let mut cut = cut.min(base.len());
            while !base.is_char_boundary(cut) {
                cut -= 1;
            }
            s.file(
                targets[which],
                &format!("{}{}{}", &base[..cut], insert, &base[cut..]),
            );
            let _ = s.load("site.yml");
            s.file(targets[which], base);
            Ok(())
        })
        .unwrap();
}

// ------------------------------------------------- names Ansible has, opsctl not

/// `play.yml` of `s`, which must load.
fn loaded(s: &Scratch) -> Playbook {
    s.load("play.yml")
        .unwrap_or_else(|e| panic!("{}", e.to_error()))
}

fn warnings_of(p: &Playbook) -> Vec<String> {
    p.warnings
        .iter()
        .map(|w| {
            let (file, line, col) = pos(w);
            format!("{file}:{line}:{col}: {}", w.message)
        })
        .collect()
}

#[test]
fn an_unimplemented_module_loads_warns_once_and_is_kept() {
    let s = Scratch::new();
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - name: redhat\n      yum: name=nginx\n      when: ansible_os_family == 'RedHat'\n    - name: legacy\n      action: zypper name=nginx\n    - name: ok\n      command: ls\n      notify: restart\n  handlers:\n    - name: restart\n      ansible.posix.firewalld: {state: reloaded}\n",
    );
    let p = loaded(&s);
    assert_eq!(
        warnings_of(&p),
        vec![
            "play.yml:4:7: opsctl does not implement the module 'yum' (ansible.builtin.dnf): the task fails if a host reaches it",
            "play.yml:7:7: opsctl does not implement the module 'zypper' (community.general.zypper): the task fails if a host reaches it",
            "play.yml:13:7: opsctl does not implement the module 'ansible.posix.firewalld': the task fails if a host reaches it",
        ]
    );
    let play = &p.plays[0];
    match &play.tasks[0].action {
        Action::Unimplemented { name, fqcn, args } => {
            assert_eq!(
                (name.as_str(), fqcn.as_str()),
                ("yum", "ansible.builtin.dnf")
            );
            assert_eq!(args, &json!("name=nginx"));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(play.tasks[0].when, vec!["ansible_os_family == 'RedHat'"]);
    assert_eq!(play.tasks[1].display_name(), "legacy");
    // the handler exists: notify finds it
    assert_eq!(play.handlers[0].name.as_deref(), Some("restart"));
    // --strict: every warning is an error
    let e = p.strict().unwrap_err();
    assert_eq!(e.all().count(), 3);
    assert!(e.to_error().to_string().contains("--strict refuses"));
}

#[test]
fn a_name_no_ansible_module_has_is_an_error_with_the_nearest() {
    let e = load_err("- hosts: all\n  tasks:\n    - yumm: name=x\n");
    assert_err(&e, 3, 7, "unknown module 'yumm'", "did you mean 'yum'?");
    let e = load_err("- hosts: all\n  tasks:\n    - action: ansible.builtin.coppy src=a dest=b\n");
    assert_err(
        &e,
        3,
        15,
        "unknown module 'ansible.builtin.coppy'",
        "did you mean 'ansible.builtin.copy'?",
    );
}

#[test]
fn collections_and_role_libraries_name_modules() {
    let s = Scratch::new();
    s.file("roles/r/library/my_mod.py", "# a module\n");
    s.file(
        "roles/r/tasks/main.yml",
        "- name: own module\n  my_mod: {x: 1}\n  when: false\n",
    );
    s.file(
        "play.yml",
        "- hosts: all\n  collections: [acme.tools]\n  roles: [r]\n  tasks:\n    - name: from the collection\n      frob: {}\n",
    );
    let p = loaded(&s);
    let w = warnings_of(&p);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("main.yml:2:3: opsctl does not implement the module 'my_mod'"));
    assert!(w[1].contains("'frob' (acme.tools.frob)"), "{w:?}");
    // without the role's library, the name is a typo
    let e = load_err("- hosts: all\n  tasks:\n    - my_mod: {}\n");
    assert_eq!(e.message, "unknown module 'my_mod'");
}

#[test]
fn notify_on_a_block_goes_to_its_tasks() {
    let p = play(
        "- hosts: all\n  tasks:\n    - block:\n        - command: a\n        - command: b\n          notify: other\n      notify: restart\n  handlers:\n    - {name: restart, command: r}\n    - {name: other, command: o}\n",
    );
    let Action::Block { block, .. } = &p.tasks[0].action else {
        panic!()
    };
    assert_eq!(block[0].notify, vec!["restart"]);
    assert_eq!(block[1].notify, vec!["other", "restart"]);
    let e = load_err(
        "- hosts: all\n  tasks:\n    - block:\n        - command: a\n      notify: nope\n",
    );
    assert_eq!(e.message, "notify: no handler named 'nope'");
}

#[test]
fn loop_control_without_a_loop_is_ignored() {
    let t = tasks("- hosts: all\n  tasks:\n    - command: ls\n      loop_control: {label: x}\n");
    assert!(t[0].loop_.is_none());
}

#[test]
fn module_defaults_fill_what_the_task_leaves_out() {
    let p = play(
        "- hosts: all\n  module_defaults:\n    ansible.builtin.apt: {cache_valid_time: 3600, update_cache: true}\n    group/community.postgresql.all: {login_user: postgres}\n  tasks:\n    - apt: {name: nginx, update_cache: false}\n    - block:\n        - apt: {name: git}\n        - command: ls\n      module_defaults:\n        apt: {install_recommends: false}\n    - apt: {name: curl}\n",
    );
    let Action::Block { block, .. } = &p.tasks[1].action else {
        panic!()
    };
    assert_eq!(
        args(&p.tasks[0]),
        json!({"name": ["nginx"], "update_cache": false, "cache_valid_time": 3600})
    );
    assert_eq!(
        args(&block[0]),
        json!({"name": ["git"], "install_recommends": false, "cache_valid_time": 3600, "update_cache": true})
    );
    assert_eq!(args(&block[1]), json!({"_raw_params": "ls"}));
    // the block's defaults end with the block
    assert_eq!(
        args(&p.tasks[2]),
        json!({"name": ["curl"], "cache_valid_time": 3600, "update_cache": true})
    );
    let e = load_err("- hosts: all\n  module_defaults:\n    aptt: {a: 1}\n  tasks: []\n");
    assert_err(
        &e,
        3,
        5,
        "module_defaults: unknown module 'aptt'",
        "did you mean 'apt'?",
    );
}

#[test]
fn play_remote_user_is_kept() {
    let p = play("- hosts: all\n  remote_user: deploy\n  tasks: []\n");
    assert_eq!(p.remote_user.as_deref(), Some("deploy"));
}

#[test]
fn include_role_of_an_absent_role_under_a_condition_resolves_when_reached() {
    let p = load(
        "- hosts: all\n  tasks:\n    - include_role: {name: redhat_only}\n      when: ansible_os_family == 'RedHat'\n    - block:\n        - include_role: {name: other_absent}\n      when: false\n",
    )
    .unwrap_or_else(|e| panic!("{}", e.to_error()));
    assert_eq!(
        warnings_of(&p),
        vec![
            "play.yml:3:28: role 'redhat_only' not found: the include_role fails if a host reaches it",
            "play.yml:6:32: role 'other_absent' not found: the include_role fails if a host reaches it",
        ]
    );
    // unconditional: an error, as before
    let e = load_err("- hosts: all\n  tasks:\n    - include_role: {name: absent}\n");
    assert_eq!(e.message, "role 'absent' not found");
}

#[test]
fn filters_tests_and_lookups_of_templates_are_checked() {
    let s = Scratch::new();
    s.file(
        "templates/site.j2",
        "a\n{{ x | to_nice_yaml }}\n{{ y | to_jsn }}\n",
    );
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - name: \"{{ n | default('x') }}\"\n      debug:\n        msg: \"{{ lookup('password', '/tmp/x') }}\"\n      when: x is versoin('1', '>')\n    - template: {src: site.j2, dest: /etc/site}\n    - debug: {msg: \"{{ d | community.general.json_query('a') }}\"}\n      changed_when: r.stdout is search('x')\n",
    );
    let e = s.load("play.yml").unwrap_err();
    let errs: Vec<String> = e
        .all()
        .map(|e| {
            format!(
                "{:?}: {} | {}",
                pos(e),
                e.message,
                e.hint.clone().unwrap_or_default()
            )
        })
        .collect();
    assert_eq!(
        errs,
        vec![
            "(\"play.yml\", 6, 13): unknown test 'versoin' | did you mean 'version'?",
            "(\"site.j2\", 3, 0): unknown filter 'to_jsn' | did you mean 'to_json'?",
        ]
    );
    // without the typos: warnings for what Ansible has and opsctl not (yet)
    s.file(
        "templates/site.j2",
        "a\n{{ x | ansible.builtin.vault('k') }}\n",
    );
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - debug:\n        msg: \"{{ lookup('password', '/tmp/x') }}\"\n    - template: {src: site.j2, dest: /etc/site}\n",
    );
    let p = loaded(&s);
    assert_eq!(
        warnings_of(&p),
        vec![
            "play.yml:4:14: opsctl does not implement the lookup 'password' (ansible.builtin.password): a task that evaluates it fails",
            "site.j2:2:0: opsctl does not implement the filter 'ansible.builtin.vault': a task that evaluates it fails",
        ]
    );
}

#[test]
fn a_roles_own_filter_plugins_are_known() {
    let s = Scratch::new();
    s.file(
        "roles/r/filter_plugins/mine.py",
        "class FilterModule(object):\n    def filters(self):\n        return {'shout': shout, \"whisper\": whisper}\n",
    );
    s.file(
        "roles/r/tasks/main.yml",
        "- debug: {msg: \"{{ 'a' | shout }}\"}\n",
    );
    s.file("play.yml", "- hosts: all\n  roles: [r]\n");
    let p = loaded(&s);
    let w = warnings_of(&p);
    assert_eq!(w.len(), 1, "{w:?}");
    assert!(w[0].contains("filter 'shout' (a plugin of the play's roles or playbook)"));
}

#[test]
fn lookup_loops_keep_their_terms_for_the_engine() {
    let ts = tasks(concat!(
        "- hosts: all\n  tasks:\n",
        "    - debug: msg={{ item }}\n      with_nested: [[a, b], \"{{ xs }}\"]\n",
        "    - debug: msg={{ item }}\n      with_sequence: start=1 end=3\n",
        "    - debug: msg={{ item }}\n      with_first_found:\n        - files: [a.yml]\n          paths: [vars]\n          skip: true\n",
        "    - debug: msg={{ item }}\n      with_subelements: [\"{{ users }}\", keys, {skip_missing: true}]\n",
        "    - include_tasks: \"{{ item }}\"\n      with_first_found: [a.yml, b.yml]\n",
    ));
    let kinds: Vec<LoopKind> = ts.iter().map(|t| t.loop_kind).collect();
    assert_eq!(
        kinds,
        [
            LoopKind::Lookup("nested"),
            LoopKind::Lookup("sequence"),
            LoopKind::Lookup("first_found"),
            LoopKind::Lookup("subelements"),
            LoopKind::Lookup("first_found"),
        ]
    );
    assert_eq!(ts[0].loop_, Some(json!([["a", "b"], "{{ xs }}"])));
    assert_eq!(ts[1].loop_, Some(json!("start=1 end=3")));
    assert_eq!(
        ts[2].loop_,
        Some(json!([{"files": ["a.yml"], "paths": ["vars"], "skip": true}]))
    );
    assert!(
        finish_loop(LoopKind::Lookup("nested"), json!("x"))
            .unwrap_err()
            .contains("with_nested")
    );
    let e = load_err("- hosts: all\n  tasks:\n    - debug: msg=x\n      with_nested:\n");
    assert_err(
        &e,
        4,
        7,
        "'with_nested' must be the terms of the lookup (a list, a string or a mapping), found null",
        "give a list",
    );
}

#[test]
fn vars_files_alternatives() {
    let s = Scratch::new();
    s.file("vars/default.yml", "a: 1\n");
    s.file(
        "play.yml",
        "- hosts: all\n  vars_files:\n    - [\"vars/{{ os }}.yml\", vars/default.yml]\n    - [vars/missing.yml, vars/default.yml]\n  tasks: []\n",
    );
    let p = s.load("play.yml").unwrap().plays.remove(0);
    assert_eq!(
        p.vars_files.iter().map(|v| v.0.clone()).collect::<Vec<_>>(),
        [
            vec!["vars/{{ os }}.yml".to_string(), "vars/default.yml".into()],
            vec!["vars/missing.yml".to_string(), "vars/default.yml".into()],
        ]
    );
    let e = load_err("- hosts: all\n  vars_files:\n    - [vars/a.yml, vars/b.yml]\n  tasks: []\n");
    assert_err(
        &e,
        3,
        7,
        "none of the vars files exists: vars/a.yml, vars/b.yml",
        "relative to the playbook",
    );
}

#[test]
fn task_keywords_ansible_has_and_opsctl_not_load_and_fail_when_reached() {
    let s = Scratch::new();
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - name: facts of localhost\n      setup: {}\n      delegate_to: localhost\n      delegate_facts: true\n    - name: background\n      command: sleep 1\n      async: 10\n      poll: 0\n    - name: fine\n      command: ls\n",
    );
    let p = loaded(&s);
    let w = warnings_of(&p);
    assert!(
        w[0].starts_with("play.yml:6:7: 'delegate_facts' is not supported by opsctl"),
        "{w:?}"
    );
    assert!(
        w[0].ends_with("the task fails if a host reaches it"),
        "{w:?}"
    );
    assert!(
        w[1].starts_with("play.yml:9:7: 'async' (background tasks)"),
        "{w:?}"
    );
    let tasks = &p.plays[0].tasks;
    match &tasks[0].action {
        Action::Unimplemented { name, .. } => {
            assert_eq!(name, "the task keyword 'delegate_facts'")
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(tasks[1].action, Action::Unimplemented { .. }));
    assert!(matches!(tasks[2].action, Action::Module { .. }));
    // on a block it stays an error (nothing to fail when reached)
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - block:\n        - command: ls\n      async: 1\n",
    );
    let e = s.load("play.yml").unwrap_err();
    assert!(
        e.to_error()
            .to_string()
            .contains("'async' (background tasks) is not supported"),
        "{}",
        e.to_error()
    );
}

#[test]
fn remote_user_timeout_and_throttle_pass_from_play_and_block_to_tasks() {
    let s = Scratch::new();
    s.file(
        "play.yml",
        "- hosts: all\n  timeout: 30\n  throttle: \"{{ n }}\"\n  tasks:\n    - block:\n        - command: ls\n        - command: id\n          remote_user: other\n          timeout: 2\n      remote_user: app\n      throttle: 1\n    - command: pwd\n",
    );
    let p = loaded(&s);
    let t = &p.plays[0].tasks;
    let Action::Block { block, .. } = &t[0].action else {
        panic!("{:?}", t[0].action)
    };
    assert_eq!(block[0].remote_user.as_deref(), Some("app"));
    assert_eq!(block[0].throttle, Some(serde_json::json!(1)));
    assert_eq!(block[0].timeout, Some(serde_json::json!(30)));
    assert_eq!(block[1].remote_user.as_deref(), Some("other"));
    assert_eq!(block[1].timeout, Some(serde_json::json!(2)));
    assert_eq!(t[1].remote_user, None);
    assert_eq!(t[1].throttle, Some(serde_json::json!("{{ n }}")));
    // not a number
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - command: ls\n      timeout: soon\n",
    );
    let e = s.load("play.yml").unwrap_err().to_error().to_string();
    assert!(e.contains("play.yml:4:7"), "{e}");
}

#[test]
fn a_handler_may_be_an_include_tasks_that_listens() {
    let s = Scratch::new();
    s.file("check.yml", "- command: ls\n");
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - command: ls\n      notify: restart app\n  handlers:\n    - name: check it started\n      include_tasks: check.yml\n      listen: restart app\n",
    );
    let p = loaded(&s);
    assert_eq!(p.plays[0].handlers[0].listen, vec!["restart app"]);
    // on a task it is still an error
    s.file(
        "play.yml",
        "- hosts: all\n  tasks:\n    - include_tasks: check.yml\n      listen: x\n",
    );
    assert!(s.load("play.yml").is_err());
}

#[test]
fn play_gather_keywords() {
    let p = play(
        "- hosts: all\n  gather_subset: [min, '!local']\n  fact_path: /srv/facts\n  gather_timeout: 3\n  tasks: []\n",
    );
    assert_eq!(p.gather_subset, vec!["min", "!local"]);
    assert_eq!(p.fact_path.as_deref(), Some("/srv/facts"));
    assert_eq!(p.gather_timeout, Some(3));
    let p = play("- hosts: all\n  gather_subset: '!hardware,network'\n  tasks: []\n");
    assert_eq!(p.gather_subset, vec!["!hardware,network"]);
    let e = load_err("- hosts: all\n  gather_subset: [min, hardwares]\n  tasks: []\n");
    assert_eq!((e.location.line, e.location.column), (2, Some(3)), "{e}");
    assert!(
        e.message.starts_with(
            "bad subset 'hardwares' given to gather_subset: the options are all, min,"
        ),
        "{e}"
    );
    let e = load_err("- hosts: all\n  gather_timeout: soon\n  tasks: []\n");
    assert_err(
        &e,
        2,
        3,
        "'gather_timeout' must be a whole number of seconds, found \"soon\"",
        "gather_timeout: 10",
    );
}
