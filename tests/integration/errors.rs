//! Every bad input gives file:line(:col) or the host, and what to do; never a panic.

use crate::common::{Project, run_in};

#[test]
fn outside_a_project() {
    let d = tempfile::tempdir().unwrap();
    run_in(d.path(), &["ping", "--env", "staging"])
        .code(1)
        .no_panic()
        .stderr_has("not inside an opsctl project")
        .stderr_has("--project DIR");
}

#[test]
fn a_missing_environment_lists_the_existing_ones() {
    let p = Project::new(&[
        ("environments/staging/hosts", "h1\n"),
        ("environments/demo/hosts", "h2\n"),
    ]);
    p.opsctl(&["ping", "--env", "stagin"])
        .code(1)
        .no_panic()
        .stderr_has("unknown environment 'stagin'")
        .stderr_has("existing environments: demo, staging")
        .stderr_has("did you mean --env staging?");
}

#[test]
fn the_project_is_found_from_a_subdirectory_and_with_project() {
    let p = Project::new(&[
        (
            "environments/dev/hosts",
            "[web]\nlocalhost ansible_connection=local\n",
        ),
        ("roles/app/tasks/main.yml", ""),
    ]);
    run_in(
        &p.path().join("roles/app/tasks"),
        &["inventory", "--env", "dev", "--graph"],
    )
    .code(0)
    .stdout_has("localhost");
    let elsewhere = tempfile::tempdir().unwrap();
    run_in(
        elsewhere.path(),
        &[
            "--project",
            p.path().to_str().unwrap(),
            "inventory",
            "--env",
            "dev",
            "--graph",
        ],
    )
    .code(0);
}

#[test]
fn a_malformed_inventory_line_names_file_line_and_column() {
    let p = Project::new(&[("environments/dev/hosts", "[web]\nweb1\nweb[01:x]\n")]);
    let run = p.opsctl(&["inventory", "--env", "dev", "--graph"]);
    run.code(1)
        .no_panic()
        .stderr_has("environments/dev/hosts:3:");
}

#[test]
fn a_yaml_syntax_error_names_file_line_and_column() {
    let p = Project::new(&[
        ("environments/dev/hosts", "[web]\nweb1\n"),
        (
            "environments/dev/group_vars/web.yml",
            "app_port: 3579\nworkers: [1, 2\nother: x\n",
        ),
    ]);
    let run = p.opsctl(&["vars", "--env", "dev", "web1"]);
    run.code(1)
        .no_panic()
        .stderr_has("environments/dev/group_vars/web.yml:")
        .stderr_has("invalid YAML");
}

#[test]
fn an_undefined_variable_names_the_variable_and_where_it_is_used() {
    let p = Project::new(&[
        (
            "environments/dev/hosts",
            "[web]\nweb1 ansible_connection=local\n",
        ),
        (
            "environments/dev/group_vars/web.yml",
            "app_name: shop\nansible_host: \"{{ server_nmae }}.example.org\"\n",
        ),
    ]);
    let run = p.opsctl(&["ping", "--env", "dev"]);
    run.code(1)
        .no_panic()
        .stderr_has("server_nmae")
        .stderr_has("environments/dev/group_vars/web.yml:2");
}

#[test]
fn a_variable_cycle_names_the_chain() {
    let p = Project::new(&[
        ("environments/dev/hosts", "[web]\nweb1\n"),
        (
            "environments/dev/group_vars/all.yml",
            "a: \"{{ b }}\"\nb: \"x{{ c }}\"\nc: \"{{ a }}\"\n",
        ),
    ]);
    let run = p.opsctl(&["vars", "--env", "dev", "web1", "a"]);
    run.no_panic()
        .stdout_has("cycle")
        .stdout_has("a (")
        .stdout_has("b (")
        .stdout_has("c (");
    run.stdout_has("group_vars/all.yml:1");
}

#[test]
fn usage_errors_exit_1_and_help_exits_0() {
    let p = Project::new(&[]);
    p.opsctl(&["ping", "--nope"]).code(1).no_panic();
    p.opsctl(&["ping", "--env", "a", "-i", "b"])
        .code(1)
        .stderr_has("cannot be used with");
    for sub in ["ping", "inventory", "vars"] {
        p.opsctl(&[sub, "--help"]).code(0).stdout_has("Examples:");
    }
    p.opsctl(&["--help"]).code(0).stdout_has("Examples:");
}

#[test]
fn a_limit_that_matches_nothing_is_an_error() {
    let p = Project::new(&[("environments/dev/hosts", "[web]\nweb1\n")]);
    p.opsctl(&["ping", "--env", "dev", "--limit", "db*"])
        .code(1)
        .stderr_has("matches no host");
}
