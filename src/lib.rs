//! opsctl: provision servers and deploy web apps over SSH, Ansible-style.
//!
//! Data flows one way: `cli` -> `commands` -> `engine` -> `modules` ->
//! `transport` (`runner` holds the connections and the fan-out). `session` loads
//! what a command needs from files; the loaders below it (`project`,
//! `inventory`, `vars`, `template`, `playbook`, `secrets`, `yaml`) are pure and
//! need no host.

pub mod ansible_cfg;
pub mod cli;
pub mod commands;
pub mod compat;
pub mod deploy;
pub mod engine;
pub mod error;
pub mod git;
pub mod http;
pub mod interrupt;
pub mod inventory;
pub mod journal;
pub mod location;
pub mod modules;
pub mod names;
pub mod playbook;
pub mod printer;
pub mod project;
pub mod redact;
pub mod runner;
pub mod scaffold;
pub mod secrets;
pub mod session;
pub mod stack;
pub mod team;
pub mod template;
pub mod transport;
pub mod vars;
pub mod yaml;

pub use cli::main;
