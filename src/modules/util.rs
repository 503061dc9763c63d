//! Transitional: the names `get_url.rs`, `net.rs` and `engine/` still import
//! from here, re-exported from the rooms the old `util.rs` was split into
//! (`fail`, `content`, `paths`, `attrs`, `regular_file`, `remote_file`).
//! New code imports the rooms; delete this file once those files do.

pub use super::attrs::Attrs;
pub use super::content::{b64, sha256_hex};
pub use super::fail::{Fail, Fut, bad_args, fail, finish};
pub use super::paths::{basename, join, parent_of};
pub use super::regular_file::{FileWant, decide_file};
pub use super::remote_file::{
    ContentReq, FType, Op, Req, Run, SCRIPT, SUM_ALGOS, become_hint, file_fields, interpret,
    interpreter, manifest, parse_output, run_ops,
};
