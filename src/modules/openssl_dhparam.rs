//! openssl_dhparam (community.crypto): Diffie-Hellman parameters of `size`
//! bits present at `path` (regenerated when their size differs, they do not
//! load, or `force`), or absent.
//!
//! On the module protocol: one probe reads the parameters' size with
//! `openssl dhparam -noout -text` on the host and the file's mode and owner;
//! the change runs `openssl dhparam` into a temporary file renamed over
//! `path`. Registers `filename` and `backup_file`.

use serde_json::json;

use super::crypto;
use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static OPENSSL_DHPARAM: Spec = Spec::new(
    "openssl_dhparam",
    crate::crypto_file_args!(
        ArgSpec::new("path", Kind::Str).required(),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new("size", Kind::Int),
    ),
);

fn probe(path: &str) -> Need {
    Need::Probe(format!(
        "# opsctl openssl_dhparam: read\n\
         command -v openssl >/dev/null 2>&1 || {{ echo noopenssl=1; exit 0; }}\n\
         p={}\n[ -e \"$p\" ] || {{ echo exists=0; exit 0; }}\necho exists=1\n\
         stat --printf 'mode=%a\\nowner=%U\\ngroup=%G\\n' -- \"$p\"\n\
         echo \"bits=$(openssl dhparam -in \"$p\" -noout -text 2>/dev/null | sed -n 's/.*(\\([0-9]*\\) bit).*/\\1/p' | head -n 1)\"\n",
        shell_quote(path)
    ))
}

pub struct OpensslDhparam;

impl Module for OpensslDhparam {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![probe(args.str("path").unwrap_or_default())])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let path = args.string("path").unwrap_or_default();
        let size = args.int("size").unwrap_or(4096);
        if !(512..=16384).contains(&size) {
            return fail::bad_args(format!("size: {size} bits is out of range (512-16384)"));
        }
        let out = facts.probe(match &probe(&path) {
            Need::Probe(s) => s,
            _ => unreachable!("a probe"),
        })?;
        let f: std::collections::HashMap<String, String> = out
            .stdout_str()
            .lines()
            .filter_map(|l| l.split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim().to_string()))
            .collect();
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
        if get("noopenssl") == "1" {
            return fail::fail(
                "openssl is not installed on this host: install it first (apt: name=openssl)",
            );
        }
        let exists = get("exists") == "1";
        let bits: Option<i64> = get("bits").parse().ok();
        let mut res = Outcome::ok().with("filename", path.clone());
        let q = shell_quote(&path);
        let show = |b: Option<i64>| match b {
            Some(b) => format!("size: {b}\n"),
            None => "size: (unreadable)\n".into(),
        };
        if args.str("state") == Some("absent") {
            if !exists {
                return Ok(Plan::Done(res));
            }
            res.changed = true;
            res.msg = Some(format!("{path} removed"));
            if ctx.diff {
                res.diffs
                    .push(Diff::new(path.clone(), show(bits), String::new()));
            }
            let script = format!("# opsctl openssl_dhparam: remove\nrm -f -- {q}\n");
            return Ok(Plan::change(
                res,
                Action::Script {
                    script,
                    stdin: None,
                },
            ));
        }
        let mode = crypto::mode(args, 0o644, 0o022)?;
        let chown = crypto::chown(args)?;
        let generate = !exists || bits != Some(size) || args.bool_or("force", false);
        let mut attrs = Vec::new();
        if !generate {
            if let Some(m) = mode
                && u32::from_str_radix(get("mode"), 8).ok() != Some(m)
            {
                attrs.push(format!("chmod {m:o} -- \"$p\""));
            }
            if let Some(c) = &chown {
                let (o, g) = c.split_once(':').unwrap_or((c.as_str(), ""));
                if (!o.is_empty() && o != get("owner")) || (!g.is_empty() && g != get("group")) {
                    attrs.push(format!("chown {} -- \"$p\"", shell_quote(c)));
                }
            }
        }
        res.data.insert("size".into(), json!(size));
        if !generate && attrs.is_empty() {
            return Ok(Plan::Done(res));
        }
        res.changed = true;
        let mut script = format!("# opsctl openssl_dhparam: write\np={q}\n");
        if generate {
            script.push_str(&format!(
                "t=$(mktemp \"$(dirname -- \"$p\")/.opsctl-dh.XXXXXX\") || exit 1\n\
                 openssl dhparam -out \"$t\" {size} 2>/dev/null || {{ rm -f \"$t\"; echo 'openssl dhparam failed' >&2; exit 1; }}\n\
                 chmod {:o} -- \"$t\"\n",
                mode.unwrap_or(0o644)
            ));
            if let Some(c) = &chown {
                script.push_str(&format!(
                    "chown {} -- \"$t\" || {{ rm -f \"$t\"; exit 1; }}\n",
                    shell_quote(c)
                ));
            }
            if args.bool_or("backup", false) && exists {
                script.push_str(&crypto::backup_line("p"));
            }
            script.push_str("mv -f -- \"$t\" \"$p\"\n");
            res.msg = Some(format!("{size}-bit DH parameters generated at {path}"));
            if ctx.diff {
                let before = if exists { show(bits) } else { String::new() };
                res.diffs
                    .push(Diff::new(path.clone(), before, show(Some(size))));
            }
        } else {
            res.msg = Some(format!("attributes of {path} set"));
        }
        for a in &attrs {
            script.push_str(a);
            script.push('\n');
        }
        Ok(Plan::change(
            res,
            Action::Script {
                script,
                stdin: None,
            },
        ))
    }

    fn applied(
        &self,
        _: &Args,
        mut planned: Outcome,
        result: Applied,
        _: &Ctx,
    ) -> Result<Outcome, Fail> {
        if let Applied::Script(out) = &result
            && let Some(b) = out
                .stdout_str()
                .lines()
                .find_map(|l| l.strip_prefix("@@backup "))
        {
            planned.data.insert("backup_file".into(), json!(b.trim()));
        }
        super::protocol::default_applied(planned, result)
    }
}
