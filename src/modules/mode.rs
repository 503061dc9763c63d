//! Mode arithmetic: [`ModeSpec`] (octal or symbolic `u=rw,g=r`, `a+X`),
//! resolved against the current mode exactly as Ansible does, and the modes
//! of new files and directories under a umask.

use serde_json::Value as Json;

const PERM_BITS: u32 = 0o7777;
const S_IRWXU: u32 = 0o700;
const S_IRWXG: u32 = 0o070;
const S_IRWXO: u32 = 0o007;
const EXEC_BITS: u32 = 0o111;

/// A requested mode: octal, or symbolic clauses (`u=rw,g=r,o=r`, `u+x,go-w`,
/// `a+X`) applied to the current mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModeSpec {
    Octal(u32),
    Symbolic(String),
}

impl ModeSpec {
    /// From a `mode:` argument: an integer is the mode itself (YAML `0644` is
    /// read as octal, like Ansible), a string of octal digits is octal
    /// (`"0644"`, `"644"`), anything else must be symbolic.
    pub fn from_json(v: &Json) -> Result<ModeSpec, String> {
        match v {
            Json::Number(n) => match n.as_u64() {
                Some(m) if m <= PERM_BITS as u64 => Ok(ModeSpec::Octal(m as u32)),
                _ => Err(format!(
                    "mode {n} is not a valid file mode (write it as a quoted octal string such as '0644')"
                )),
            },
            Json::String(s) => ModeSpec::parse(s),
            other => Err(format!(
                "mode must be a string such as '0644' or 'u=rw,g=r,o=r', got {other}"
            )),
        }
    }

    pub fn parse(s: &str) -> Result<ModeSpec, String> {
        let s = s.trim();
        if !s.is_empty() && s.chars().all(|c| c.is_digit(8)) {
            let m = u32::from_str_radix(s, 8).map_err(|_| format!("bad mode '{s}'"))?;
            if m > PERM_BITS {
                return Err(format!("mode '{s}' is out of range (at most 07777)"));
            }
            return Ok(ModeSpec::Octal(m));
        }
        // Validate the symbolic syntax now, with any current mode.
        symbolic_mode(s, 0o644, false, 0o022)?;
        Ok(ModeSpec::Symbolic(s.to_string()))
    }

    /// The resulting permission bits for a path whose mode is `current`.
    pub fn resolve(&self, current: u32, is_dir: bool, umask: u32) -> Result<u32, String> {
        match self {
            ModeSpec::Octal(m) => Ok(*m),
            ModeSpec::Symbolic(s) => symbolic_mode(s, current, is_dir, umask),
        }
    }
}

/// Ansible's `_symbolic_mode_to_octal`: clauses are applied in order, each to
/// the mode left by the previous one; an empty "who" means all, minus the umask.
pub fn symbolic_mode(spec: &str, current: u32, is_dir: bool, umask: u32) -> Result<u32, String> {
    let bad = |c: &str| format!("bad symbolic permission for mode: {c}");
    let mut mode = current & PERM_BITS;
    for clause in spec.split(',') {
        let op_at = clause.find(['+', '-', '=']).ok_or_else(|| bad(clause))?;
        let who = &clause[..op_at];
        let use_umask = who.is_empty();
        let mut users = String::new();
        for c in who.chars() {
            match c {
                'a' => users.push_str("ugo"),
                'u' | 'g' | 'o' => users.push(c),
                _ => return Err(bad(clause)),
            }
        }
        if users.is_empty() {
            users.push_str("ugo");
        }
        // (operator, permissions) pairs: `u+x-w` is two.
        let rest = &clause[op_at..];
        let mut actions: Vec<(char, String)> = Vec::new();
        for c in rest.chars() {
            if matches!(c, '+' | '-' | '=') {
                actions.push((c, String::new()));
            } else if "rwxXstugo".contains(c) {
                actions.last_mut().ok_or_else(|| bad(clause))?.1.push(c);
            } else {
                return Err(bad(clause));
            }
        }
        for (op, perms) in &actions {
            for user in users.chars() {
                let apply = perms_to_bits(user, perms, mode, is_dir, use_umask, umask);
                mode = apply_op(user, *op, apply, mode);
            }
        }
    }
    Ok(mode)
}

fn perms_to_bits(
    user: char,
    perms: &str,
    prev: u32,
    is_dir: bool,
    use_umask: bool,
    umask: u32,
) -> u32 {
    let rev_umask = !umask & PERM_BITS;
    let masked = |bit: u32| if use_umask { rev_umask & bit } else { bit };
    let apply_x = is_dir || prev & EXEC_BITS != 0;
    let mut out = 0;
    for p in perms.chars() {
        out |= match (user, p) {
            ('u', 'r') => masked(0o400),
            ('u', 'w') => masked(0o200),
            ('u', 'x') => masked(0o100),
            ('u', 'X') if apply_x => 0o100,
            ('u', 's') => 0o4000,
            ('u', 'u') => prev & S_IRWXU,
            ('u', 'g') => (prev & S_IRWXG) << 3,
            ('u', 'o') => (prev & S_IRWXO) << 6,
            ('g', 'r') => masked(0o040),
            ('g', 'w') => masked(0o020),
            ('g', 'x') => masked(0o010),
            ('g', 'X') if apply_x => 0o010,
            ('g', 's') => 0o2000,
            ('g', 'u') => (prev & S_IRWXU) >> 3,
            ('g', 'g') => prev & S_IRWXG,
            ('g', 'o') => (prev & S_IRWXO) << 3,
            ('o', 'r') => masked(0o004),
            ('o', 'w') => masked(0o002),
            ('o', 'x') => masked(0o001),
            ('o', 'X') if apply_x => 0o001,
            ('o', 't') => 0o1000,
            ('o', 'u') => (prev & S_IRWXU) >> 6,
            ('o', 'g') => (prev & S_IRWXG) >> 3,
            ('o', 'o') => prev & S_IRWXO,
            _ => 0,
        };
    }
    out
}

fn apply_op(user: char, op: char, bits: u32, current: u32) -> u32 {
    match op {
        '=' => {
            let mask = match user {
                'u' => S_IRWXU | 0o4000,
                'g' => S_IRWXG | 0o2000,
                _ => S_IRWXO | 0o1000,
            };
            (current & (mask ^ PERM_BITS)) | bits
        }
        '+' => current | bits,
        _ => current & !bits,
    }
}

/// `0644` as Ansible registers modes.
pub fn mode_str(mode: u32) -> String {
    format!("{mode:04o}")
}

/// The mode a new file gets (`0666 & ~umask`), or a new directory (`0777 & ~umask`).
pub fn default_mode(is_dir: bool, umask: u32) -> u32 {
    (if is_dir { 0o777 } else { 0o666 }) & !umask & PERM_BITS
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn octal_modes() {
        assert_eq!(
            ModeSpec::from_json(&json!(420)).unwrap(),
            ModeSpec::Octal(0o644)
        );
        assert_eq!(
            ModeSpec::from_json(&json!("0644")).unwrap(),
            ModeSpec::Octal(0o644)
        );
        assert_eq!(
            ModeSpec::from_json(&json!("644")).unwrap(),
            ModeSpec::Octal(0o644)
        );
        assert_eq!(
            ModeSpec::from_json(&json!("01777")).unwrap(),
            ModeSpec::Octal(0o1777)
        );
        assert!(ModeSpec::from_json(&json!("0999")).is_err());
        assert!(ModeSpec::from_json(&json!(99999)).is_err());
        assert!(ModeSpec::from_json(&json!("u=rw;g=r")).is_err());
        assert_eq!(mode_str(0o644), "0644");
        assert_eq!(mode_str(0o4755), "4755");
    }

    fn sym(s: &str, cur: u32, dir: bool) -> u32 {
        symbolic_mode(s, cur, dir, 0o022).unwrap()
    }

    #[test]
    fn symbolic_modes_like_ansible() {
        assert_eq!(sym("u=rw,g=r,o=r", 0o777, false), 0o644);
        assert_eq!(sym("u+x,go-w", 0o666, false), 0o744);
        assert_eq!(sym("a+x", 0o644, false), 0o755);
        assert_eq!(sym("go=", 0o755, false), 0o700);
        assert_eq!(sym("u=rwx,g=rx,o=", 0o000, false), 0o750);
        assert_eq!(sym("o+t", 0o777, true), 0o1777);
        assert_eq!(sym("u+s,g+s", 0o755, false), 0o6755);
        assert_eq!(sym("u=rw", 0o4755, false), 0o655, "= clears setuid");
        assert_eq!(sym("g=u", 0o740, false), 0o770);
        assert_eq!(sym("o=g", 0o750, false), 0o755);
        assert_eq!(
            sym("u+x-w", 0o644, false),
            0o544,
            "several operators in one clause"
        );
        // no "who": all, minus the umask (022)
        assert_eq!(sym("+w", 0o444, false), 0o644);
        assert_eq!(sym("=rw", 0o777, false), 0o644);
    }

    #[test]
    fn capital_x() {
        // X: x only for directories or when someone already has x
        assert_eq!(sym("a+X", 0o644, false), 0o644);
        assert_eq!(sym("a+X", 0o744, false), 0o755);
        assert_eq!(sym("a+X", 0o644, true), 0o755);
        assert_eq!(sym("u=rwX,g=rX,o=rX", 0o600, true), 0o755);
        assert_eq!(sym("u=rwX,g=rX,o=rX", 0o600, false), 0o644);
        assert_eq!(sym("go-X", 0o755, true), 0o744);
        // the check uses the mode left by the previous clause
        assert_eq!(sym("u+x,g+X", 0o644, false), 0o754);
    }

    #[test]
    fn symbolic_errors() {
        for bad in ["rw", "u=q", "z+x", "u+x,", "=,"] {
            assert!(symbolic_mode(bad, 0o644, false, 0o022).is_err(), "{bad}");
        }
        assert!(ModeSpec::parse("u+rwX,go-w").is_ok());
    }
}
