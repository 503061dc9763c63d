//! File content as the modules handle it: checksums (sha256, sha1), base64
//! for the wire, and the text shown for it in a diff ([`DIFF_CAP`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Contents larger than this are not shown in diffs.
pub const DIFF_CAP: u64 = 1 << 20;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn sha256_hex(data: &[u8]) -> String {
    hex(&Sha256::digest(data))
}

pub fn sha1_hex(data: &[u8]) -> String {
    hex(&Sha1::digest(data))
}

pub fn b64(data: &[u8]) -> String {
    B64.encode(data)
}

/// Text of a file for a diff: placeholders for large or binary content.
pub fn diff_text(content: &[u8], truncated: bool) -> String {
    if truncated || content.len() as u64 > DIFF_CAP {
        return "(file too large to diff)\n".into();
    }
    match std::str::from_utf8(content) {
        Ok(s) if !s.contains('\0') => s.to_string(),
        _ => "(binary file)\n".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksums() {
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(sha1_hex(b"abc"), "a9993e364706816aba3e25717850c26c9cd0d89d");
    }
}
