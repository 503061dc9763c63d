//! opsctl's integration tests: the real binary, real files, and (for the tests
//! that connect) real sshd hosts of the local test bed. One test binary.

mod common;
mod errors;
mod fuzz_corpus;
mod inventory;
mod journal;
mod modules_deploy;
mod modules_files;
mod modules_system;
mod ping;
mod provision;
mod run;
mod secrets;
mod stack;
mod vars;
