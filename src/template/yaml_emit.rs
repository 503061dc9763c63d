//! `to_yaml` / `to_nice_yaml`: a port of PyYAML's `SafeRepresenter` + `Emitter`
//! (the subset needed for plain data), so the output matches Ansible's byte for
//! byte: sorted keys, flow style for leaf collections in `to_yaml`, PyYAML's
//! quoting rules (`'yes'`, `'0644'`, `': x'`), 80-column folding of long
//! scalars and indentless sequences under mapping keys.
//!
//! Ansible uses libyaml's C emitter when available (CSafeDumper); it differs
//! from PyYAML's pure-Python emitter only in not writing `...` after a bare
//! root scalar, which is what we do.

use std::sync::LazyLock;

use minijinja::value::{Value, ValueKind};
use minijinja::{Error, ErrorKind};
use regex::Regex;

use super::pyfmt::{float_repr, map_entries, sorted_entries};

#[derive(Debug)]
enum Node {
    /// `plain_implicit`: the text resolves back to the node's type when plain
    /// (PyYAML's `implicit[0]`); false for strings like `'yes'` or `'123'`.
    Scalar {
        value: String,
        plain_implicit: bool,
    },
    Seq {
        items: Vec<Node>,
        flow: bool,
    },
    Map {
        entries: Vec<(Node, Node)>,
        flow: bool,
    },
}

/// Options of `yaml.dump` that the filters expose.
#[derive(Debug, Clone)]
pub(crate) struct YamlOpts {
    pub indent: usize,
    pub width: usize,
    /// `None`: flow style for collections whose children are all scalars.
    pub default_flow_style: Option<bool>,
    pub sort_keys: bool,
    pub allow_unicode: bool,
    pub explicit_start: bool,
}

impl Default for YamlOpts {
    fn default() -> Self {
        YamlOpts {
            indent: 2,
            width: 80,
            default_flow_style: None,
            sort_keys: true,
            allow_unicode: true,
            explicit_start: false,
        }
    }
}

static RESOLVERS: LazyLock<Vec<(&'static str, &'static str, Regex)>> = LazyLock::new(|| {
    let re = |s: &str| Regex::new(s).expect("valid resolver regex");
    vec![
        (
            "bool",
            "yYnNtTfFoO",
            re(r"^(?:yes|Yes|YES|no|No|NO|true|True|TRUE|false|False|FALSE|on|On|ON|off|Off|OFF)$"),
        ),
        (
            "float",
            "-+0123456789.",
            re(
                r"^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+][0-9]+)?|\.[0-9][0-9_]*(?:[eE][-+][0-9]+)?|[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+\.[0-9_]*|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
            ),
        ),
        (
            "int",
            "-+0123456789",
            re(
                r"^(?:[-+]?0b[0-1_]+|[-+]?0[0-7_]+|[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$",
            ),
        ),
        ("merge", "<", re(r"^(?:<<)$")),
        ("null", "~nN", re(r"^(?:~|null|Null|NULL)$")),
        (
            "timestamp",
            "0123456789",
            re(
                r"^(?:[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]|[0-9][0-9][0-9][0-9]-[0-9][0-9]?-[0-9][0-9]?(?:[Tt]|[ \t]+)[0-9][0-9]?:[0-9][0-9]:[0-9][0-9](?:\.[0-9]*)?(?:[ \t]*(?:Z|[-+][0-9][0-9]?(?::[0-9][0-9])?))?)$",
            ),
        ),
        ("value", "=", re(r"^(?:=)$")),
    ]
});

/// The tag PyYAML's resolver gives a plain scalar (`bool`, `int`, `float`,
/// `null`, `timestamp`, `merge`, `value`), or None for a string.
pub(crate) fn implicit_tag(s: &str) -> Option<&'static str> {
    let Some(first) = s.chars().next() else {
        return Some("null"); // the empty plain scalar is null
    };
    RESOLVERS
        .iter()
        .find(|(_, firsts, re)| firsts.contains(first) && re.is_match(s))
        .map(|(tag, _, _)| *tag)
}

/// Would PyYAML's resolver read this plain scalar as something other than a string?
fn resolves_to_non_str(s: &str) -> bool {
    implicit_tag(s).is_some()
}

fn represent(v: &Value, opts: &YamlOpts) -> Result<Node, Error> {
    let scalar = |s: String| Node::Scalar {
        value: s,
        plain_implicit: true,
    };
    Ok(match v.kind() {
        ValueKind::Undefined => {
            return Err(Error::new(
                ErrorKind::UndefinedError,
                "cannot serialize an undefined value to YAML",
            ));
        }
        ValueKind::None => scalar("null".into()),
        ValueKind::Bool => scalar(if v.is_true() { "true" } else { "false" }.into()),
        ValueKind::Number if v.is_integer() => scalar(v.to_string()),
        ValueKind::Number => {
            let f = f64::try_from(v.clone())?;
            let text = if f.is_nan() {
                ".nan".to_string()
            } else if f.is_infinite() {
                if f > 0.0 {
                    ".inf".into()
                } else {
                    "-.inf".into()
                }
            } else {
                let r = float_repr(f).to_lowercase();
                if !r.contains('.') && r.contains('e') {
                    r.replacen('e', ".0e", 1)
                } else {
                    r
                }
            };
            scalar(text)
        }
        ValueKind::String | ValueKind::Bytes => {
            let s = match v.as_str() {
                Some(s) => s.to_string(),
                None => String::from_utf8_lossy(v.as_bytes().unwrap_or_default()).into_owned(),
            };
            let plain_implicit = !resolves_to_non_str(&s);
            Node::Scalar {
                value: s,
                plain_implicit,
            }
        }
        ValueKind::Map => {
            let mut entries = map_entries(v)?;
            if opts.sort_keys {
                sorted_entries(&mut entries);
            }
            let mut out = Vec::with_capacity(entries.len());
            for (k, val) in &entries {
                out.push((represent(k, opts)?, represent(val, opts)?));
            }
            let best = out
                .iter()
                .all(|(k, v)| matches!(k, Node::Scalar { .. }) && matches!(v, Node::Scalar { .. }));
            Node::Map {
                entries: out,
                flow: opts.default_flow_style.unwrap_or(best),
            }
        }
        ValueKind::Seq | ValueKind::Iterable => {
            let mut items = Vec::new();
            for item in v.try_iter()? {
                items.push(represent(&item, opts)?);
            }
            let best = items.iter().all(|n| matches!(n, Node::Scalar { .. }));
            Node::Seq {
                items,
                flow: opts.default_flow_style.unwrap_or(best),
            }
        }
        _ => {
            return Err(Error::new(
                ErrorKind::InvalidOperation,
                format!("cannot represent an object of type {} as YAML", v.kind()),
            ));
        }
    })
}

#[derive(Debug, Default)]
struct Analysis {
    empty: bool,
    multiline: bool,
    allow_flow_plain: bool,
    allow_block_plain: bool,
    allow_single_quoted: bool,
}

fn is_break(c: char) -> bool {
    matches!(c, '\n' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

fn is_ws(c: char) -> bool {
    matches!(
        c,
        '\0' | ' ' | '\t' | '\r' | '\n' | '\u{85}' | '\u{2028}' | '\u{2029}'
    )
}

fn analyze_scalar(scalar: &str, allow_unicode: bool) -> Analysis {
    if scalar.is_empty() {
        return Analysis {
            empty: true,
            multiline: false,
            allow_flow_plain: false,
            allow_block_plain: true,
            allow_single_quoted: true,
        };
    }
    let chars: Vec<char> = scalar.chars().collect();
    let mut block_indicators = false;
    let mut flow_indicators = false;
    let mut line_breaks = false;
    let mut special_characters = false;
    let mut leading_space = false;
    let mut leading_break = false;
    let mut trailing_space = false;
    let mut trailing_break = false;
    let mut break_space = false;
    let mut space_break = false;
    if scalar.starts_with("---") || scalar.starts_with("...") {
        block_indicators = true;
        flow_indicators = true;
    }
    let mut preceded_by_whitespace = true;
    let mut followed_by_whitespace = chars.len() == 1 || is_ws(chars[1]);
    let mut previous_space = false;
    let mut previous_break = false;
    for (index, &ch) in chars.iter().enumerate() {
        if index == 0 {
            if "#,[]{}&*!|>'\"%@`".contains(ch) {
                flow_indicators = true;
                block_indicators = true;
            }
            if ch == '?' || ch == ':' {
                flow_indicators = true;
                if followed_by_whitespace {
                    block_indicators = true;
                }
            }
            if ch == '-' && followed_by_whitespace {
                flow_indicators = true;
                block_indicators = true;
            }
        } else {
            if ",?[]{}".contains(ch) {
                flow_indicators = true;
            }
            if ch == ':' {
                flow_indicators = true;
                if followed_by_whitespace {
                    block_indicators = true;
                }
            }
            if ch == '#' && preceded_by_whitespace {
                flow_indicators = true;
                block_indicators = true;
            }
        }
        if is_break(ch) {
            line_breaks = true;
        }
        if !(ch == '\n' || ('\x20'..='\x7e').contains(&ch)) {
            let unicode = (ch == '\u{85}'
                || ('\u{a0}'..='\u{d7ff}').contains(&ch)
                || ('\u{e000}'..='\u{fffd}').contains(&ch)
                || ('\u{10000}'..'\u{10ffff}').contains(&ch))
                && ch != '\u{feff}';
            if !unicode || !allow_unicode {
                special_characters = true;
            }
        }
        if ch == ' ' {
            if index == 0 {
                leading_space = true;
            }
            if index == chars.len() - 1 {
                trailing_space = true;
            }
            if previous_break {
                break_space = true;
            }
            previous_space = true;
            previous_break = false;
        } else if is_break(ch) {
            if index == 0 {
                leading_break = true;
            }
            if index == chars.len() - 1 {
                trailing_break = true;
            }
            if previous_space {
                space_break = true;
            }
            previous_space = false;
            previous_break = true;
        } else {
            previous_space = false;
            previous_break = false;
        }
        preceded_by_whitespace = is_ws(ch);
        followed_by_whitespace = index + 2 >= chars.len() || is_ws(chars[index + 2]);
    }
    let mut a = Analysis {
        empty: false,
        multiline: line_breaks,
        allow_flow_plain: true,
        allow_block_plain: true,
        allow_single_quoted: true,
    };
    if leading_space || leading_break || trailing_space || trailing_break {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if break_space {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
    }
    if space_break || special_characters {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
        a.allow_single_quoted = false;
    }
    if line_breaks {
        a.allow_flow_plain = false;
        a.allow_block_plain = false;
    }
    if flow_indicators {
        a.allow_flow_plain = false;
    }
    if block_indicators {
        a.allow_block_plain = false;
    }
    a
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Style {
    Plain,
    Single,
    Double,
}

struct Emitter {
    out: String,
    indent: Option<usize>,
    indents: Vec<Option<usize>>,
    flow_level: usize,
    column: usize,
    whitespace: bool,
    indention: bool,
    best_indent: usize,
    best_width: usize,
    allow_unicode: bool,
    simple_key_context: bool,
    mapping_context: bool,
}

impl Emitter {
    fn new(opts: &YamlOpts) -> Emitter {
        let best_indent = if opts.indent > 1 && opts.indent < 10 {
            opts.indent
        } else {
            2
        };
        let best_width = if opts.width > best_indent * 2 {
            opts.width
        } else {
            80
        };
        Emitter {
            out: String::new(),
            indent: None,
            indents: Vec::new(),
            flow_level: 0,
            column: 0,
            whitespace: true,
            indention: true,
            best_indent,
            best_width,
            allow_unicode: opts.allow_unicode,
            simple_key_context: false,
            mapping_context: false,
        }
    }

    fn increase_indent(&mut self, flow: bool, indentless: bool) {
        self.indents.push(self.indent);
        match self.indent {
            None => self.indent = Some(if flow { self.best_indent } else { 0 }),
            Some(i) if !indentless => self.indent = Some(i + self.best_indent),
            Some(_) => {}
        }
    }

    fn pop_indent(&mut self) {
        self.indent = self.indents.pop().unwrap_or(None);
    }

    fn write_raw(&mut self, s: &str) {
        self.column += s.chars().count();
        self.out.push_str(s);
    }

    fn write_indicator(
        &mut self,
        indicator: &str,
        need_whitespace: bool,
        whitespace: bool,
        indention: bool,
    ) {
        if !self.whitespace && need_whitespace {
            self.out.push(' ');
            self.column += 1;
        }
        self.whitespace = whitespace;
        self.indention = self.indention && indention;
        self.write_raw(indicator);
    }

    fn write_indent(&mut self) {
        let indent = self.indent.unwrap_or(0);
        if !self.indention || self.column > indent || (self.column == indent && !self.whitespace) {
            self.write_line_break(None);
        }
        if self.column < indent {
            self.whitespace = true;
            for _ in self.column..indent {
                self.out.push(' ');
            }
            self.column = indent;
        }
    }

    fn write_line_break(&mut self, data: Option<char>) {
        self.whitespace = true;
        self.indention = true;
        self.column = 0;
        self.out.push(data.unwrap_or('\n'));
    }

    fn check_simple_key(&self, node: &Node) -> bool {
        match node {
            Node::Scalar { value, .. } => {
                // libyaml (unlike PyYAML) accepts the empty scalar and 128 characters
                let a = analyze_scalar(value, self.allow_unicode);
                value.chars().count() <= 128 && !a.multiline
            }
            Node::Seq { items, .. } => items.is_empty(),
            Node::Map { entries, .. } => entries.is_empty(),
        }
    }

    fn expect_node(&mut self, node: &Node, mapping: bool, simple_key: bool) {
        self.mapping_context = mapping;
        self.simple_key_context = simple_key;
        match node {
            Node::Scalar {
                value,
                plain_implicit,
            } => {
                self.increase_indent(true, false);
                self.process_scalar(value, *plain_implicit);
                self.pop_indent();
            }
            Node::Seq { items, flow } => {
                if self.flow_level > 0 || *flow || items.is_empty() {
                    self.flow_sequence(items);
                } else {
                    self.block_sequence(items);
                }
            }
            Node::Map { entries, flow } => {
                if self.flow_level > 0 || *flow || entries.is_empty() {
                    self.flow_mapping(entries);
                } else {
                    self.block_mapping(entries);
                }
            }
        }
    }

    fn flow_sequence(&mut self, items: &[Node]) {
        self.write_indicator("[", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            self.expect_node(item, false, false);
        }
        self.pop_indent();
        self.flow_level -= 1;
        self.write_indicator("]", false, false, false);
    }

    fn flow_mapping(&mut self, entries: &[(Node, Node)]) {
        self.write_indicator("{", true, true, false);
        self.flow_level += 1;
        self.increase_indent(true, false);
        for (i, (k, v)) in entries.iter().enumerate() {
            if i > 0 {
                self.write_indicator(",", false, false, false);
            }
            if self.column > self.best_width {
                self.write_indent();
            }
            if self.check_simple_key(k) {
                self.expect_node(k, true, true);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, false);
                self.expect_node(k, true, false);
                if self.column > self.best_width {
                    self.write_indent();
                }
                self.write_indicator(":", true, false, false);
            }
            self.expect_node(v, true, false);
        }
        self.pop_indent();
        self.flow_level -= 1;
        self.write_indicator("}", false, false, false);
    }

    fn block_sequence(&mut self, items: &[Node]) {
        let indentless = self.mapping_context && !self.indention;
        self.increase_indent(false, indentless);
        for item in items {
            self.write_indent();
            self.write_indicator("-", true, false, true);
            self.expect_node(item, false, false);
        }
        self.pop_indent();
    }

    fn block_mapping(&mut self, entries: &[(Node, Node)]) {
        self.increase_indent(false, false);
        for (k, v) in entries {
            self.write_indent();
            if self.check_simple_key(k) {
                self.expect_node(k, true, true);
                self.write_indicator(":", false, false, false);
            } else {
                self.write_indicator("?", true, false, true);
                self.expect_node(k, true, false);
                self.write_indent();
                self.write_indicator(":", true, false, true);
            }
            self.expect_node(v, true, false);
        }
        self.pop_indent();
    }

    fn process_scalar(&mut self, value: &str, plain_implicit: bool) {
        let a = analyze_scalar(value, self.allow_unicode);
        let plain_ok = if self.flow_level > 0 {
            a.allow_flow_plain
        } else {
            a.allow_block_plain
        };
        let style = if plain_implicit
            && !((self.simple_key_context || self.flow_level > 0) && a.empty)
            && plain_ok
        {
            Style::Plain
        } else if a.allow_single_quoted && !(self.simple_key_context && a.multiline) {
            Style::Single
        } else {
            Style::Double
        };
        let split = !self.simple_key_context;
        let chars: Vec<char> = value.chars().collect();
        match style {
            Style::Plain => self.write_plain(&chars, split),
            Style::Single => self.write_single_quoted(&chars, split),
            Style::Double => self.write_double_quoted(&chars, split),
        }
    }

    fn write_chars(&mut self, chars: &[char]) {
        self.column += chars.len();
        self.out.extend(chars);
    }

    fn write_breaks(&mut self, chars: &[char]) {
        for &br in chars {
            self.write_line_break(if br == '\n' { None } else { Some(br) });
        }
    }

    fn write_plain(&mut self, text: &[char], split: bool) {
        if text.is_empty() {
            return;
        }
        if !self.whitespace {
            self.write_raw(" ");
        }
        self.whitespace = false;
        self.indention = false;
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0usize, 0usize);
        while end <= text.len() {
            let ch = text.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end && self.column > self.best_width && split {
                        self.write_indent();
                        self.whitespace = false;
                        self.indention = false;
                    } else {
                        self.write_chars(&text[start..end]);
                    }
                    start = end;
                }
            } else if breaks {
                if !ch.is_some_and(is_break) {
                    if text[start] == '\n' {
                        self.write_line_break(None);
                    }
                    self.write_breaks(&text[start..end]);
                    self.write_indent();
                    self.whitespace = false;
                    self.indention = false;
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c)) {
                self.write_chars(&text[start..end]);
                start = end;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
            end += 1;
        }
    }

    fn write_single_quoted(&mut self, text: &[char], split: bool) {
        self.write_indicator("'", true, false, false);
        let (mut spaces, mut breaks) = (false, false);
        let (mut start, mut end) = (0usize, 0usize);
        while end <= text.len() {
            let ch = text.get(end).copied();
            if spaces {
                if ch != Some(' ') {
                    if start + 1 == end
                        && self.column > self.best_width
                        && split
                        && start != 0
                        && end != text.len()
                    {
                        self.write_indent();
                    } else {
                        self.write_chars(&text[start..end]);
                    }
                    start = end;
                }
            } else if breaks {
                if !ch.is_some_and(is_break) {
                    if text[start] == '\n' {
                        self.write_line_break(None);
                    }
                    self.write_breaks(&text[start..end]);
                    self.write_indent();
                    start = end;
                }
            } else if ch.is_none_or(|c| c == ' ' || is_break(c) || c == '\'') && start < end {
                self.write_chars(&text[start..end]);
                start = end;
            }
            if ch == Some('\'') {
                self.write_raw("''");
                start = end + 1;
            }
            if let Some(c) = ch {
                spaces = c == ' ';
                breaks = is_break(c);
            }
            end += 1;
        }
        self.write_indicator("'", false, false, false);
    }

    /// libyaml's double-quoted writer: escapes, and folds long lines at a space
    /// (the space becomes the line break; a following space is escaped).
    fn write_double_quoted(&mut self, text: &[char], split: bool) {
        self.write_indicator("\"", true, false, false);
        let mut spaces = false;
        let mut i = 0;
        while i < text.len() {
            let c = text[i];
            let printable = c == '\n'
                || ('\x20'..='\x7e').contains(&c)
                || c == '\u{85}'
                || ('\u{a0}'..='\u{d7ff}').contains(&c)
                || (('\u{e000}'..='\u{fffd}').contains(&c) && c != '\u{feff}')
                || ('\u{10000}'..='\u{10ffff}').contains(&c);
            if !printable
                || (!self.allow_unicode && !c.is_ascii())
                || c == '\u{feff}'
                || is_break(c)
                || c == '"'
                || c == '\\'
            {
                let data = match c {
                    '\0' => "\\0".to_string(),
                    '\x07' => "\\a".into(),
                    '\x08' => "\\b".into(),
                    '\x09' => "\\t".into(),
                    '\x0a' => "\\n".into(),
                    '\x0b' => "\\v".into(),
                    '\x0c' => "\\f".into(),
                    '\x0d' => "\\r".into(),
                    '\x1b' => "\\e".into(),
                    '"' => "\\\"".into(),
                    '\\' => "\\\\".into(),
                    '\u{85}' => "\\N".into(),
                    '\u{a0}' => "\\_".into(),
                    '\u{2028}' => "\\L".into(),
                    '\u{2029}' => "\\P".into(),
                    c if (c as u32) <= 0xff => format!("\\x{:02X}", c as u32),
                    c if (c as u32) <= 0xffff => format!("\\u{:04X}", c as u32),
                    c => format!("\\U{:08X}", c as u32),
                };
                self.write_raw(&data);
                spaces = false;
            } else if c == ' ' {
                if split
                    && !spaces
                    && self.column > self.best_width
                    && i != 0
                    && i != text.len() - 1
                {
                    self.write_indent();
                    if text.get(i + 1) == Some(&' ') {
                        self.write_raw("\\");
                    }
                } else {
                    self.write_raw(" ");
                }
                spaces = true;
            } else {
                self.column += 1;
                self.out.push(c);
                spaces = false;
            }
            i += 1;
        }
        self.write_indicator("\"", false, false, false);
    }
}

/// `yaml.dump(value, Dumper=AnsibleDumper, allow_unicode=True, ...)`.
pub(crate) fn dump(v: &Value, opts: &YamlOpts) -> Result<String, Error> {
    let node = represent(v, opts)?;
    let mut e = Emitter::new(opts);
    if opts.explicit_start {
        e.write_indicator("---", true, false, false);
    }
    e.expect_node(&node, false, false);
    e.write_indent();
    Ok(e.out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use minijinja::value::Serde;

    fn dump_json(j: serde_json::Value, indent: usize, flow: Option<bool>) -> String {
        let opts = YamlOpts {
            indent,
            default_flow_style: flow,
            ..Default::default()
        };
        dump(&Value::from(Serde(j)), &opts).unwrap()
    }

    // Expected strings produced with:
    //   python3 -c "import yaml; print(repr(yaml.dump(DATA, Dumper=yaml.CSafeDumper, allow_unicode=True, indent=4, default_flow_style=False)))"
    #[test]
    fn nice_yaml_nested() {
        let j =
            serde_json::json!({"b": [1, {"x": "y", "z": [true, null]}], "a": {"k": "v"}, "e": []});
        assert_eq!(
            dump_json(j, 4, Some(false)),
            "a:\n    k: v\nb:\n- 1\n-   x: y\n    z:\n    - true\n    - null\ne: []\n"
        );
    }

    #[test]
    fn quoting_rules() {
        for (s, want) in [
            ("yes", "'yes'\n"),
            ("0644", "'0644'\n"),
            ("1_000", "'1_000'\n"),
            ("12:30", "'12:30'\n"),
            ("~", "'~'\n"),
            ("", "''\n"),
            ("=", "'='\n"),
            ("<<", "'<<'\n"),
            ("a: b", "'a: b'\n"),
            ("a:b", "a:b\n"),
            ("- x", "'- x'\n"),
            ("-x", "-x\n"),
            ("it's", "it's\n"),
            ("'q'", "'''q'''\n"),
            ("tab\there", "\"tab\\there\"\n"),
            ("bell\u{7}", "\"bell\\a\"\n"),
            ("trail ", "'trail '\n"),
            ("nbsp\u{a0}x", "nbsp\u{a0}x\n"),
        ] {
            assert_eq!(dump_json(serde_json::json!(s), 2, None), want, "{s:?}");
        }
    }
}

#[cfg(test)]
mod roundtrip {
    use super::*;
    use minijinja::value::Serde;
    use proptest::prelude::*;

    fn scalar_text() -> impl Strategy<Value = String> {
        proptest::string::string_regex(
            r"[ a-zA-Z0-9:#\-'\x22\\,\[\]{}?*&!|>%@`~.\n\t\u{e9}\u{2713}\u{a0}]{0,120}",
        )
        .expect("valid strategy regex")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Whatever the emitter writes, a YAML 1.1 loader reads back the same data.
        #[test]
        fn dump_then_load_is_identity(key in scalar_text(), s in scalar_text(), items in proptest::collection::vec(scalar_text(), 0..4), nice in any::<bool>()) {
            let data = serde_json::json!({ key.clone(): s, "list": items, "nested": {"k": [key]} });
            let opts = if nice {
                YamlOpts { indent: 4, default_flow_style: Some(false), ..YamlOpts::default() }
            } else {
                YamlOpts::default()
            };
            let text = dump(&Value::from(Serde(data.clone())), &opts).unwrap();
            let back = super::super::yaml_load::load(&text).unwrap();
            prop_assert_eq!(serde_json::to_value(back).unwrap(), data, "yaml was:\n{}", text);
        }
    }
}
