//! `from_yaml`: YAML loaded with PyYAML's SafeLoader semantics (YAML 1.1 as
//! Ansible sees it): `yes`/`on` are booleans but `y`/`n` are strings, `0644`
//! is octal, `1_000` is an int, quoted scalars are always strings, `<<` merge
//! keys are applied, anchors/aliases resolved. Built on serde-saphyr's event
//! parser so that scalar styles are visible.

use std::collections::HashMap;

use minijinja::value::Value;
use minijinja::{Error, ErrorKind};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle};

use super::yaml_emit::implicit_tag;

fn err(msg: impl Into<String>) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("filter 'from_yaml': {}", msg.into()),
    )
}

fn parse_int(s: &str) -> Option<Value> {
    let clean: String = s.chars().filter(|c| *c != '_').collect();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let v: i128 = if body == "0" {
        0
    } else if let Some(b) = body.strip_prefix("0b") {
        i128::from_str_radix(b, 2).ok()?
    } else if let Some(x) = body.strip_prefix("0x") {
        i128::from_str_radix(x, 16).ok()?
    } else if let Some(o) = body.strip_prefix('0') {
        i128::from_str_radix(o, 8).ok()?
    } else if body.contains(':') {
        body.split(':')
            .try_fold(0i128, |acc, d| Some(acc * 60 + d.parse::<i128>().ok()?))?
    } else {
        body.parse().ok()?
    };
    Some(Value::from(if neg { -v } else { v }))
}

fn parse_float(s: &str) -> Option<Value> {
    let clean: String = s
        .chars()
        .filter(|c| *c != '_')
        .collect::<String>()
        .to_lowercase();
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, clean.as_str()),
    };
    let v: f64 = if body == ".inf" {
        f64::INFINITY
    } else if body == ".nan" {
        f64::NAN
    } else if body.contains(':') {
        body.split(':')
            .try_fold(0f64, |acc, d| Some(acc * 60.0 + d.parse::<f64>().ok()?))?
    } else {
        let b = if body.starts_with('.') {
            format!("0{body}")
        } else {
            body.to_string()
        };
        b.strip_suffix('.')
            .map_or_else(|| b.parse().ok(), |x| x.parse().ok())?
    };
    Some(Value::from(if neg { -v } else { v }))
}

fn scalar(value: &str, style: ScalarStyle, tag: Option<(&str, &str)>) -> Result<Value, Error> {
    let plain = style == ScalarStyle::Plain;
    let kind = match tag {
        Some(("tag:yaml.org,2002:", suffix)) => match suffix {
            "str" => None,
            "int" | "float" | "bool" | "null" => Some(suffix),
            _ => None,
        },
        Some(_) => None, // local tags (!unsafe, !vault ...): the text
        None if plain => implicit_tag(value),
        None => None,
    };
    let bad = || {
        err(format!(
            "cannot construct a {} from '{value}'",
            kind.unwrap_or("value")
        ))
    };
    Ok(match kind {
        Some("bool") => Value::from(matches!(
            value.to_lowercase().as_str(),
            "yes" | "true" | "on"
        )),
        Some("int") => parse_int(value).ok_or_else(bad)?,
        Some("float") => parse_float(value).ok_or_else(bad)?,
        Some("null") => Value::from(()),
        _ => Value::from(value),
    })
}

struct Loader<'a> {
    parser: Parser<'a, serde_saphyr::granit_parser::StrInput<'a>>,
    anchors: HashMap<usize, Value>,
}

impl<'a> Loader<'a> {
    fn next(&mut self) -> Result<Option<Event<'a>>, Error> {
        loop {
            match self.parser.next_event() {
                None => return Ok(None),
                Some(Err(e)) => return Err(err(e.to_string())),
                Some(Ok((Event::Comment(..), _))) => continue,
                Some(Ok((ev, _))) => return Ok(Some(ev)),
            }
        }
    }

    fn node(&mut self, ev: Event<'a>) -> Result<Value, Error> {
        let (value, anchor) = match ev {
            Event::Alias(id) => {
                return self
                    .anchors
                    .get(&id)
                    .cloned()
                    .ok_or_else(|| err("found undefined alias"));
            }
            Event::Scalar(v, style, anchor, tag) => {
                let tag = tag.as_ref().map(|t| (t.handle(), t.suffix()));
                (scalar(&v, style, tag)?, anchor)
            }
            Event::SequenceStart(_, anchor, _) => {
                let mut items = Vec::new();
                loop {
                    match self.next()? {
                        Some(Event::SequenceEnd) => break,
                        Some(ev) => items.push(self.node(ev)?),
                        None => return Err(err("unexpected end of stream in a sequence")),
                    }
                }
                (Value::from(items), anchor)
            }
            Event::MappingStart(_, anchor, _) => {
                let mut merged: Vec<(Value, Value)> = Vec::new();
                let mut explicit: Vec<(Value, Value)> = Vec::new();
                loop {
                    let key_ev = match self.next()? {
                        Some(Event::MappingEnd) => break,
                        Some(ev) => ev,
                        None => return Err(err("unexpected end of stream in a mapping")),
                    };
                    let is_merge = matches!(&key_ev, Event::Scalar(k, ScalarStyle::Plain, _, None) if k == "<<");
                    let key = self.node(key_ev)?;
                    let value_ev = self
                        .next()?
                        .ok_or_else(|| err("unexpected end of stream in a mapping"))?;
                    let value = self.node(value_ev)?;
                    if is_merge {
                        let maps = if value.kind() == minijinja::value::ValueKind::Seq {
                            value.try_iter()?.collect()
                        } else {
                            vec![value]
                        };
                        // earlier maps in a merge list win over later ones
                        for m in maps.into_iter().rev() {
                            for k in m.try_iter()? {
                                let v = m.get_item(&k)?;
                                merged.retain(|(mk, _)| mk != &k);
                                merged.push((k, v));
                            }
                        }
                    } else {
                        explicit.push((key, value));
                    }
                }
                let mut out: indexmap::IndexMap<Value, Value> = merged.into_iter().collect();
                for (k, v) in explicit {
                    out.insert(k, v);
                }
                (Value::from_pairs(out), anchor)
            }
            _ => return Err(err("unexpected YAML event")),
        };
        if anchor != 0 {
            self.anchors.insert(anchor, value.clone());
        }
        Ok(value)
    }
}

/// `yaml.load(s, Loader=SafeLoader)` for a single document; an empty stream is None.
pub(crate) fn load(s: &str) -> Result<Value, Error> {
    let mut loader = Loader {
        parser: Parser::new_from_str(s),
        anchors: HashMap::new(),
    };
    let mut result = None;
    while let Some(ev) = loader.next()? {
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::StreamEnd => {}
            Event::DocumentStart(..) => {
                if result.is_some() {
                    return Err(err("expected a single document in the stream"));
                }
                let node_ev = loader
                    .next()?
                    .ok_or_else(|| err("unexpected end of stream"))?;
                result = Some(match node_ev {
                    Event::DocumentEnd => Value::from(()),
                    ev => loader.node(ev)?,
                });
            }
            _ => return Err(err("unexpected YAML event")),
        }
    }
    Ok(result.unwrap_or(Value::from(())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn j(s: &str) -> serde_json::Value {
        serde_json::to_value(load(s).unwrap()).unwrap()
    }

    // Expectations from: python3 -c "import yaml; print(yaml.safe_load(S))"
    #[test]
    fn pyyaml_semantics() {
        assert_eq!(
            j(
                "a: yes\nb: y\nc: 'on'\nd: 0644\ne: 1_000\nf: 0x1F\ng: .5\nh: ~\ni:\nj: 1:30\nk: !!str 12\nl: 2024-01-01\nm: NO\n"
            ),
            serde_json::json!({"a": true, "b": "y", "c": "on", "d": 420, "e": 1000, "f": 31, "g": 0.5, "h": null,
                "i": null, "j": 90, "k": "12", "l": "2024-01-01", "m": false})
        );
        assert_eq!(
            j("base: &b {x: 1, y: 2}\nc:\n  <<: *b\n  y: 3\nl: [*b]\n"),
            serde_json::json!({"base": {"x": 1, "y": 2}, "c": {"x": 1, "y": 3}, "l": [{"x": 1, "y": 2}]})
        );
        assert_eq!(j(""), serde_json::Value::Null);
        assert_eq!(j("# only a comment\n"), serde_json::Value::Null);
        assert_eq!(j("line1\nline2\n"), serde_json::json!("line1 line2"));
        assert!(load("a: [1").is_err());
        assert!(load("a: 1\n---\nb: 2\n").is_err());
    }
}
