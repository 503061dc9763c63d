//! modprobe (community.general.modprobe): a kernel module loaded or not, and
//! (`persistent`) loaded at boot with its options.
//!
//! On the module protocol: one probe reads whether the module is loaded
//! (`/proc/modules`), built in (`modules.builtin`, `/sys/module/NAME`) and
//! the `*.conf` files of `/etc/modules-load.d` and `/etc/modprobe.d`. Rust
//! decides as Ansible does: `persistent: present` makes
//! `/etc/modules-load.d/NAME.conf` name the module and, with `params`,
//! `/etc/modprobe.d/NAME.conf` hold `options NAME PARAMS` (other files'
//! options for it commented out); `persistent: absent` comments the module's
//! lines out everywhere. The change, never in check mode, writes those files
//! and runs `modprobe [-r]` when the loaded state differs; `--diff` shows the
//! files.

use serde_json::json;

use super::fail::{self, Fail};
use super::net::unb64s;
use super::protocol::{Applied, Ctx, Facts, Module, Need, Plan};
use super::sysconf::{script_applied, script_plan, write_bytes};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static MODPROBE: Spec = Spec::new(
    "modprobe",
    &[
        ArgSpec::new("name", Kind::Str).required(),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("params", Kind::Str),
        ArgSpec::new(
            "persistent",
            Kind::Choice(&["disabled", "absent", "present"]),
        ),
    ],
);

pub struct Modprobe;

const LOAD_D: &str = "/etc/modules-load.d";
const PROBE_D: &str = "/etc/modprobe.d";

fn name(args: &Args) -> Result<String, Fail> {
    let n = args.str("name").unwrap_or_default().trim().to_string();
    if n.is_empty()
        || !n
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        return fail::bad_args(format!("name: '{n}' is not a kernel module name"));
    }
    Ok(n)
}

fn probe(name: &str) -> String {
    let u = name.replace('-', "_");
    format!(
        "# opsctl modprobe: read {name}\n\
         n={}\n\
         grep -q \"^$n \" /proc/modules 2>/dev/null && echo loaded=1\n\
         [ -d \"/sys/module/$n\" ] && echo sys=1\n\
         grep -qE \"/$n\\.ko(\\.[a-z]+)?$\" \"/lib/modules/$(uname -r)/modules.builtin\" 2>/dev/null && echo builtin=1\n\
         command -v modprobe >/dev/null 2>&1 || echo nomodprobe=1\n\
         for f in {LOAD_D}/*.conf {PROBE_D}/*.conf; do [ -f \"$f\" ] && printf 'file %s %s\\n' \"$(base64 -w0 < \"$f\")\" \"$f\"; done\n",
        shell_quote(&u)
    )
}

struct Read {
    /// Listed in /proc/modules (a loadable module, loaded).
    in_proc: bool,
    /// Loaded or built in (/proc/modules, /sys/module, modules.builtin).
    loaded: bool,
    builtin: bool,
    no_modprobe: bool,
    /// (path, content) of the conf files.
    files: Vec<(String, String)>,
}

fn read(out: &str) -> Read {
    let has = |k: &str| out.lines().any(|l| l == format!("{k}=1"));
    let files = out
        .lines()
        .filter_map(|l| l.strip_prefix("file "))
        .filter_map(|l| l.split_once(' '))
        .map(|(b, p)| (p.to_string(), unb64s(b)))
        .collect();
    Read {
        in_proc: has("loaded"),
        loaded: has("loaded") || has("sys"),
        builtin: has("builtin"),
        no_modprobe: has("nomodprobe"),
        files,
    }
}

fn is_module_line(l: &str, name: &str) -> bool {
    l.trim() == name
}

fn is_options_line(l: &str, name: &str) -> bool {
    let mut w = l.split_whitespace();
    w.next() == Some("options") && w.next() == Some(name)
}

/// The conf files to write (path, before, after).
fn persistence(
    r: &Read,
    name: &str,
    params: &str,
    persistent: &str,
) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = Vec::new();
    let own_load = format!("{LOAD_D}/{name}.conf");
    let own_opts = format!("{PROBE_D}/{name}.conf");
    let options = format!("options {name} {params}");
    let comment_out = |text: &str, pred: &dyn Fn(&str) -> bool, keep: Option<&str>| -> String {
        text.lines()
            .map(|l| {
                if pred(l) && keep.is_none_or(|k| l.trim() != k) {
                    format!("#{l}\n")
                } else {
                    format!("{l}\n")
                }
            })
            .collect()
    };
    match persistent {
        "present" => {
            let loaded = r
                .files
                .iter()
                .any(|(p, t)| p.starts_with(LOAD_D) && t.lines().any(|l| is_module_line(l, name)));
            if !loaded {
                let before = r
                    .files
                    .iter()
                    .find(|(p, _)| *p == own_load)
                    .map(|(_, t)| t.clone())
                    .unwrap_or_default();
                let mut after = before.clone();
                if !after.is_empty() && !after.ends_with('\n') {
                    after.push('\n');
                }
                after.push_str(&format!("{name}\n"));
                out.push((own_load.clone(), before, after));
            }
            if !params.is_empty() {
                let set = r.files.iter().any(|(p, t)| {
                    p.starts_with(PROBE_D)
                        && t.lines()
                            .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == options)
                });
                let others = r.files.iter().any(|(p, t)| {
                    p.starts_with(PROBE_D)
                        && t.lines().any(|l| {
                            is_options_line(l, name)
                                && l.split_whitespace().collect::<Vec<_>>().join(" ") != options
                        })
                });
                if !set || others {
                    for (p, t) in r
                        .files
                        .iter()
                        .filter(|(p, _)| p.starts_with(PROBE_D) && *p != own_opts)
                    {
                        let after = comment_out(t, &|l| is_options_line(l, name), Some(&options));
                        if after != *t {
                            out.push((p.clone(), t.clone(), after));
                        }
                    }
                    let before = r
                        .files
                        .iter()
                        .find(|(p, _)| *p == own_opts)
                        .map(|(_, t)| t.clone())
                        .unwrap_or_default();
                    let mut after =
                        comment_out(&before, &|l| is_options_line(l, name), Some(&options));
                    if !after
                        .lines()
                        .any(|l| l.split_whitespace().collect::<Vec<_>>().join(" ") == options)
                    {
                        after.push_str(&format!("{options}\n"));
                    }
                    if after != before {
                        out.push((own_opts, before, after));
                    }
                }
            }
        }
        "absent" => {
            for (p, t) in &r.files {
                let pred: &dyn Fn(&str) -> bool = if p.starts_with(LOAD_D) {
                    &|l| is_module_line(l, name)
                } else {
                    &|l| is_options_line(l, name)
                };
                let after = comment_out(t, pred, None);
                if after != *t {
                    out.push((p.clone(), t.clone(), after));
                }
            }
        }
        _ => {}
    }
    out
}

impl Module for Modprobe {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(&name(args)?))])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let name = name(args)?;
        let present = args.str("state") != Some("absent");
        let params = args.str("params").unwrap_or_default().trim().to_string();
        if params.contains(['\n', '\'']) {
            return fail::bad_args("params must be one line without quotes");
        }
        let persistent = args.str("persistent").unwrap_or("disabled");
        let r = read(&facts.probe(&probe(&name))?.stdout_str());
        let loaded = r.loaded || r.builtin;
        let load = present && !loaded;
        let unload = !present && loaded;
        if unload && !r.in_proc {
            return fail::fail(format!(
                "{name} is built into the kernel: it cannot be unloaded"
            ));
        }
        let files = persistence(&r, &name, &params, persistent);
        let mut o = Outcome::ok();
        o.data.insert("name".into(), json!(name));
        o.data.insert("params".into(), json!(params));
        o.data.insert(
            "state".into(),
            json!(if present { "present" } else { "absent" }),
        );
        if !load && !unload && files.is_empty() {
            return Ok(Plan::Done(o));
        }
        if (load || unload) && r.no_modprobe {
            return fail::fail(
                "modprobe is not installed on this host: install kmod (apt: name=kmod)",
            );
        }
        o.changed = true;
        let mut what = Vec::new();
        if load {
            what.push(format!("{name} loaded"));
        }
        if unload {
            what.push(format!("{name} unloaded"));
        }
        if !files.is_empty() {
            what.push(format!("persistence {persistent}"));
        }
        o.msg = Some(what.join(", "));
        let mut s = format!("# opsctl modprobe: {name}\n");
        for (path, before, after) in &files {
            if ctx.diff {
                o.diffs
                    .push(Diff::new(path.clone(), before.clone(), after.clone()));
            }
            s.push_str(&write_bytes(path, after.as_bytes(), 0o644));
        }
        if load {
            let p: Vec<String> = params.split_whitespace().map(shell_quote).collect();
            s.push_str(&format!(
                "modprobe -- {} {} || exit 2\n",
                shell_quote(&name),
                p.join(" ")
            ));
        }
        if unload {
            s.push_str(&format!(
                "modprobe -r -- {} || exit 2\n",
                shell_quote(&name)
            ));
        }
        Ok(script_plan(o, s, None))
    }

    fn applied(
        &self,
        args: &Args,
        planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        let name = args.str("name").unwrap_or_default();
        let verb = if args.str("state") == Some("absent") {
            "unloading"
        } else {
            "loading"
        };
        script_applied(planned, result, |rc| match rc {
            Some(2) => format!("Error {verb} module {name}"),
            _ => "writing the module's configuration failed".into(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(files: &[(&str, &str)]) -> Read {
        Read {
            in_proc: true,
            loaded: true,
            builtin: false,
            no_modprobe: false,
            files: files
                .iter()
                .map(|(p, t)| (p.to_string(), t.to_string()))
                .collect(),
        }
    }

    #[test]
    fn persistence_like_ansible() {
        let w = persistence(&r(&[]), "br_netfilter", "", "present");
        assert_eq!(
            w,
            vec![(
                "/etc/modules-load.d/br_netfilter.conf".into(),
                String::new(),
                "br_netfilter\n".into()
            )]
        );
        let done = r(&[("/etc/modules-load.d/k8s.conf", "overlay\nbr_netfilter\n")]);
        assert!(persistence(&done, "br_netfilter", "", "present").is_empty());
        let w = persistence(
            &r(&[("/etc/modprobe.d/old.conf", "options bonding mode=0\n")]),
            "bonding",
            "mode=1",
            "present",
        );
        assert!(
            w.iter().any(
                |(p, _, a)| p == "/etc/modprobe.d/old.conf" && a == "#options bonding mode=0\n"
            )
        );
        assert!(w.iter().any(
            |(p, _, a)| p == "/etc/modprobe.d/bonding.conf" && a == "options bonding mode=1\n"
        ));
        let w = persistence(&done, "br_netfilter", "", "absent");
        assert_eq!(w[0].2, "overlay\n#br_netfilter\n");
        let parsed = read("loaded=1\nfile b3ZlcmxheQo= /etc/modules-load.d/a.conf\n");
        assert!(parsed.loaded);
        assert_eq!(
            parsed.files[0],
            ("/etc/modules-load.d/a.conf".into(), "overlay\n".into())
        );
    }
}
