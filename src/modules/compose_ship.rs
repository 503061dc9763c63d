//! compose_ship (opsctl's own): the images of a compose release, built on the
//! controller (`deploy::ship`), put on the host without a registry: `docker
//! save` on the controller streamed over the host's connection into `docker
//! load` there (`Action::Ship`, run by `engine::local::ship`).
//!
//! On the module protocol: one read-only probe reads the id of each image on
//! the host; `decide` ships the images whose id differs from the controller's
//! (`images`: name -> id), so a redeploy of the same images transfers nothing.

use serde_json::Value as Json;

use super::fail::{self, Fail};
use super::protocol::{Action, Applied, Ctx, Facts, Module, Need, Plan, script_failure};
use super::{ArgSpec, Args, Kind, Outcome, Spec};
use crate::transport::shell_quote;

/// Exit code of a probe whose docker client is missing.
const NO_DOCKER: i32 = 127;

pub static COMPOSE_SHIP: Spec = Spec::new(
    "compose_ship",
    &[ArgSpec::new("images", Kind::Dict).required()],
);

pub struct ComposeShip;

/// (name, the controller's id) of each image, sorted by name.
fn images(args: &Args) -> Result<Vec<(String, String)>, Fail> {
    let Some(Json::Object(m)) = args.get("images") else {
        return fail::bad_args("images must be a mapping of image name to image id");
    };
    let mut v = Vec::new();
    for (name, id) in m {
        match id.as_str() {
            Some(id) if id.starts_with("sha256:") => v.push((name.clone(), id.to_string())),
            _ => {
                return fail::bad_args(format!(
                    "images.{name}: {id} is not an image id (sha256:...)"
                ));
            }
        }
    }
    if v.is_empty() {
        return fail::bad_args("images is empty: the release has no image to ship");
    }
    v.sort();
    Ok(v)
}

/// For each image: `NAME ID-OF-NAME ID-IF-PRESENT` (`-` for none): whether the
/// name is the controller's image, and whether the host has that image under
/// another name (the same build of an earlier release).
fn probe(images: &[(String, String)]) -> String {
    let mut s = format!(
        "# opsctl compose_ship: the images' ids on the host\n\
         command -v docker >/dev/null 2>&1 || exit {NO_DOCKER}\n"
    );
    for (name, id) in images {
        let (n, i) = (shell_quote(name), shell_quote(id));
        s.push_str(&format!(
            "a=$(docker image inspect --format '{{{{.Id}}}}' {n} 2>/dev/null); \
             b=$(docker image inspect --format '{{{{.Id}}}}' {i} 2>/dev/null); \
             printf '%s %s %s\\n' {n} \"${{a:--}}\" \"${{b:--}}\"\n"
        ));
    }
    s
}

/// What the host has of an image: (its name's id, the id if present).
fn on_host(stdout: &str, name: &str) -> (String, String) {
    let line = stdout
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .unwrap_or("- -");
    let mut w = line.split_whitespace();
    let mut next = || w.next().unwrap_or("-").to_string();
    (next(), next())
}

/// "12.3 MB" of a byte count (decimal units, as docker prints sizes).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 4] = ["kB", "MB", "GB", "TB"];
    if bytes < 1000 {
        return format!("{bytes} B");
    }
    let mut v = bytes as f64 / 1000.0;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

impl Module for ComposeShip {
    fn needs(&self, args: &Args, _ctx: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Probe(probe(&images(args)?))])
    }

    fn decide(&self, args: &Args, facts: &Facts, _ctx: &Ctx) -> Result<Plan, Fail> {
        let images = images(args)?;
        let out = facts.probe(&probe(&images))?;
        if out.rc == Some(NO_DOCKER) {
            return fail::fail(
                "docker is not installed on this host (roles/docker: container_engine: docker, then opsctl provision)",
            );
        }
        if !out.success() {
            return fail::fail(format!("reading the host's images {}", script_failure(out)));
        }
        let stdout = out.stdout_str();
        let (mut ship, mut tags) = (Vec::new(), Vec::new());
        for (name, id) in &images {
            match on_host(&stdout, name) {
                (named, _) if named == *id => {}
                (_, present) if present == *id => tags.push((id.clone(), name.clone())),
                _ => ship.push(name.clone()),
            }
        }
        let mut o = Outcome::ok();
        o.data.insert("images".into(), Json::from(images.len()));
        o.data.insert("shipped".into(), Json::from(ship.clone()));
        o.data.insert(
            "tagged".into(),
            Json::from(tags.iter().map(|(_, n)| n.clone()).collect::<Vec<_>>()),
        );
        if ship.is_empty() && tags.is_empty() {
            o.msg = Some(format!(
                "the host has every image ({}): nothing shipped",
                images.len()
            ));
            return Ok(Plan::Done(o));
        }
        o.changed = true;
        o.msg = Some(describe(&o, None));
        Ok(Plan::change(o, Action::Ship { images: ship, tags }))
    }

    fn applied(
        &self,
        _args: &Args,
        mut planned: Outcome,
        result: Applied,
        _ctx: &Ctx,
    ) -> Result<Outcome, Fail> {
        let Applied::Shipped {
            bytes,
            elapsed,
            out,
        } = result
        else {
            return fail::fail("internal error: compose_ship applied without a transfer");
        };
        if !out.success() {
            return fail::fail(script_failure(&out));
        }
        let secs = elapsed.as_secs_f64();
        planned.msg = Some(describe(&planned, Some((bytes, secs))));
        planned.data.insert("bytes".into(), Json::from(bytes));
        planned.data.insert(
            "seconds".into(),
            Json::from((secs * 1000.0).round() / 1000.0),
        );
        Ok(planned)
    }
}

/// "shipped A, B (44.6 MB in 3.2 s); tagged C (the host had its image)";
/// without a transfer's figures, what would be done.
fn describe(o: &Outcome, done: Option<(u64, f64)>) -> String {
    let list = |k: &str| -> Vec<String> {
        o.data[k]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .map(str::to_string)
            .collect()
    };
    let (ship, tags) = (list("shipped"), list("tagged"));
    let mut parts = Vec::new();
    if !ship.is_empty() {
        parts.push(match done {
            Some((bytes, secs)) => format!(
                "shipped {} ({} in {secs:.1} s)",
                ship.join(", "),
                human_size(bytes)
            ),
            None => format!("would ship {}", ship.join(", ")),
        });
    } else if done.is_some() {
        parts.push("nothing shipped".into());
    }
    if !tags.is_empty() {
        parts.push(format!(
            "{} {} (the host had its image)",
            if done.is_some() {
                "tagged"
            } else {
                "would tag"
            },
            tags.join(", ")
        ));
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::human_size;

    #[test]
    fn sizes_are_decimal_like_dockers() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(1000), "1.0 kB");
        assert_eq!(human_size(44_600_000), "44.6 MB");
        assert_eq!(human_size(2_500_000_000), "2.5 GB");
    }
}
