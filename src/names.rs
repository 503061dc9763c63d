//! Names: what a valid variable name is, and the one "did you mean" rule used
//! for every unknown name (keywords, modules, arguments, environments, hosts,
//! variables, filters, lookups).

/// A variable name (Python identifier, ASCII).
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// Levenshtein distance (the `strsim` crate, which clap's suggestions use too).
pub fn strsim(a: &str, b: &str) -> usize {
    strsim::levenshtein(a, b)
}

/// The candidate closest to `key` (case ignored) within a few edits: 1 for
/// names of up to 3 characters, 2 up to 7, 3 beyond; ties go to the first in
/// alphabetical order. With the distance.
pub fn nearest<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<(&'a str, usize)> {
    let max = match key.chars().count() {
        0..=3 => 1,
        4..=7 => 2,
        _ => 3,
    };
    let key = key.to_lowercase();
    candidates
        .into_iter()
        .map(|c| (c, strsim(&c.to_lowercase(), &key)))
        .filter(|(_, d)| *d <= max)
        .min_by_key(|(c, d)| (*d, *c))
}

/// Every candidate [`nearest`] would accept, closest first, at most `n`.
pub fn near<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
    n: usize,
) -> Vec<&'a str> {
    let mut all: Vec<(&str, usize)> = candidates
        .into_iter()
        .filter_map(|c| nearest(key, [c]))
        .collect();
    all.sort_by_key(|(c, d)| (*d, *c));
    all.into_iter().take(n).map(|(c, _)| c).collect()
}

/// Just the name of [`nearest`].
pub fn nearest_name<'a>(
    key: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    nearest(key, candidates).map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_rule_for_every_name() {
        assert_eq!(strsim("kitten", "sitting"), 3);
        assert_eq!(
            nearest_name("staigng", ["staging", "demo"]),
            Some("staging")
        );
        assert_eq!(nearest_name("Staging", ["staging"]), Some("staging"));
        assert_eq!(nearest_name("web", ["db", "web1"]), Some("web1"));
        assert_eq!(nearest_name("ab", ["xy"]), None);
        assert_eq!(
            nearest_name("lineinfle", ["lineinfile", "blockinfile"]),
            Some("lineinfile")
        );
        assert!(is_identifier("_a1") && !is_identifier("1a") && !is_identifier("a-b"));
    }
}
