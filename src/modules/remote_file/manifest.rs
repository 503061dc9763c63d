//! The manifest the interpreter reads on stdin: one line per [`Op`] (the op,
//! 8 fields, the path; strings base64), the content of writes right after
//! their line.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::{ContentReq, Op, Source};
use crate::modules::content::sha256_hex;

pub(super) fn enc(s: &str) -> String {
    B64.encode(s.as_bytes())
}

/// A mode for chmod: five octal digits, because GNU chmod keeps a directory's
/// setuid/setgid bits for shorter numeric modes ("00755" clears them).
fn chmod_mode(m: u32) -> String {
    format!("0{m:04o}")
}

fn opt_mode(m: Option<u32>) -> String {
    m.map(chmod_mode).unwrap_or_else(|| "-".into())
}

/// A path as the last field of a manifest line: raw when `read` keeps it
/// intact, else base64.
pub(super) fn path_field(p: &str) -> String {
    let safe = !p.is_empty()
        && !p.starts_with("b64:")
        && !p.contains(['\n', '\r'])
        && !p.starts_with([' ', '\t'])
        && !p.ends_with([' ', '\t', '\\']);
    if safe {
        p.to_string()
    } else {
        format!("b64:{}", enc(p))
    }
}

/// How much content to read: `-`, `all`, or one byte more than the cap (to
/// know it was truncated).
fn content_field(c: ContentReq) -> String {
    match c {
        ContentReq::None => "-".into(),
        ContentReq::Capped(n) => (n + 1).to_string(),
        ContentReq::Whole => "all".into(),
    }
}

fn bit(b: bool) -> String {
    if b { "1" } else { "0" }.into()
}

/// The manifest for these ops: lines (the op, 8 fields, the path), and the
/// content of writes right after their line.
pub fn manifest(ops: &[Op]) -> Vec<u8> {
    fn line(out: &mut Vec<u8>, op: &str, fields: &[String], path: &str) {
        let mut l = op.to_string();
        for i in 0..8 {
            l.push(' ');
            l.push_str(fields.get(i).map(String::as_str).unwrap_or("-"));
        }
        l.push(' ');
        l.push_str(&path_field(path));
        out.extend_from_slice(l.as_bytes());
        out.push(b'\n');
    }
    let none = || "-".to_string();
    let mut out = Vec::new();
    for (i, op) in ops.iter().enumerate() {
        match op {
            Op::Probe(r) => {
                let sums = if r.sums.is_empty() {
                    none()
                } else {
                    r.sums.join(",")
                };
                let content = content_field(r.content);
                line(&mut out, "P", &[bit(r.follow), sums, content], &r.path);
            }
            Op::List(p) => line(&mut out, "F", &[], p),
            Op::Batch { reqs, follow } => {
                // the next batch reads this one's stat and checksums too
                let more = matches!(ops.get(i + 1), Some(Op::Batch { .. }));
                let fields = [bit(*follow), reqs.len().to_string(), bit(more)];
                line(&mut out, "B", &fields, "-");
                for r in reqs {
                    let l = format!(
                        "{} {} {}\n",
                        bit(r.sums.iter().any(|s| s == "sha256")),
                        content_field(r.content),
                        path_field(&r.path)
                    );
                    out.extend_from_slice(l.as_bytes());
                }
            }
            Op::Epoch(ts) => line(&mut out, "E", std::slice::from_ref(ts), "-"),
            Op::Write {
                path,
                source,
                mode,
                own,
                backup,
                validate,
            } => {
                let pre = own
                    .preserve
                    .map(|(u, g)| format!("{u}:{g}"))
                    .unwrap_or_else(none);
                let set = own.set.as_deref().map(enc).unwrap_or_else(none);
                match source {
                    Source::Bytes(data) => {
                        let f = [
                            data.len().to_string(),
                            sha256_hex(data),
                            chmod_mode(*mode),
                            pre,
                            set,
                            bit(*backup),
                            bit(*validate),
                        ];
                        line(&mut out, "W", &f, path);
                        out.extend_from_slice(data);
                    }
                    Source::Remote { path: src, sha256 } => {
                        let f = [
                            enc(src),
                            sha256.clone().unwrap_or_else(none),
                            chmod_mode(*mode),
                            pre,
                            set,
                            bit(*backup),
                            bit(*validate),
                        ];
                        line(&mut out, "R", &f, path);
                    }
                }
            }
            Op::Mkdir { path, mode, own } => line(
                &mut out,
                "D",
                &[
                    opt_mode(*mode),
                    own.as_deref().map(enc).unwrap_or_else(none),
                ],
                path,
            ),
            Op::Chmod { path, mode } => line(&mut out, "M", &[chmod_mode(*mode)], path),
            Op::Chown {
                path,
                spec,
                nofollow,
            } => line(
                &mut out,
                if *nofollow { "H" } else { "C" },
                &[enc(spec)],
                path,
            ),
            Op::Symlink { path, target } => line(&mut out, "S", &[enc(target)], path),
            Op::Hardlink { path, target } => line(&mut out, "L", &[enc(target)], path),
            Op::Remove(p) => line(&mut out, "X", &[], p),
            Op::Touch {
                path,
                atime,
                mtime,
                create,
            } => line(
                &mut out,
                "T",
                &[
                    atime.clone().unwrap_or_else(none),
                    mtime.clone().unwrap_or_else(none),
                    bit(*create),
                ],
                path,
            ),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::{Own, Req};
    use super::*;

    #[test]
    fn manifest_layout() {
        let m = manifest(&[
            Op::Probe(
                Req::new("/a b")
                    .follow(true)
                    .content(ContentReq::Capped(10)),
            ),
            Op::Write {
                path: "/a".into(),
                source: Source::Bytes(b"hi".to_vec()),
                mode: 0o640,
                own: Own::default(),
                backup: false,
                validate: true,
            },
            Op::Chmod {
                path: " odd\n".into(),
                mode: 0o600,
            },
        ]);
        let text = String::from_utf8(m).unwrap();
        let lines: Vec<&str> = text.split('\n').collect();
        assert_eq!(lines[0], "P 1 sha256 11 - - - - - /a b");
        assert_eq!(
            lines[1],
            format!("W 2 {} 00640 - - 0 1 - /a", sha256_hex(b"hi"))
        );
        assert_eq!(
            lines[2],
            format!("hiM 00600 - - - - - - - b64:{}", enc(" odd\n")),
            "content follows its line"
        );
    }
}
