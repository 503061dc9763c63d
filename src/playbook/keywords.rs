//! The keywords of tasks and plays: which a task or play may have, which a
//! parent passes down, which go together, and the Ansible keywords opsctl
//! refuses with what to do instead.

/// Every keyword a task may have (its module key aside), with [`LOOP_KEYS`].
pub(super) const TASK_KEYWORDS: &[&str] = &[
    "name",
    "action",
    "local_action",
    "args",
    "when",
    "loop",
    "with_items",
    "with_list",
    "with_dict",
    "loop_control",
    "register",
    "changed_when",
    "failed_when",
    "ignore_errors",
    "ignore_unreachable",
    "notify",
    "listen",
    "become",
    "become_user",
    "become_method",
    "tags",
    "check_mode",
    "diff",
    "no_log",
    "environment",
    "delegate_to",
    "run_once",
    "vars",
    "retries",
    "delay",
    "until",
    "any_errors_fatal",
    "block",
    "rescue",
    "always",
    "import_tasks",
    "include_tasks",
    "import_role",
    "include_role",
    "meta",
    "collections",
    "module_defaults",
    "remote_user",
    "timeout",
    "throttle",
];

/// Keywords that say what a task does (a module key does too).
pub(super) const ACTION_KEYWORDS: &[&str] = &[
    "action",
    "local_action",
    "block",
    "import_tasks",
    "include_tasks",
    "import_role",
    "include_role",
    "meta",
];

/// Keywords a parent passes down to its tasks ([`Inherited`]).
pub(super) const INHERITABLE: &[&str] = &[
    "when",
    "tags",
    "vars",
    "become",
    "become_user",
    "become_method",
    "environment",
    "ignore_errors",
    "ignore_unreachable",
    "check_mode",
    "diff",
    "no_log",
    "delegate_to",
    "run_once",
    "any_errors_fatal",
    "remote_user",
    "timeout",
    "throttle",
];

pub(super) const BLOCK_ONLY: &[&str] = &[
    "name",
    "block",
    "rescue",
    "always",
    "collections",
    "notify",
    "module_defaults",
];
pub(super) const IMPORT_ONLY: &[&str] = &[
    "name",
    "collections",
    "import_tasks",
    "import_role",
    "module_defaults",
];
pub(super) const INCLUDE_TASKS_KEYWORDS: &[&str] = &[
    "name",
    "include_tasks",
    "args",
    "when",
    "tags",
    "vars",
    "loop",
    "with_items",
    "with_list",
    "with_dict",
    "loop_control",
    "register",
    "ignore_errors",
    "no_log",
    "run_once",
    "collections",
];
pub(super) const INCLUDE_ROLE_EXTRA: &[&str] = &[
    "include_role",
    "become",
    "become_user",
    "become_method",
    "environment",
    "delegate_to",
    "check_mode",
    "diff",
    "any_errors_fatal",
    "ignore_unreachable",
];
pub(super) const META_KEYWORDS: &[&str] = &["name", "meta", "when", "tags", "vars", "collections"];
pub(super) const LOOP_KEYS: &[&str] = &[
    "loop",
    "with_items",
    "with_list",
    "with_dict",
    "with_first_found",
    "with_subelements",
    "with_flattened",
    "with_nested",
    "with_together",
    "with_sequence",
    "with_fileglob",
    "with_indexed_items",
    "with_lines",
    "with_inventory_hostnames",
    "with_file",
    "with_env",
    "with_pipe",
];

/// `with_<lookup>` loops that run a lookup plugin on their terms, by lookup name.
pub(super) const LOOKUP_LOOPS: &[&str] = &[
    "first_found",
    "subelements",
    "flattened",
    "nested",
    "together",
    "sequence",
    "fileglob",
    "indexed_items",
    "lines",
    "inventory_hostnames",
    "file",
    "env",
    "pipe",
];
pub(super) const LOOP_CONTROL_KEYS: &[&str] = &[
    "loop_var",
    "index_var",
    "label",
    "pause",
    "extended",
    "extended_allitems",
];

/// Ansible task keywords opsctl refuses, with why and what to do instead.
pub(super) fn unsupported_task_keyword(key: &str) -> Option<(String, String)> {
    let (msg, hint): (String, &str) = match key {
        "async" | "poll" => (
            format!("'{key}' (background tasks) is not supported"),
            "run the task in the foreground; for a long-running service use a supervisor or systemd unit",
        ),
        "connection" => (
            "'connection' is not supported".into(),
            "opsctl connects over SSH, or locally to localhost; use delegate_to: localhost to run on the controller",
        ),
        "port" => (
            format!("'{key}' is not supported on tasks"),
            "set ansible_user / ansible_port in the inventory",
        ),
        "delegate_facts" | "debugger" | "become_exe" | "become_flags" => {
            (format!("'{key}' is not supported by opsctl"), "remove it")
        }
        "import_playbook" => (
            "'import_playbook' cannot be used in a task list".into(),
            "import playbooks at the top level of a playbook: - import_playbook: other.yml",
        ),
        "include" => (
            "'include' was removed from Ansible (2.16)".into(),
            "use include_tasks (dynamic) or import_tasks (static)",
        ),
        k if k.starts_with("with_") && !LOOP_KEYS.contains(&k) => (
            format!("'{k}' is not supported"),
            "use loop: with a list, or a template giving one (opsctl has with_items, with_list, with_dict, with_first_found, with_subelements, with_flattened, with_nested, with_together, with_sequence, with_fileglob, with_indexed_items, with_lines, with_inventory_hostnames, with_file, with_env, with_pipe)",
        ),
        _ => return None,
    };
    Some((msg, hint.to_string()))
}

/// `ansible.builtin.include_tasks` is `include_tasks`.
pub(super) fn control_name(key: &str) -> &str {
    for prefix in ["ansible.builtin.", "ansible.legacy."] {
        if let Some(rest) = key.strip_prefix(prefix)
            && (ACTION_KEYWORDS.contains(&rest) || rest == "import_playbook")
        {
            return rest;
        }
    }
    key
}

/// Every keyword a play may have.
pub(super) const PLAY_KEYWORDS: &[&str] = &[
    "name",
    "hosts",
    "vars",
    "vars_files",
    "roles",
    "pre_tasks",
    "tasks",
    "post_tasks",
    "handlers",
    "become",
    "become_user",
    "become_method",
    "gather_facts",
    "gather_subset",
    "gather_timeout",
    "fact_path",
    "serial",
    "max_fail_percentage",
    "any_errors_fatal",
    "environment",
    "tags",
    "check_mode",
    "diff",
    "strategy",
    "ignore_errors",
    "ignore_unreachable",
    "no_log",
    "collections",
    "remote_user",
    "module_defaults",
    "timeout",
    "throttle",
];

pub(super) const IMPORT_PLAYBOOK_KEYS: &[&str] = &["import_playbook", "name", "tags", "vars"];

/// Ansible play keywords opsctl refuses, with what to do instead.
pub(super) fn unsupported_play_keyword(key: &str) -> Option<(String, &'static str)> {
    let hint = match key {
        "vars_prompt" => {
            "pass the values with -e name=value, or keep them in the environment's secrets"
        }
        "port" => "set ansible_port in the inventory",
        "connection" => "opsctl connects over SSH, or locally to localhost",
        "order" | "force_handlers" | "run_once" | "debugger" | "become_exe" | "become_flags" => {
            "remove it"
        }
        _ => return None,
    };
    Some((
        format!("play keyword '{key}' is not supported by opsctl"),
        hint,
    ))
}
