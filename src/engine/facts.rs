//! Facts, gathered in ONE round trip per host, with a POSIX sh script (no Python on
//! the host). The same exec reads the handlers a failed earlier run left pending.

use serde_json::{Map, Value as Json, json};

use crate::modules::setup;

/// Where a failed run leaves the handlers it had notified (root, else the
/// user's), in `$f`; who runs is found with shell builtins (no `id`).
pub fn pending_file() -> String {
    format!(
        "# opsctl: pending handlers\n{}opsctl_whoami\n{}",
        crate::modules::remote_file::WHOAMI_FN,
        r#"if [ "$hu" = 0 ]; then f=/var/lib/opsctl/pending-handlers; else f="${XDG_STATE_HOME:-$HOME/.local/state}/opsctl/pending-handlers"; fi"#
    )
}

/// Reads the pending handlers (one name a line, nothing when none): the end
/// of the facts script, or a section of a play's first gather exec.
pub fn pending_read() -> String {
    format!(
        "{}\n[ -r \"$f\" ] && while IFS= read -r l || [ -n \"$l\" ]; do printf '%s\\n' \"$l\"; done < \"$f\"\n:",
        pending_file()
    )
}

/// What the start of a play gathers: the play's `gather_subset` (empty:
/// `all`), `fact_path` and `gather_timeout`.
#[derive(Debug, Clone, Copy)]
pub struct Gather<'a> {
    pub subset: &'a [String],
    pub fact_path: Option<&'a str>,
    pub timeout: Option<u64>,
}

impl Gather<'_> {
    /// Every subset, the default places.
    pub const ALL: Gather<'static> = Gather {
        subset: &[],
        fact_path: None,
        timeout: None,
    };

    /// The subsets as given, `all` when none.
    fn given(&self) -> Vec<String> {
        if self.subset.is_empty() {
            vec!["all".into()]
        } else {
            self.subset.to_vec()
        }
    }
}

/// The probe: the facts script of the play's subsets (`modules::setup`),
/// then the pending handlers after a marker.
pub fn script(g: Gather) -> String {
    // The loader checked the names: an error here cannot happen.
    let subsets = setup::subsets(&g.given()).unwrap_or_default();
    let mut s = setup::script(
        &subsets,
        g.fact_path.unwrap_or("/etc/ansible/facts.d"),
        g.timeout.unwrap_or(setup::GATHER_TIMEOUT),
    );
    s.push_str("echo '--- pending'\n");
    s.push_str(&pending_read());
    s.push_str("\nexit 0\n");
    s
}

/// The names in the pending-handlers file.
pub fn pending_names(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Parses the probe's output into (facts as variables: `ansible_*` and
/// `ansible_facts`, pending handler names).
pub fn parse(out: &str, g: Gather) -> (Map<String, Json>, Vec<String>) {
    let (head, pending) = out.split_once("--- pending\n").unwrap_or((out, ""));
    let pending = pending_names(pending);
    let mut f = setup::parse(head);
    f.insert("gather_subset".into(), json!(g.given()));
    f.insert("module_setup".into(), json!(true));
    let mut out = setup::as_variables(&f);
    out.insert("ansible_facts".into(), Json::Object(f));
    (out, pending)
}

/// What a module's `ansible_facts` does to the host's variables, as Ansible's
/// fact cache: each fact becomes a variable, and `ansible_facts` (`current`)
/// gains it under its name without the `ansible_` prefix. `set_fact` facts
/// are variables only (not `ansible_facts`), so the engine does not call this
/// for it.
pub fn merge_module_facts(current: &Json, returned: &Map<String, Json>) -> Json {
    let mut ns = match current {
        Json::Object(m) => m.clone(),
        _ => Map::new(),
    };
    for (k, v) in returned {
        let short = k.strip_prefix("ansible_").unwrap_or(k);
        ns.insert(short.to_string(), v.clone());
    }
    Json::Object(ns)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_debian_host() {
        let out = "@@id\nuid=0(root) gid=0(root)\n@@env\nHOME=/root\n@@os_release\nID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n@@debian_version\n12.12\n@@service_mgr\ninit\n@@end\n--- pending\nreload nginx\n";
        let (f, pending) = parse(out, Gather::ALL);
        assert_eq!(f["ansible_env"]["HOME"], "/root");
        assert_eq!(f["ansible_distribution"], "Debian");
        assert_eq!(f["ansible_distribution_release"], "bookworm");
        assert_eq!(f["ansible_distribution_version"], "12.12");
        assert_eq!(f["ansible_distribution_major_version"], "12");
        assert_eq!(f["ansible_os_family"], "Debian");
        assert_eq!(f["ansible_service_mgr"], "sysvinit");
        assert_eq!(f["ansible_facts"]["distribution"], "Debian");
        assert_eq!(f["ansible_facts"]["gather_subset"], json!(["all"]));
        assert_eq!(pending, vec!["reload nginx"]);
        assert_eq!(pending_names(" a\n\nb c \n"), vec!["a", "b c"]);
        // The play's subset is what `gather_subset` says.
        let min = ["min".to_string(), "!local".to_string()];
        let g = Gather {
            subset: &min,
            fact_path: Some("/srv/facts"),
            timeout: Some(3),
        };
        let (f, _) = parse(out, g);
        assert_eq!(
            f["ansible_facts"]["gather_subset"],
            json!(["min", "!local"])
        );
        let s = script(g);
        assert!(!s.contains("@@meminfo") && !s.contains("/srv/facts"), "{s}");
        let s = script(Gather { subset: &[], ..g });
        assert!(
            s.contains("for f in /srv/facts/*.fact") && s.contains("timeout 3 stat -f"),
            "{s}"
        );
    }

    #[test]
    fn module_facts_join_the_namespace() {
        let cur = json!({"distribution": "Debian"});
        let mut ret = Map::new();
        ret.insert("ansible_kernel".into(), json!("6.1"));
        ret.insert("packages".into(), json!({"nginx": []}));
        let ns = merge_module_facts(&cur, &ret);
        assert_eq!(
            ns,
            json!({"distribution": "Debian", "kernel": "6.1", "packages": {"nginx": []}})
        );
        assert_eq!(merge_module_facts(&Json::Null, &ret)["kernel"], "6.1");
    }

    #[tokio::test]
    async fn the_script_runs_in_a_real_shell() {
        let out = tokio::process::Command::new("/bin/sh")
            .arg("-c")
            .arg(script(Gather::ALL))
            .output()
            .await
            .unwrap();
        let (f, _) = parse(&String::from_utf8_lossy(&out.stdout), Gather::ALL);
        assert!(!f["ansible_env"]["HOME"].as_str().unwrap().is_empty());
        assert!(f["ansible_processor_vcpus"].as_u64().unwrap() >= 1);
    }
}
