//! What the system-configuration modules (sysctl, hostname, timezone,
//! locale_gen, pam_limits, modprobe, known_hosts...) share: the text file
//! they read (links followed, whole content, no checksum), a shell snippet
//! that replaces a file with the script's stdin atomically, and the
//! `key=base64` lines their probes print.

use std::collections::BTreeMap;

use super::Outcome;
use super::fail::{self, Fail};
use super::net::{kv, unb64s};
use super::protocol::{Action, Applied, Plan, script_failure};
use super::remote_file::{ContentReq, FType, Req, Stat};
use crate::transport::shell_quote;

/// The plan of a change made by a script (with what it reads on stdin).
pub fn script_plan(o: Outcome, script: String, stdin: Option<Vec<u8>>) -> Plan {
    Plan::change(o, Action::Script { script, stdin })
}

/// The outcome of such a script: the plan's when it succeeded, else a
/// failure saying `what(rc)` failed, with what the host said.
pub fn script_applied(
    planned: Outcome,
    result: Applied,
    what: impl Fn(Option<i32>) -> String,
) -> Result<Outcome, Fail> {
    match result {
        Applied::Script(out) if !out.success() => {
            fail::fail(format!("{}: {}", what(out.rc), script_failure(&out)))
        }
        _ => Ok(planned),
    }
}

/// A configuration file read whole (links followed, no checksum).
pub fn text_req(path: &str) -> Req {
    let mut r = Req::new(path).follow(true).content(ContentReq::Whole);
    r.sums.clear();
    r
}

/// The text of a probed file (`""` when absent or not a regular file).
pub fn text_of(st: &Stat) -> String {
    match st.kind {
        FType::File => {
            String::from_utf8_lossy(st.content.as_deref().unwrap_or_default()).into_owned()
        }
        _ => String::new(),
    }
}

/// The plan for a text file (probed whole) to hold `new`: unchanged, or written
/// atomically (`backup` first), with `--diff`'s before and after (`key` names
/// the path in the result).
pub fn text_file_plan(
    st: &Stat,
    host: &super::remote_file::HostInfo,
    new: &str,
    backup: bool,
    diff: bool,
) -> Result<Plan, Fail> {
    use super::regular_file::{FileWant, decide_file, file_plan};
    let want = FileWant {
        content: Some(new.as_bytes()),
        backup,
        diff,
        ..Default::default()
    };
    let d = decide_file(st, host, &want).map_err(Fail::Task)?;
    Ok(file_plan(st, &d, None, "dest", Some(new.len() as u64)))
}

/// Shell lines replacing `path` with the script's stdin, atomically: a
/// temporary file beside it, the old file's mode and owner kept (`mode` for a
/// new file), renamed over it. Directories are created when `mkdir`.
pub fn write_stdin(path: &str, mode: u32, mkdir: bool) -> String {
    let mut s = format!("f={}\n", shell_quote(path));
    if mkdir {
        s.push_str("mkdir -p -- \"$(dirname -- \"$f\")\" || exit 1\n");
    }
    s.push_str(&format!(
        "t=$(mktemp \"$f.XXXXXX\") || exit 1\n\
         if ! cat > \"$t\"; then rm -f -- \"$t\"; exit 1; fi\n\
         if [ -e \"$f\" ]; then chmod --reference=\"$f\" \"$t\" && chown --reference=\"$f\" \"$t\" 2>/dev/null; else chmod {mode:04o} \"$t\"; fi\n\
         mv -f -- \"$t\" \"$f\" || {{ rm -f -- \"$t\"; exit 1; }}\n"
    ));
    s
}

/// Shell lines replacing `path` with `content` (carried in the script as
/// base64: for configuration that is no secret), atomically as [`write_stdin`].
pub fn write_bytes(path: &str, content: &[u8], mode: u32) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(content);
    write_stdin(path, mode, true).replace(
        "if ! cat > \"$t\"",
        &format!("if ! printf '%s' '{b64}' | base64 -d > \"$t\""),
    )
}

/// A probe's `key=value` lines, values base64-decoded for the keys in `b64`.
pub fn probe_fields(out: &[u8], b64: &[&str]) -> BTreeMap<String, String> {
    let mut m = kv(out);
    for k in b64 {
        if let Some(v) = m.get_mut(*k) {
            *v = unb64s(v);
        }
    }
    m
}

/// `printf 'KEY=%s\n' "$(CMD | base64 -w0)"`: a command's output as one probe field.
pub fn b64_field(key: &str, cmd: &str) -> String {
    format!("printf '{key}=%s\\n' \"$( ( {cmd} ) 2>/dev/null | base64 -w0)\"\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_decode_base64() {
        let m = probe_fields(b"rc=0\nvalue=MQo=\n", &["value"]);
        assert_eq!(m["rc"], "0");
        assert_eq!(m["value"], "1\n");
        assert!(b64_field("v", "echo 1").contains("base64 -w0"));
        assert!(write_stdin("/etc/x y", 0o644, false).contains("f='/etc/x y'"));
    }
}
