//! Ansible host patterns (`ansible <pattern>`, `hosts:`, `--limit`), evaluated as
//! Ansible 2.19's `InventoryManager.get_hosts` does:
//!
//! * the pattern is split on `,` (or, without commas, on `:` outside `[...]`
//!   unless the whole pattern is one address such as `host:22` or `fe80::1`);
//! * plain terms are applied first, in order (union), then `&` terms
//!   (intersection), then `!` terms (exclusion); with no plain term, `all`;
//! * a term matches group names and host names: `*`, `?` and `[...]` as shell
//!   wildcards (whole name, case-sensitive), `~re` as a Python regex matched at the
//!   start of the name (`re.match`); a group matches with all its hosts;
//! * `term[i]`, `term[-1]`, `term[a:b]` (inclusive), `term[a:]` pick hosts.

use std::sync::LazyLock;

use regex::Regex;
use rustc_hash::FxHashSet;

use super::Inventory;
use super::range::parse_address;

/// A host pattern that cannot be evaluated (bad regex, subscript out of range).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid host pattern '{pattern}': {message}")]
pub struct PatternError {
    pub pattern: String,
    pub message: String,
}

static PATTERN_WITH_SUBSCRIPT: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"^(.+)\[(?:(-?[0-9]+)|([0-9]+)([:-])([0-9]*))\]$").unwrap());
static SPLIT_COLONS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?:[^\s:\[\]]|\[[^\]]*\])+").unwrap());

/// `split_host_pattern`: the terms of a pattern, with their `&`/`!` prefixes.
pub fn split_host_pattern(pattern: &str) -> Vec<String> {
    let parts: Vec<String> = if pattern.contains(',') {
        pattern.split(',').map(str::to_string).collect()
    } else if parse_address(pattern).is_some() {
        vec![pattern.to_string()]
    } else {
        SPLIT_COLONS
            .find_iter(pattern)
            .map(|m| m.as_str().to_string())
            .collect()
    };
    parts
        .into_iter()
        .map(|p| p.trim().to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// `order_patterns`: plain terms, then `&` terms, then `!` terms.
fn order_patterns(terms: Vec<String>) -> Vec<String> {
    let (mut regular, mut inter, mut excl) = (Vec::new(), Vec::new(), Vec::new());
    for t in terms {
        if t.starts_with('!') {
            excl.push(t);
        } else if t.starts_with('&') {
            inter.push(t);
        } else {
            regular.push(t);
        }
    }
    if regular.is_empty() {
        regular.push("all".to_string());
    }
    regular.into_iter().chain(inter).chain(excl).collect()
}

/// A compiled name matcher: a glob or a `~regex` (`None`: matches no name;
/// `Any`: a glob of only `*`, which matches every name without a regex).
enum Matcher {
    None,
    Any,
    Re(Regex),
}

impl Matcher {
    fn new(term: &str, whole: &str) -> Result<Matcher, PatternError> {
        let err = |message: String| PatternError {
            pattern: whole.to_string(),
            message,
        };
        match term.strip_prefix('~') {
            Some(re) => {
                let translated = python_regex(re).map_err(err)?;
                Regex::new(&format!("^(?:{translated})"))
                    .map(Matcher::Re)
                    .map_err(|e| {
                        err(format!(
                            "invalid regular expression {re:?}: {}",
                            first_line(&e.to_string())
                        ))
                    })
            }
            None if !term.is_empty() && term.bytes().all(|b| b == b'*') => Ok(Matcher::Any),
            None => match glob_regex(term) {
                Some(src) => Regex::new(&src).map(Matcher::Re).map_err(|e| {
                    err(format!(
                        "invalid wildcard {term:?}: {}",
                        first_line(&e.to_string())
                    ))
                }),
                None => Ok(Matcher::None),
            },
        }
    }

    fn is_match(&self, name: &str) -> bool {
        match self {
            Matcher::None => false,
            Matcher::Any => true,
            Matcher::Re(r) => r.is_match(name),
        }
    }
}

/// The `error: ...` line of a multi-line regex error.
fn first_line(s: &str) -> String {
    let line = s
        .lines()
        .find(|l| l.trim_start().starts_with("error:"))
        .or_else(|| s.lines().next());
    line.unwrap_or_default()
        .trim()
        .trim_start_matches("error:")
        .trim()
        .to_string()
}

/// Python `re` syntax that the `regex` crate reads differently or not at all.
fn python_regex(re: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = re.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                let Some(n) = chars.next() else {
                    return Err("bad escape (end of pattern)".into());
                };
                match n {
                    'Z' if !in_class => out.push_str(r"\z"),
                    '1'..='9' if !in_class => return Err("backreferences are not supported".into()),
                    _ => {
                        out.push('\\');
                        out.push(n);
                    }
                }
            }
            '[' if !in_class => {
                in_class = true;
                out.push(c);
                // A ']' right after '[' or '[^' is a literal in both syntaxes.
                if chars.peek() == Some(&'^') {
                    out.push(chars.next().unwrap_or('^'));
                }
                if chars.peek() == Some(&']') {
                    chars.next();
                    out.push_str(r"\]");
                }
            }
            '[' if in_class => out.push_str(r"\["),
            ']' if in_class => {
                in_class = false;
                out.push(c);
            }
            '(' if !in_class && chars.peek() == Some(&'?') => {
                let rest: String = chars.clone().take(3).collect();
                if rest.starts_with("?=")
                    || rest.starts_with("?!")
                    || rest.starts_with("?<=")
                    || rest.starts_with("?<!")
                {
                    return Err("look-around assertions are not supported".into());
                }
                if rest.starts_with("?P=") {
                    return Err("backreferences are not supported".into());
                }
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    Ok(out)
}

/// Python's `fnmatch.translate` as a `regex` crate pattern (whole-name match);
/// `None` for a pattern that can never match (an empty `[]` set).
pub(crate) fn glob_regex(pat: &str) -> Option<String> {
    let p: Vec<char> = pat.chars().collect();
    let n = p.len();
    let mut out = String::from("(?s)^");
    let mut i = 0;
    let mut last_star = false;
    while i < n {
        let c = p[i];
        i += 1;
        if c == '*' {
            if !last_star {
                out.push_str(".*");
            }
            last_star = true;
            continue;
        }
        last_star = false;
        match c {
            '?' => out.push('.'),
            '[' => {
                let mut j = i;
                if j < n && p[j] == '!' {
                    j += 1;
                }
                if j < n && p[j] == ']' {
                    j += 1;
                }
                while j < n && p[j] != ']' {
                    j += 1;
                }
                if j >= n {
                    out.push_str(r"\[");
                    continue;
                }
                let class = fnmatch_class(&p, i, j);
                i = j + 1;
                match class {
                    Some(c) => out.push_str(&c),
                    None => return None,
                }
            }
            _ => out.push_str(&regex::escape(&c.to_string())),
        }
    }
    out.push_str(r"\z");
    Some(out)
}

/// The `[...]` part of fnmatch.translate (p[i..j] is between the brackets).
fn fnmatch_class(p: &[char], i0: usize, j: usize) -> Option<String> {
    let stuff: Vec<char> = p[i0..j].to_vec();
    // Python builds a regex class body; we compute the same members.
    let neg = stuff.first() == Some(&'!');
    let mut items: Vec<(char, char)> = Vec::new();
    if !stuff.contains(&'-') {
        let body = if neg { &stuff[1..] } else { &stuff[..] };
        items.extend(body.iter().map(|&c| (c, c)));
    } else {
        // Chunks split at '-' (the first char after '[' or '[!' is never a range operator).
        let mut chunks: Vec<Vec<char>> = Vec::new();
        let mut i = i0;
        let mut k = if p[i0] == '!' { i0 + 2 } else { i0 + 1 };
        loop {
            let found = (k..j).find(|&x| x < p.len() && p[x] == '-');
            match found {
                Some(f) => {
                    chunks.push(p[i..f].to_vec());
                    i = f + 1;
                    k = f + 3;
                }
                None => break,
            }
        }
        let chunk = p[i.min(j)..j].to_vec();
        if !chunk.is_empty() {
            chunks.push(chunk);
        } else if let Some(last) = chunks.last_mut() {
            last.push('-');
        }
        // Remove empty ranges (b-a).
        let mut k = chunks.len();
        while k > 1 {
            k -= 1;
            let (prev_last, cur_first) =
                (chunks[k - 1].last().copied(), chunks[k].first().copied());
            if let (Some(a), Some(b)) = (prev_last, cur_first)
                && a > b
            {
                let mut merged = chunks[k - 1][..chunks[k - 1].len() - 1].to_vec();
                merged.extend_from_slice(&chunks[k][1..]);
                chunks[k - 1] = merged;
                chunks.remove(k);
            }
        }
        // Chunks are joined by range operators: last char of one to first of the next.
        let mut flat: Vec<(char, bool)> = Vec::new(); // (char, is_range_op)
        for (ci, ch) in chunks.iter().enumerate() {
            if ci > 0 {
                flat.push(('-', true));
            }
            flat.extend(ch.iter().map(|&c| (c, false)));
        }
        let start = if neg && flat.first() == Some(&('!', false)) {
            1
        } else {
            0
        };
        let mut x = start;
        while x < flat.len() {
            let c = flat[x].0;
            if flat.get(x + 1).is_some_and(|f| f.1)
                && let Some(&(d, _)) = flat.get(x + 2)
            {
                items.push((c, d));
                x += 3;
                continue;
            }
            items.push((c, c));
            x += 1;
        }
    }
    if items.is_empty() {
        return if neg { Some("(?:.)".to_string()) } else { None };
    }
    let mut cls = String::from("[");
    if neg {
        cls.push('^');
    }
    for (a, b) in items {
        if a == b {
            cls.push_str(&format!("\\x{{{:x}}}", a as u32));
        } else {
            cls.push_str(&format!("\\x{{{:x}}}-\\x{{{:x}}}", a as u32, b as u32));
        }
    }
    cls.push(']');
    Some(cls)
}

impl Inventory {
    /// The hosts matching an Ansible host pattern, deduplicated, in Ansible's
    /// order. A pattern matching nothing gives an empty list.
    pub fn select(&self, pattern: &str) -> Result<Vec<String>, PatternError> {
        Ok(self
            .select_names(pattern)?
            .into_iter()
            .map(str::to_string)
            .collect())
    }

    /// [`Inventory::select`], borrowing the names from the inventory.
    pub fn select_names(&self, pattern: &str) -> Result<Vec<&str>, PatternError> {
        let terms = order_patterns(split_host_pattern(pattern));
        let mut hosts: Vec<&str> = Vec::new();
        for t in &terms {
            if self.hosts.contains_key(t.as_str()) {
                hosts.push(
                    self.hosts
                        .get_key_value(t.as_str())
                        .map(|(k, _)| k.as_str())
                        .unwrap_or_default(),
                );
                continue;
            }
            let that = self.match_one(t, pattern)?;
            if t.starts_with('!') {
                let set: FxHashSet<&str> = that.into_iter().collect();
                hosts.retain(|h| !set.contains(h));
            } else if t.starts_with('&') {
                let set: FxHashSet<&str> = that.into_iter().collect();
                hosts.retain(|h| set.contains(h));
            } else {
                hosts.extend(that);
            }
        }
        let mut seen = FxHashSet::default();
        hosts.retain(|h| seen.insert(*h));
        Ok(hosts)
    }

    fn match_one(&self, term: &str, whole: &str) -> Result<Vec<&str>, PatternError> {
        let term = term.strip_prefix(['&', '!']).unwrap_or(term);
        if term.is_empty() {
            return Ok(Vec::new());
        }
        let (expr, subscript) = split_subscript(term);
        let hosts = self.enumerate_matches(expr, whole, subscript.is_none())?;
        apply_subscript(hosts, subscript).ok_or_else(|| PatternError {
            pattern: whole.to_string(),
            message: format!(
                "no hosts matched the subscripted pattern '{term}' (index out of range)"
            ),
        })
    }

    /// Ansible's `_enumerate_matches`: the hosts of every matching group, in
    /// groups order, then (for a special pattern or no group) matching hosts.
    /// With `dedup`, a group below an already listed one is skipped: its hosts
    /// are all listed already, so only duplicates are left out (callers that
    /// deduplicate see the same list; `*` over 10,000 chained groups stays
    /// linear instead of listing each group's descendants again).
    fn enumerate_matches(
        &self,
        pattern: &str,
        whole: &str,
        dedup: bool,
    ) -> Result<Vec<&str>, PatternError> {
        let m = Matcher::new(pattern, whole)?;
        let mut results: Vec<&str> = Vec::new();
        let groups: Vec<(usize, &str)> = self
            .groups
            .keys()
            .map(String::as_str)
            .enumerate()
            .filter(|(_, g)| m.is_match(g))
            .collect();
        let mut covered = vec![false; if dedup { self.groups.len() } else { 0 }];
        for &(i, g) in &groups {
            if dedup {
                if covered[i] {
                    continue;
                }
                self.mark_descendants(i, &mut covered);
            }
            results.extend(self.group_hosts(g));
        }
        let special = pattern.starts_with('~') || pattern.contains(['.', '?', '*', '[']);
        if groups.is_empty() || special {
            results.extend(
                self.hosts
                    .keys()
                    .map(String::as_str)
                    .filter(|h| m.is_match(h)),
            );
        }
        Ok(results)
    }
}

impl Inventory {
    /// Marks group `g` and every group below it in `covered` (indices into
    /// `groups`); groups already marked are not walked again.
    fn mark_descendants(&self, g: usize, covered: &mut [bool]) {
        let mut stack = vec![g];
        while let Some(i) = stack.pop() {
            if covered[i] {
                continue;
            }
            covered[i] = true;
            if let Some((_, group)) = self.groups.get_index(i) {
                stack.extend(
                    group
                        .children
                        .iter()
                        .filter_map(|c| self.groups.get_index_of(c.as_str())),
                );
            }
        }
    }
}

/// `(start, end)`: `end == None` for a single index.
type Subscript = (i64, Option<i64>);

fn split_subscript(term: &str) -> (&str, Option<Subscript>) {
    if term.starts_with('~') {
        return (term, None);
    }
    let Some(c) = PATTERN_WITH_SUBSCRIPT.captures(term) else {
        return (term, None);
    };
    let expr = c.get(1).map(|m| m.as_str()).unwrap_or(term);
    let num = |s: &str| {
        s.parse::<i64>().unwrap_or(if s.starts_with('-') {
            i64::MIN
        } else {
            i64::MAX
        })
    };
    let sub = match c.get(2) {
        Some(idx) => (num(idx.as_str()), None),
        None => {
            let start = num(&c[3]);
            let end = if c[5].is_empty() { -1 } else { num(&c[5]) };
            (start, Some(end))
        }
    };
    (expr, Some(sub))
}

/// `_apply_subscript`; `None` when a single index is out of range (IndexError).
fn apply_subscript(hosts: Vec<&str>, sub: Option<Subscript>) -> Option<Vec<&str>> {
    let Some((start, end)) = sub else {
        return Some(hosts);
    };
    if hosts.is_empty() {
        return Some(hosts);
    }
    let len = hosts.len() as i64;
    match end {
        // `[a:0]` has a falsy end in Python and is read as the single index `a`.
        Some(e) if e != 0 => {
            let e = if e == -1 { len - 1 } else { e };
            let s = start.clamp(0, len) as usize;
            let stop = e.saturating_add(1).clamp(0, len) as usize;
            Some(if s < stop {
                hosts[s..stop].to_vec()
            } else {
                Vec::new()
            })
        }
        _ => {
            let i = if start < 0 {
                start.checked_add(len)?
            } else {
                start
            };
            if (0..len).contains(&i) {
                Some(vec![hosts[i as usize]])
            } else {
                None
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    /// Skipping the groups below an already listed one (no subscript) gives
    /// the same deduplicated hosts, in the same order, as listing them all.
    #[test]
    fn covered_groups_are_skipped_without_changing_the_result() {
        let inv = crate::inventory::parse_ini(
            "[a]\nh1\n[b]\nh2\nh1\n[c]\nh3\n[d]\nh4\nh2\n[a:children]\nb\nc\n\
             [b:children]\nd\n[c:children]\nd\n[e]\nh5\nh3\n[e:children]\nc\n",
            std::path::Path::new("hosts"),
        )
        .unwrap();
        let dedup = |v: Vec<&str>| {
            let mut seen = HashSet::new();
            v.into_iter()
                .filter(|h| seen.insert(h.to_string()))
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        for p in ["*", "all", "b*", "[a-e]", "[c-e]", "~[bcd]", "d", "e"] {
            let skipped = inv.enumerate_matches(p, p, true).unwrap();
            let listed = inv.enumerate_matches(p, p, false).unwrap();
            assert!(skipped.len() <= listed.len(), "{p}");
            assert_eq!(dedup(skipped), dedup(listed), "{p}");
        }
        assert_eq!(inv.select("*").unwrap(), ["h1", "h5", "h3", "h2", "h4"]);
        assert_eq!(inv.select("*").unwrap(), inv.group_hosts("all"));
        // 2,000 chained groups: every host once
        let mut chain = String::new();
        for i in 1..=2000 {
            chain.push_str(&format!("[g{i}]\nh{i}\n"));
            if i < 2000 {
                chain.push_str(&format!("[g{i}:children]\ng{}\n", i + 1));
            }
        }
        let inv = crate::inventory::parse_ini(&chain, std::path::Path::new("hosts")).unwrap();
        let hosts = inv.select("*").unwrap();
        assert_eq!(hosts.len(), 2000);
        assert_eq!(hosts[1999], "h2000");
    }

    #[test]
    fn splitting() {
        assert_eq!(
            split_host_pattern("web:&prod:!web1"),
            ["web", "&prod", "!web1"]
        );
        assert_eq!(split_host_pattern("a, b ,c"), ["a", "b", "c"]);
        assert_eq!(split_host_pattern("web[1:3]"), ["web[1:3]"]);
        assert_eq!(split_host_pattern("web[0]:db"), ["web[0]", "db"]);
        assert_eq!(split_host_pattern("host:22"), ["host:22"]);
        assert_eq!(split_host_pattern("fe80::1"), ["fe80::1"]);
        assert_eq!(split_host_pattern("a b"), ["a", "b"]);
        assert_eq!(split_host_pattern("~["), ["~"]);
    }

    fn glob(p: &str, name: &str) -> bool {
        glob_regex(p).is_some_and(|r| Regex::new(&r).unwrap().is_match(name))
    }

    #[test]
    fn globs_like_fnmatch() {
        assert!(glob("web*", "web1"));
        assert!(glob("*", ""));
        assert!(!glob("web*", "aweb1"));
        assert!(glob("w?b1", "web1"));
        assert!(glob("w[a-c]*", "wb.x"));
        assert!(!glob("w[!a-c]*", "wb.x"));
        assert!(glob("w[!a-c]*", "wd"));
        assert!(glob("[]]", "]"));
        assert!(glob("[!]]", "a"));
        assert!(glob("a[", "a["));
        assert!(glob("a.b", "a.b"));
        assert!(!glob("a.b", "axb"));
        assert!(glob("[a-]", "-"));
        assert!(glob("[-a]", "-"));
        assert!(!glob("[z-a]", "m"));
        assert!(!glob("Web1", "web1"));
    }

    #[test]
    fn python_regexes() {
        assert!(python_regex("(?=x)").is_err());
        assert!(python_regex(r"(a)\1").is_err());
        assert_eq!(python_regex(r"web\Z").unwrap(), r"web\z");
        assert_eq!(python_regex(r"[]a]").unwrap(), r"[\]a]");
    }
}
