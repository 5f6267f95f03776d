//! Running the real `careplan` binary from tests and benchmarks: a command on a data directory,
//! a one-shot run with standard input, and `serve` on a port the OS picks.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};

pub struct Server {
    pub child: Child,
    pub base: String,
}

pub fn careplan(data: &std::path::Path) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_careplan"));
    c.env("CAREPLAN_DATA_DIR", data)
        .env_remove("CAREPLAN_DATABASE_URL");
    c
}

pub fn run(data: &std::path::Path, args: &[&str], stdin: &str) -> String {
    let mut child = careplan(data)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "careplan {args:?} failed");
    String::from_utf8(out.stdout).unwrap()
}

/// Starts `careplan serve --listen 127.0.0.1:0` and reads the address it reports.
pub fn start(data: &std::path::Path) -> Server {
    start_with(data, &[])
}

/// Starts `careplan serve --listen 127.0.0.1:0` with more arguments, and reads the address it
/// reports (after whatever it prints first).
pub fn start_with(data: &std::path::Path, more: &[&str]) -> Server {
    let mut child = careplan(data)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(more)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = out.read_line(&mut line).unwrap();
        assert!(n > 0, "careplan serve stopped before listening");
        if line.contains("is listening on") {
            break;
        }
    }
    let base = line.trim().rsplit(' ').next().unwrap().to_owned();
    assert!(base.starts_with("http://127.0.0.1:"), "{line}");
    Server { child, base }
}
