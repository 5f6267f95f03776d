//! Every resource the export emits validates as FHIR R4 with an independent validator: the
//! Python `fhir.resources` R4B models (pinned in `tests/requirements.txt`), run by
//! `tests/validate.py`.
//!
//! The test installs the validator itself into a virtualenv under the cargo target directory
//! (`python3 -m venv`, `pip install` from PyPI) the first time. If that is impossible it skips
//! with a loud message, unless `CI` is set (to anything but `false` or `0`): then it fails.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;

use careplan_fhir::{
    code_systems, commands_from_bundle, operation_outcome, performer_bundle, plan_bundle,
    resources, structure_definitions,
};
use common::{BASE, entries, rich_plan};
use serde_json::{Value, json};

const VENV: &str = "fhir-validator-venv-fhir.resources-8.3.0";

fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// The cargo target directory: the test binary is `<target>/<profile>/deps/<name>`.
fn target_dir() -> PathBuf {
    if let Ok(dir) = std::env::var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    exe.ancestors()
        .nth(3)
        .expect("the test binary lives in <target>/<profile>/deps")
        .to_path_buf()
}

fn tests_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests")
}

fn run(cmd: &mut Command) -> Result<String, String> {
    let shown = format!("{cmd:?}");
    match cmd.output() {
        Ok(out) if out.status.success() => Ok(String::from_utf8_lossy(&out.stdout).into_owned()),
        Ok(out) => Err(format!(
            "{shown} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )),
        Err(e) => Err(format!("{shown} could not run: {e}")),
    }
}

/// The virtualenv's python with the validator installed, installing it if it is not there yet.
/// The venv is built beside its final place and renamed into it, so a half-made one is never
/// mistaken for a working one.
fn validator_python() -> Result<PathBuf, String> {
    let venv = target_dir().join(VENV);
    let python = venv.join("bin").join("python");
    let works =
        |python: &Path| run(Command::new(python).args(["-c", "import fhir.resources.R4B"])).is_ok();
    if python.exists() && works(&python) {
        return Ok(python);
    }
    let building = target_dir().join(format!("{VENV}.building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&building);
    let installed =
        run(Command::new("python3").arg("-m").arg("venv").arg(&building)).and_then(|_| {
            run(Command::new(building.join("bin").join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(tests_dir().join("requirements.txt")))
        });
    if let Err(why) = installed {
        let _ = std::fs::remove_dir_all(&building);
        return Err(why);
    }
    let _ = std::fs::remove_dir_all(&venv);
    std::fs::rename(&building, &venv).map_err(|e| format!("could not move the venv: {e}"))?;
    // The interpreter finds its packages from its own location, so the moved venv works (its
    // pip scripts would not, and are not used again).
    if works(&python) {
        Ok(python)
    } else {
        Err(format!(
            "{} cannot import fhir.resources.R4B",
            python.display()
        ))
    }
}

fn write(dir: &Path, name: &str, value: &Value) {
    let text = serde_json::to_string_pretty(value).unwrap();
    std::fs::write(dir.join(format!("{name}.json")), text).unwrap();
}

fn validate(python: &Path, dir: &Path) -> Result<String, String> {
    run(Command::new(python)
        .arg(tests_dir().join("validate.py"))
        .arg(dir))
}

#[test]
fn every_emitted_resource_validates_as_fhir_r4() {
    let python = match validator_python() {
        Ok(p) => p,
        Err(why) if !in_ci() => {
            // Straight to the stderr handle: libtest captures `eprintln!` of passing tests.
            let _ = writeln!(
                std::io::stderr(),
                "\n\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                 SKIPPED: the FHIR validator (python fhir.resources) could not be installed,\n\
                 so the FHIR output was NOT validated. With CI=true this fails instead.\n\
                 {why}\n\
                 !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
            );
            return;
        }
        Err(why) => panic!("the FHIR validator could not be installed: {why}"),
    };

    // First, the validator must catch mistakes, or a green run proves nothing.
    let bad = tempfile::tempdir().unwrap();
    write(
        bad.path(),
        "goal-without-description",
        &json!({"resourceType": "Goal", "lifecycleStatus": "active", "subject": {"reference": "Patient/p"}}),
    );
    write(
        bad.path(),
        "task-with-bad-status",
        &json!({"resourceType": "Task", "status": "started", "intent": "plan", "colour": "red"}),
    );
    let refused =
        validate(&python, bad.path()).expect_err("the validator accepted invalid resources");
    assert!(refused.contains("description"), "{refused}");
    assert!(refused.contains("colour"), "{refused}");
    assert!(refused.contains("started"), "{refused}");

    let (plan, versions) = rich_plan();
    let dir = tempfile::tempdir().unwrap();
    let bundle = plan_bundle(&plan, &versions, BASE);
    let mut count = 0;
    for (i, r) in entries(&bundle).into_iter().enumerate() {
        write(
            dir.path(),
            &format!(
                "{i:03}-{}-{}",
                r["resourceType"].as_str().unwrap(),
                r["id"].as_str().unwrap()
            ),
            r,
        );
        count += 1;
    }
    assert_eq!(count, resources(&plan).len() + versions.len());
    write(dir.path(), "bundle", &bundle);
    // The Bundle with an attached file inline (`careplan export --fhir --with-files`).
    let mut with_files = bundle.clone();
    let files = std::collections::HashMap::from([(
        "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".to_owned(),
        b"test".to_vec(),
    )]);
    assert_eq!(careplan_fhir::inline_files(&mut with_files, &files), 1);
    write(dir.path(), "bundle-with-files", &with_files);
    write(
        dir.path(),
        "document",
        &careplan_fhir::document(&plan, "Tom Okafor", BASE),
    );
    write(
        dir.path(),
        "performer-bundle",
        &performer_bundle(&plan, "Olu Therapist", BASE),
    );
    write(
        dir.path(),
        "performer-care-plan",
        &careplan_fhir::care_plan_for_performer(&plan, "Leeds OT Service"),
    );
    for sd in structure_definitions() {
        write(
            dir.path(),
            &format!("sd-{}", sd["id"].as_str().unwrap()),
            &sd,
        );
    }
    for cs in code_systems() {
        write(
            dir.path(),
            &format!("cs-{}", cs["id"].as_str().unwrap()),
            &cs,
        );
    }
    let refused = commands_from_bundle(
        &json!({"resourceType": "Bundle", "type": "collection", "entry": [
            {"fullUrl": "urn:uuid:1", "resource": {"resourceType": "Patient", "gender": "female"}}
        ]}),
    )
    .unwrap_err();
    write(
        dir.path(),
        "operation-outcome",
        &operation_outcome(&refused),
    );
    write(
        dir.path(),
        "operation-outcome-empty",
        &operation_outcome(&[]),
    );

    match validate(&python, dir.path()) {
        Ok(out) => {
            println!("{out}");
            assert!(out.contains(", 0 problem(s)"), "{out}");
        }
        Err(problems) => panic!("FHIR validation failed:\n{problems}"),
    }
}
