//! Browser tests: headless Chromium (Debian's `chromium`, installed with apt when missing),
//! driven by playwright-core from `browser-tests/flow.mjs`, through the main flows against the
//! real router; axe-core checks every page (WCAG 2.2 A and AA). A second pass goes through the
//! whole main flow with the keyboard alone (Tab, arrow keys, Space, Enter; no clicks), checking
//! that focus is always visible and that the error summary takes focus after a form error.
//! Screenshots of each main page, desktop and phone, go to `crates/web/screenshots/`.

mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

fn run(cmd: &mut Command, what: &str) {
    let status = cmd
        .status()
        .unwrap_or_else(|e| panic!("{what} could not be started: {e}"));
    assert!(status.success(), "{what} failed ({status})");
}

fn have(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Chromium from Debian, installed if it is not there (the tests run as root on CI).
fn chromium() -> String {
    let path = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !Path::new(&path).exists() {
        eprintln!("installing chromium with apt-get (it is missing)");
        run(
            Command::new("apt-get").args(["update", "-qq"]),
            "apt-get update",
        );
        run(
            Command::new("apt-get")
                .args(["install", "-y", "-qq", "chromium"])
                .env("DEBIAN_FRONTEND", "noninteractive"),
            "apt-get install chromium",
        );
    }
    path
}

/// playwright-core and axe-core from the npm registry, as locked.
fn node_modules(dir: &Path) {
    assert!(
        have("node") && have("npm"),
        "the browser tests need Node.js 20 or newer with npm: install them, then run the tests again"
    );
    let stamp = dir.join("node_modules/.package-lock.json");
    let lock = dir.join("package-lock.json");
    let fresh = match (stamp.metadata(), lock.metadata()) {
        (Ok(s), Ok(l)) => s.modified().ok() >= l.modified().ok(),
        _ => false,
    };
    if !fresh {
        run(
            Command::new("npm").current_dir(dir).args([
                "ci",
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
            ]),
            "npm ci in crates/web/browser-tests",
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn csp1_csp9_csp11_csp12_csp15_main_flows_in_chromium_pass_axe_and_the_keyboard() {
    let crate_dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let tests = crate_dir.join("browser-tests");
    let chromium = chromium();
    node_modules(&tests);
    let app = support::spawn().await;
    let shots = crate_dir.join("screenshots");
    let output = tokio::process::Command::new("node")
        .current_dir(&tests)
        .arg("flow.mjs")
        .arg(&app.base)
        .arg(&app.fixture.person_id)
        .arg(&shots)
        .env("CHROMIUM", chromium)
        .output()
        .await
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser flow failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("browser flow passed"), "{stdout}\n{stderr}");
    // What the flow reports (pages checked, how long the keyboard pass took): shown with --nocapture.
    print!("{stdout}");
    for name in ["caseload", "plan", "history", "diff", "own-view", "audit"] {
        for width in ["desktop", "phone"] {
            let png = shots.join(format!("{name}-{width}.png"));
            assert!(png.exists(), "no screenshot {}", png.display());
        }
    }
}
