//! slurp: a file's content, base64-encoded (`content`, `encoding: base64`,
//! `source`). Read-only, one exec.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;

use super::fail::{self, Fail};
use super::protocol::{Ctx, Facts, Module, Need, Plan};
use super::remote_file::{self, ContentReq, FType, Req};
use super::{ArgSpec, Args, Kind, Outcome, Spec};

pub static SLURP: Spec = Spec::new(
    "slurp",
    &[ArgSpec::new("src", Kind::Str).required().aliases(&["path"])],
);

/// `slurp` on the module protocol.
pub struct Slurp;

fn req(args: &Args) -> Req {
    Req::new(args.str("src").unwrap_or_default())
        .follow(true)
        .sums(&[])
        .content(ContentReq::Whole)
}

impl Module for Slurp {
    fn needs(&self, args: &Args, _: &Ctx) -> Result<Vec<Need>, Fail> {
        Ok(vec![Need::Host, Need::Path(req(args))])
    }

    fn decide(&self, args: &Args, facts: &Facts, _: &Ctx) -> Result<Plan, Fail> {
        let src = args.str("src").unwrap_or_default();
        let st = facts.path(&req(args))?;
        match st.kind {
            FType::Absent => return fail::fail(format!("file not found: {src}")),
            FType::Directory => {
                return fail::fail(format!("source is a directory and must be a file: {src}"));
            }
            _ if !st.readable => {
                return fail::fail(format!(
                    "file is not readable: {src}{}",
                    remote_file::become_hint(facts.host()?)
                ));
            }
            _ => {}
        }
        let content = st.content.as_deref().unwrap_or_default();
        Ok(Plan::Done(
            Outcome::ok()
                .with("content", B64.encode(content))
                .with("encoding", "base64")
                .with("source", st.path.clone()),
        ))
    }
}
