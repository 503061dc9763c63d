//! `opsctl vars`: precedence, provenance and lazy templating, end to end.

use crate::common::Project;

fn project() -> Project {
    Project::new(&[
        (
            "environments/staging/hosts",
            "[web]\nweb1 app_port=4000\nweb2\n\n[db]\ndb1\n\n[prod:children]\nweb\n",
        ),
        (
            "group_vars/all.yml",
            "app_name: catalogage\napp_port: 8000\nlog_level: info\n",
        ),
        (
            "environments/staging/group_vars/all.yml",
            "log_level: warning\n",
        ),
        (
            "environments/staging/group_vars/prod.yml",
            "app_port: 9000\ntier: prod\n",
        ),
        (
            "environments/staging/group_vars/web.yml",
            "app_port: 3579\nworkdir: \"/srv/{{ app_name }}\"\nlogdir: \"{{ workdir }}/logs\"\nhome: \"{{ ansible_env.HOME }}/x\"\n",
        ),
        (
            "environments/staging/host_vars/web2.yml",
            "app_port: 3600\n",
        ),
    ])
}

#[test]
fn precedence_and_where_each_value_came_from() {
    let p = project();
    // web1: inventory host var (4000) beats group_vars/web (3579) which beats prod (parent) and all.
    let run = p.opsctl(&["vars", "--env", "staging", "web1", "app_port"]);
    run.code(0);
    let out = &run.stdout;
    assert!(out.contains("app_port = 4000"), "{out}");
    assert!(
        out.contains("set at environments/staging/hosts:2:"),
        "{out}"
    );
    assert!(
        out.contains("overrides 3579 at environments/staging/group_vars/web.yml:1"),
        "{out}"
    );
    assert!(
        out.contains("overrides 9000 at environments/staging/group_vars/prod.yml:1"),
        "{out}"
    );
    assert!(
        out.contains("overrides 8000 at group_vars/all.yml:2"),
        "{out}"
    );
    // web2: host_vars wins over the child group.
    p.opsctl(&["vars", "--env", "staging", "web2", "app_port"])
        .code(0)
        .stdout_has("app_port = 3600");
    // -e beats everything.
    p.opsctl(&[
        "vars",
        "--env",
        "staging",
        "web2",
        "app_port",
        "-e",
        "app_port=1",
    ])
    .code(0)
    .stdout_has("app_port = \"1\"");
    // environment group_vars/all beats the project's.
    p.opsctl(&["vars", "--env", "staging", "db1", "log_level"])
        .code(0)
        .stdout_has("log_level = \"warning\"");
}

#[test]
fn templated_values_resolve_lazily_per_host() {
    let p = project();
    let run = p.opsctl(&["vars", "--env", "staging", "web1"]);
    run.code(0)
        .stdout_has("logdir = \"/srv/catalogage/logs\"")
        .stdout_has("workdir = \"/srv/catalogage\"");
    // a value needing facts is explained, not fatal
    run.stdout_has("home = <cannot resolve: uses ansible_env");
    p.opsctl(&["vars", "--env", "staging", "web1", "logdir"])
        .code(0)
        .stdout_has("template: \"{{ workdir }}/logs\"");
    p.opsctl(&[
        "vars",
        "--env",
        "staging",
        "web1",
        "logdir",
        "-e",
        "app_name=shop",
    ])
    .code(0)
    .stdout_has("\"/srv/shop/logs\"");
}

#[test]
fn json_output_and_magic_variables() {
    let p = project();
    let run = p.opsctl(&["vars", "--env", "staging", "web1", "--output", "json"]);
    run.code(0);
    let doc: serde_json::Value = serde_json::from_str(run.stdout.trim()).unwrap();
    assert_eq!(doc["vars"]["app_port"]["value"], 4000);
    assert_eq!(
        doc["vars"]["app_port"]["overrides"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(doc["vars"]["logdir"]["raw"], "{{ workdir }}/logs");
    let run = p.opsctl(&["vars", "--env", "staging", "web1", "group_names"]);
    run.code(0).stdout_has("group_names = [\"prod\",\"web\"]");
}

#[test]
fn unknown_host_or_variable_suggests_the_nearest() {
    let p = project();
    p.opsctl(&["vars", "--env", "staging", "web3"])
        .code(1)
        .stderr_has("unknown host 'web3'")
        .stderr_has("did you mean");
    p.opsctl(&["vars", "--env", "staging", "web1", "app_prt"])
        .code(1)
        .stderr_has("did you mean app_port");
}

/// The stack roles' defaults (roles/app, certbot, common) are the lowest layer
/// `opsctl vars` shows: a value only a role default sets names its file:line and
/// layer, templated for the host; the inventory overrides it, and says so.
#[test]
fn role_defaults_are_a_layer_with_their_file_and_line() {
    let p = Project::new(&[
        (
            "environments/staging/hosts",
            "[web]\nweb1\nweb2 app_root=/opt/app\n",
        ),
        (
            "roles/app/defaults/main.yml",
            "# the app\napp_user: app\napp_root: \"/srv/{{ app_user }}\"\n",
        ),
        (
            "roles/common/defaults/main.yml",
            "app_user: nobody\nswap_mb: 512\n",
        ),
    ]);
    let run = p.opsctl(&["vars", "--env", "staging", "web1", "app_root"]);
    run.code(0)
        .stdout_has("app_root = \"/srv/app\"")
        .stdout_has("set at roles/app/defaults/main.yml:3:1 (role defaults)");
    // app's default wins over common's, and says what it overrode.
    p.opsctl(&["vars", "--env", "staging", "web1", "app_user"])
        .code(0)
        .stdout_has("app_user = \"app\"")
        .stdout_has("roles/app/defaults/main.yml:2:1 (role defaults)")
        .stdout_has("overrides \"nobody\" at roles/common/defaults/main.yml:1:1");
    // The inventory wins over every role default.
    p.opsctl(&["vars", "--env", "staging", "web2", "app_root"])
        .code(0)
        .stdout_has("app_root = \"/opt/app\"")
        .stdout_has("overrides \"/srv/{{ app_user }}\" at roles/app/defaults/main.yml:3:1");
    let json = p.opsctl(&["vars", "--env", "staging", "web1", "--output", "json"]);
    json.code(0);
    let doc: serde_json::Value = serde_json::from_str(json.stdout.trim()).unwrap();
    assert_eq!(doc["vars"]["swap_mb"]["value"], 512, "{doc}");
    assert_eq!(doc["vars"]["swap_mb"]["layer"], "role defaults", "{doc}");
}
