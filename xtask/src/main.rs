//! `cargo xtask ci`: the one test command. Formatting, lints, then every test, with the
//! PostgreSQL server started first if it is not running, so the PostgreSQL runs never skip.

use std::net::TcpStream;
use std::process::{Command, ExitCode};
use std::time::Duration;

fn main() -> ExitCode {
    let task = std::env::args().nth(1).unwrap_or_default();
    let result = match task.as_str() {
        "ci" => ci(),
        _ => Err(
            "usage: cargo xtask ci   (formatting, clippy -D warnings, then every test)".to_owned(),
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("xtask: {message}");
            ExitCode::FAILURE
        }
    }
}

fn ci() -> Result<(), String> {
    ensure_postgres()?;
    run("cargo", &["fmt", "--all", "--", "--check"])?;
    run(
        "cargo",
        &[
            "clippy",
            "--workspace",
            "--all-targets",
            "--",
            "-D",
            "warnings",
        ],
    )?;
    test()
}

/// Runs every test, echoing cargo's output, and ends with one total line over all test binaries
/// (cargo's own last line is only the last binary's, often the doc-tests with none).
fn test() -> Result<(), String> {
    use std::io::{BufRead, BufReader};
    eprintln!("xtask: running cargo test --workspace");
    let mut child = Command::new("cargo")
        .args(["test", "--workspace"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .map_err(|e| format!("could not start cargo test: {e}"))?;
    let (mut passed, mut failed) = (0u64, 0u64);
    let stdout = child.stdout.take().expect("piped");
    for line in BufReader::new(stdout).lines() {
        let line = line.map_err(|e| format!("could not read cargo test's output: {e}"))?;
        println!("{line}");
        if let Some(rest) = line.strip_prefix("test result: ") {
            let count = |word: &str| {
                rest.split([';', '.'])
                    .filter_map(|part| part.trim().strip_suffix(word))
                    .find_map(|n| n.trim().parse::<u64>().ok())
                    .unwrap_or(0)
            };
            passed += count(" passed");
            failed += count(" failed");
        }
    }
    let status = child
        .wait()
        .map_err(|e| format!("cargo test did not finish: {e}"))?;
    println!("tests: {passed} passed, {failed} failed");
    if status.success() && failed == 0 {
        Ok(())
    } else {
        Err(format!("cargo test --workspace failed ({status})"))
    }
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    eprintln!("xtask: running {program} {}", args.join(" "));
    let status = Command::new(program)
        .args(args)
        .status()
        .map_err(|e| format!("could not start {program}: {e}"))?;
    if status.success() {
        Ok(())
    } else {
        Err(format!("{program} {} failed ({status})", args.join(" ")))
    }
}

/// The tests use the local PostgreSQL at `CAREPLAN_TEST_POSTGRES_URL` (default
/// 127.0.0.1:5432). If nothing listens there, start the machine's cluster.
fn ensure_postgres() -> Result<(), String> {
    if std::env::var_os("CAREPLAN_TEST_POSTGRES_URL").is_some() || postgres_listening() {
        return Ok(());
    }
    eprintln!("xtask: PostgreSQL is not running on 127.0.0.1:5432; starting it");
    let versions = std::fs::read_dir("/etc/postgresql")
        .map_err(|e| format!("PostgreSQL is not running and /etc/postgresql cannot be read ({e}): install and start PostgreSQL, or set CAREPLAN_TEST_POSTGRES_URL"))?;
    for version in versions.flatten() {
        let version = version.file_name().to_string_lossy().into_owned();
        let _ = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "start"])
            .status();
    }
    for _ in 0..50 {
        if postgres_listening() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    Err("PostgreSQL did not start on 127.0.0.1:5432 within 10 seconds".to_owned())
}

fn postgres_listening() -> bool {
    TcpStream::connect_timeout(
        &"127.0.0.1:5432".parse().expect("address"),
        Duration::from_secs(1),
    )
    .is_ok()
}
