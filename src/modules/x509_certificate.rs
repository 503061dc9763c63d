//! x509_certificate (community.crypto), provider `selfsigned`: a certificate
//! signed by its own private key (`privatekey_path`), from a CSR
//! (`csr_path`) or with an empty subject, valid for `selfsigned_not_after`.
//!
//! On the module protocol: one probe reads, with `openssl` on the host, the
//! certificate's public key fingerprint, the private key's (its passphrase on
//! stdin: a secret probe), the certificate's and the CSR's subject and
//! subjectAltName, its digest, whether it is self-signed and whether it has
//! expired; nothing secret is printed. The certificate is regenerated when
//! any of those differ (or `force`); the change runs `openssl x509 -req
//! -signkey` (or `openssl req -x509 -new` without a CSR) into a temporary
//! file renamed over `path`. Other providers (ownca, acme, entrust) are not
//! implemented by opsctl: an error says so.

use serde_json::json;

use super::crypto;
use super::fail::{self, Fail};
use super::protocol::{Action, Ctx, Facts, Module, Need, Plan};
use super::{ArgSpec, Args, Diff, Kind, Outcome, Spec};
use crate::transport::shell_quote;

pub static X509_CERTIFICATE: Spec = Spec::new(
    "x509_certificate",
    crate::crypto_file_args!(
        ArgSpec::new("path", Kind::Str).required(),
        ArgSpec::new("state", Kind::Choice(&["present", "absent"])),
        ArgSpec::new(
            "provider",
            Kind::Choice(&["selfsigned", "ownca", "acme", "entrust"]),
        ),
        ArgSpec::new("privatekey_path", Kind::Str),
        ArgSpec::new("privatekey_passphrase", Kind::Str),
        ArgSpec::new("csr_path", Kind::Str),
        ArgSpec::new("selfsigned_digest", Kind::Str),
        ArgSpec::new("selfsigned_version", Kind::Int),
        ArgSpec::new("selfsigned_not_before", Kind::Str).aliases(&["selfsigned_notBefore"]),
        ArgSpec::new("selfsigned_not_after", Kind::Str).aliases(&["selfsigned_notAfter"]),
        ArgSpec::new("selfsigned_create_subject_key_identifier", Kind::Str),
        ArgSpec::new("ignore_timestamps", Kind::Bool),
    ),
);

#[derive(Debug, Clone)]
struct Want {
    path: String,
    present: bool,
    key: String,
    passphrase: Option<String>,
    csr: Option<String>,
    digest: String,
    days: i64,
    force: bool,
    backup: bool,
    mode: Option<u32>,
    chown: Option<String>,
}

/// `+3650d`, `+52w`, `+24h` (rounded up to days), as days.
fn days(spec: &str) -> Result<i64, Fail> {
    let s = spec.trim();
    let body = s.strip_prefix('+').ok_or_else(|| {
        Fail::Args(format!(
            "selfsigned_not_after: '{s}': opsctl takes a relative time (+3650d, +52w, +48h)"
        ))
    })?;
    let (num, unit) = body.split_at(
        body.find(|c: char| !c.is_ascii_digit())
            .unwrap_or(body.len()),
    );
    let n: i64 = num
        .parse()
        .map_err(|_| Fail::Args(format!("selfsigned_not_after: '{s}' is not +N[dwh]")))?;
    Ok(match unit {
        "d" | "" => n,
        "w" => n * 7,
        "h" => (n + 23) / 24,
        _ => return fail::bad_args(format!("selfsigned_not_after: '{s}' is not +N[dwh]")),
    }
    .max(1))
}

impl Want {
    fn new(args: &Args) -> Result<Want, Fail> {
        let provider = args
            .string("provider")
            .unwrap_or_else(|| "selfsigned".into());
        let present = args.str("state") != Some("absent");
        if present && provider != "selfsigned" {
            return fail::bad_args(format!(
                "provider {provider} is not implemented by opsctl (selfsigned is; for ACME use certbot)"
            ));
        }
        if args
            .string("selfsigned_not_before")
            .is_some_and(|b| b.trim() != "+0s" && b.trim() != "+0")
        {
            return fail::bad_args("selfsigned_not_before: opsctl starts certificates now (+0s)");
        }
        let key = args.string("privatekey_path").unwrap_or_default();
        if present && key.is_empty() {
            return fail::bad_args("provider selfsigned needs the argument 'privatekey_path'");
        }
        let digest = args
            .string("selfsigned_digest")
            .unwrap_or_else(|| "sha256".into());
        if !digest
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        {
            return fail::bad_args(format!(
                "selfsigned_digest: '{digest}' is not a digest name"
            ));
        }
        let mode = crypto::mode(args, 0o644, 0o022)?;
        let chown = crypto::chown(args)?;
        let passphrase = crypto::passphrase(args, "privatekey_passphrase")?;
        Ok(Want {
            path: args.string("path").unwrap_or_default(),
            present,
            key,
            passphrase,
            csr: args.string("csr_path").filter(|c| !c.is_empty()),
            digest,
            days: days(
                &args
                    .string("selfsigned_not_after")
                    .unwrap_or_else(|| "+3650d".into()),
            )?,
            force: args.bool_or("force", false),
            backup: args.bool_or("backup", false),
            mode,
            chown,
        })
    }

    fn passin(&self) -> &'static str {
        if self.passphrase.is_some() {
            "-passin stdin"
        } else {
            "-passin pass:"
        }
    }
}

fn probe(w: &Want) -> Need {
    let mut s = format!(
        "# opsctl x509_certificate: read\n\
         command -v openssl >/dev/null 2>&1 || {{ echo noopenssl=1; exit 0; }}\n\
         c={c}\nk={k}\n",
        c = shell_quote(&w.path),
        k = shell_quote(&w.key)
    );
    if !w.present {
        s.push_str("[ -e \"$c\" ] && echo exists=1 || echo exists=0\n");
        return Need::Probe(s);
    }
    s.push_str(&format!(
        "printf 'keypub='; openssl pkey -in \"$k\" {} -pubout -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1\n\
         [ -r \"$k\" ] || echo nokey=1\n",
        w.passin()
    ));
    if let Some(r) = &w.csr {
        s.push_str(&format!(
            "r={}\n[ -r \"$r\" ] || echo nocsr=1\n\
             echo \"csrsubject=$(openssl req -in \"$r\" -noout -subject -nameopt RFC2253 2>/dev/null | sed 's/^subject=//')\"\n\
             echo \"csrsan=$(openssl req -in \"$r\" -noout -text 2>/dev/null | grep -A1 'Subject Alternative Name' | tail -n 1 | tr -d ' ')\"\n",
            shell_quote(r)
        ));
    }
    s.push_str(
        "[ -e \"$c\" ] || { echo exists=0; exit 0; }\necho exists=1\n\
         stat --printf 'mode=%a\\nowner=%U\\ngroup=%G\\n' -- \"$c\"\n\
         printf 'certpub='; openssl x509 -in \"$c\" -noout -pubkey 2>/dev/null | openssl pkey -pubin -outform DER 2>/dev/null | sha256sum | cut -d' ' -f1\n\
         echo \"subject=$(openssl x509 -in \"$c\" -noout -subject -nameopt RFC2253 2>/dev/null | sed 's/^subject=//')\"\n\
         echo \"issuer=$(openssl x509 -in \"$c\" -noout -issuer -nameopt RFC2253 2>/dev/null | sed 's/^issuer=//')\"\n\
         echo \"san=$(openssl x509 -in \"$c\" -noout -text 2>/dev/null | grep -A1 'Subject Alternative Name' | tail -n 1 | tr -d ' ')\"\n\
         echo \"sigalg=$(openssl x509 -in \"$c\" -noout -text 2>/dev/null | grep -m1 'Signature Algorithm' | sed 's/.*: //')\"\n\
         openssl x509 -in \"$c\" -noout -checkend 0 >/dev/null 2>&1 && echo expired=0 || echo expired=1\n\
         echo \"notafter=$(openssl x509 -in \"$c\" -noout -enddate 2>/dev/null | sed 's/^notAfter=//')\"\n",
    );
    crypto::probe(s, w.passphrase.as_deref())
}

fn kv(out: &str) -> std::collections::HashMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim().to_string()))
        .collect()
}

pub struct X509Certificate;

impl Module for X509Certificate {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![probe(&Want::new(args)?)])
    }

    fn decide(&self, args: &Args, facts: &Facts, ctx: &Ctx) -> Result<Plan, Fail> {
        let w = Want::new(args)?;
        let need = probe(&w);
        let out = crypto::output(&need, facts)?;
        let f = kv(&out.stdout_str());
        let get = |k: &str| f.get(k).map(String::as_str).unwrap_or("");
        if get("noopenssl") == "1" {
            return fail::fail(
                "openssl is not installed on this host: install it first (apt: name=openssl)",
            );
        }
        let exists = get("exists") == "1";
        let mut res = Outcome::ok().with("filename", w.path.clone());
        let q = shell_quote(&w.path);
        if !w.present {
            if !exists {
                return Ok(Plan::Done(res));
            }
            res.changed = true;
            res.msg = Some(format!("{} removed", w.path));
            let script = format!("# opsctl x509_certificate: remove\nrm -f -- {q}\n");
            return Ok(Plan::change(
                res,
                Action::Script {
                    script,
                    stdin: None,
                },
            ));
        }
        if get("nokey") == "1" {
            return fail::fail(format!(
                "The private key {} cannot be read on this host",
                w.key
            ));
        }
        // an empty digest of nothing: the key did not load (wrong passphrase?)
        const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        if get("keypub") == EMPTY || get("keypub").is_empty() {
            return fail::fail(format!(
                "The private key {} cannot be loaded (is it encrypted? give privatekey_passphrase)",
                w.key
            ));
        }
        if get("nocsr") == "1" {
            return fail::fail(format!(
                "The CSR {} cannot be read on this host",
                w.csr.clone().unwrap_or_default()
            ));
        }
        let mut reasons = Vec::new();
        if !exists {
            reasons.push("absent".to_string());
        } else {
            if w.force {
                reasons.push("force".into());
            }
            if get("certpub") != get("keypub") {
                reasons.push("its public key is not the private key's".into());
            }
            if get("subject") != get("issuer") {
                reasons.push("it is not self-signed".into());
            }
            if w.csr.is_some() {
                if get("subject") != get("csrsubject") {
                    reasons.push(format!(
                        "subject {} is not the CSR's {}",
                        get("subject"),
                        get("csrsubject")
                    ));
                }
                if get("san") != get("csrsan") {
                    reasons.push("subjectAltName is not the CSR's".into());
                }
            }
            if !get("sigalg")
                .to_ascii_lowercase()
                .contains(&w.digest.to_ascii_lowercase().replace('-', ""))
                && !get("sigalg").eq_ignore_ascii_case("ED25519")
                && !get("sigalg").eq_ignore_ascii_case("ED448")
            {
                reasons.push(format!("digest {} is not {}", get("sigalg"), w.digest));
            }
            if get("expired") == "1" {
                reasons.push(format!("it expired ({})", get("notafter")));
            }
        }
        let generate = !reasons.is_empty();
        let mode_now = u32::from_str_radix(get("mode"), 8).ok();
        let mut attrs = Vec::new();
        if !generate {
            if let Some(m) = w.mode
                && mode_now != Some(m)
            {
                attrs.push(format!("chmod {m:o} -- \"$c\""));
            }
            if let Some(c) = &w.chown {
                let (o, g) = c.split_once(':').unwrap_or((c.as_str(), ""));
                if (!o.is_empty() && o != get("owner")) || (!g.is_empty() && g != get("group")) {
                    attrs.push(format!("chown {} -- \"$c\"", shell_quote(c)));
                }
            }
        }
        if !generate && attrs.is_empty() {
            return Ok(Plan::Done(res));
        }
        res.changed = true;
        let mut script = format!(
            "# opsctl x509_certificate: write\nset -u\nc={q}\nk={}\n",
            shell_quote(&w.key)
        );
        if generate {
            let sign = match &w.csr {
                Some(r) => format!(
                    "openssl x509 -req -in {} -signkey \"$k\" {} -days {} -{} -copy_extensions copy -out \"$t\" 2>&1 >/dev/null | grep -v -i 'pass' >&2",
                    shell_quote(r),
                    w.passin(),
                    w.days,
                    w.digest
                ),
                None => format!(
                    "openssl req -x509 -new -key \"$k\" {} -subj / -days {} -{} -out \"$t\" 2>&1 >/dev/null | grep -v -i 'pass' >&2",
                    w.passin(),
                    w.days,
                    w.digest
                ),
            };
            script.push_str(&format!(
                "t=$(mktemp \"$(dirname -- \"$c\")/.opsctl-cert.XXXXXX\") || exit 1\n{sign}\n\
                 [ -s \"$t\" ] || {{ rm -f \"$t\"; exit 1; }}\n"
            ));
            match w.mode {
                Some(m) => script.push_str(&format!("chmod {m:o} -- \"$t\"\n")),
                None => script.push_str("chmod 644 -- \"$t\"\n"),
            }
            if let Some(c) = &w.chown {
                script.push_str(&format!(
                    "chown {} -- \"$t\" || {{ rm -f \"$t\"; exit 1; }}\n",
                    shell_quote(c)
                ));
            }
            if w.backup && exists {
                script.push_str(&crypto::backup_line("c"));
            }
            script.push_str("mv -f -- \"$t\" \"$c\"\n");
            res.msg = Some(format!(
                "certificate {} generated ({})",
                w.path,
                reasons.join("; ")
            ));
        } else {
            res.msg = Some(format!("attributes of {} set", w.path));
        }
        for a in &attrs {
            script.push_str(a);
            script.push('\n');
        }
        if ctx.diff {
            let before = if exists {
                format!(
                    "subject: {}\nissuer: {}\nnot_after: {}\n",
                    get("subject"),
                    get("issuer"),
                    get("notafter")
                )
            } else {
                String::new()
            };
            let after = if generate {
                format!(
                    "subject: {}\nissuer: (self)\nvalid for: {} days\n",
                    w.csr.as_ref().map(|_| get("csrsubject")).unwrap_or(""),
                    w.days
                )
            } else {
                before.clone()
            };
            res.diffs.push(Diff::new(w.path.clone(), before, after));
        }
        res.data.insert("regenerated".into(), json!(generate));
        let stdin = w.passphrase.as_ref().map(|p| format!("{p}\n").into_bytes());
        Ok(Plan::change(res, Action::Script { script, stdin }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn relative_times() {
        assert_eq!(super::days("+3650d").unwrap(), 3650);
        assert_eq!(super::days("+2w").unwrap(), 14);
        assert_eq!(super::days("+25h").unwrap(), 2);
        assert!(super::days("20301231000000Z").is_err());
    }
}
