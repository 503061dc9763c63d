//! package_facts: the installed packages as `ansible_facts.packages` (name ->
//! list of {name, version, arch, release, source}), read by one probe: dpkg
//! for `apt` (no python-apt needed), `rpm -qa` for `rpm`, `apk` for `apk`.
//! `manager: auto` (the default) takes the first manager found on the host;
//! `strategy: all` merges every manager found.

use serde_json::{Map, Value as Json, json};

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static PACKAGE_FACTS: Spec = Spec::new(
    "package_facts",
    &[
        ArgSpec::new("manager", Kind::Any),
        ArgSpec::new("strategy", Kind::Choice(&["first", "all"])),
    ],
);

/// `package_facts` on the module protocol.
pub struct PackageFacts;

/// The managers opsctl reads, with the probe that lists their packages
/// (`name\tversion\tarch`, `release` after a `-` for rpm).
const MANAGERS: &[(&str, &str)] = &[
    (
        "apt",
        r"command -v dpkg-query >/dev/null 2>&1 && { echo @@apt; dpkg-query -W -f '${db:Status-Abbrev}\t${Package}\t${Version}\t${Architecture}\n' 2>/dev/null; }",
    ),
    (
        "rpm",
        r"command -v rpm >/dev/null 2>&1 && { echo @@rpm; rpm -qa --queryformat 'ii \t%{NAME}\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\t%{ARCH}\n' 2>/dev/null; }",
    ),
    (
        "apk",
        r"command -v apk >/dev/null 2>&1 && { echo @@apk; apk info -v 2>/dev/null | sed 's/^/ii \t/'; }",
    ),
];

fn managers(args: &Args) -> Result<Vec<&'static str>, Fail> {
    let given: Vec<String> = match args.get("manager") {
        None | Some(Json::Null) => vec!["auto".into()],
        Some(Json::Array(a)) => a
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(Json::String(s)) => s.split(',').map(|s| s.trim().to_string()).collect(),
        Some(v) => return fail::bad_args(format!("manager: expected a name or a list, got {v}")),
    };
    let mut out = Vec::new();
    for m in &given {
        let m = if m == "dpkg" { "apt" } else { m.as_str() };
        if m == "auto" {
            out.extend(MANAGERS.iter().map(|(n, _)| *n));
            continue;
        }
        match MANAGERS.iter().find(|(n, _)| *n == m) {
            Some((n, _)) => out.push(*n),
            None => {
                return fail::bad_args(format!(
                    "manager: '{m}' is not supported; opsctl reads auto, apt (dpkg), rpm, apk"
                ));
            }
        }
    }
    out.dedup();
    Ok(out)
}

fn probe(args: &Args) -> Result<String, Fail> {
    let mut s = String::new();
    for m in managers(args)? {
        let (_, script) = MANAGERS.iter().find(|(n, _)| *n == m).expect("known");
        s.push_str(script);
        s.push('\n');
    }
    s.push_str("exit 0\n");
    Ok(s)
}

/// Parses the probe's output: for each manager found, its installed packages.
pub fn parse(out: &str) -> Vec<(String, Map<String, Json>)> {
    let mut found: Vec<(String, Map<String, Json>)> = Vec::new();
    for line in out.lines() {
        if let Some(m) = line.strip_prefix("@@") {
            found.push((m.to_string(), Map::new()));
            continue;
        }
        let Some((manager, pkgs)) = found.last_mut() else {
            continue;
        };
        let f: Vec<&str> = line.split('\t').collect();
        // dpkg: `ii ` installed; `rc ` (config files) and the like are not installed
        if !f[0].starts_with("ii") && !f[0].starts_with("hi") {
            continue;
        }
        let entry = match manager.as_str() {
            "apk" => {
                // name-version-rN: the version is the last two dash-separated parts
                let full = f.get(1).copied().unwrap_or("");
                let mut parts: Vec<&str> = full.rsplitn(3, '-').collect();
                if parts.len() < 3 {
                    continue;
                }
                parts.reverse();
                json!({"name": parts[0], "version": format!("{}-{}", parts[1], parts[2]), "source": "apk"})
            }
            "rpm" if f.len() >= 4 => {
                let (epoch, rest) = f[2].split_once(':').unwrap_or(("0", f[2]));
                let (version, release) = rest.rsplit_once('-').unwrap_or((rest, ""));
                let epoch: Option<u64> = epoch.parse().ok().filter(|e| *e != 0);
                json!({"name": f[1], "version": version, "release": release, "epoch": epoch, "arch": f[3], "source": "rpm"})
            }
            "apt" if f.len() >= 4 => {
                json!({"name": f[1], "version": f[2], "arch": f[3], "category": Json::Null, "origin": Json::Null, "source": "apt"})
            }
            _ => continue,
        };
        let name = entry["name"].as_str().unwrap_or("").to_string();
        pkgs.entry(name)
            .or_insert_with(|| json!([]))
            .as_array_mut()
            .expect("a list")
            .push(entry);
    }
    found
}

impl Module for PackageFacts {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(args)?)])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let out = facts.probe(&probe(args)?)?;
        let found = parse(&out.stdout_str());
        let asked = managers(args)?;
        let all = args.str("strategy") == Some("all");
        let mut packages = Map::new();
        let mut used = Vec::new();
        for m in &asked {
            let Some((_, pkgs)) = found.iter().find(|(n, _)| n == m) else {
                continue;
            };
            used.push(*m);
            for (name, list) in pkgs {
                match packages.get_mut(name) {
                    Some(Json::Array(have)) => {
                        have.extend(list.as_array().into_iter().flatten().cloned())
                    }
                    _ => {
                        packages.insert(name.clone(), list.clone());
                    }
                }
            }
            if !all {
                break;
            }
        }
        if used.is_empty() {
            return fail::fail(format!(
                "could not detect a supported package manager ({}) on the host",
                asked.join(", ")
            ));
        }
        Ok(Plan::Done(
            Outcome::ok().with("ansible_facts", json!({"packages": packages})),
        ))
    }
}
