//! `careplan export --fhir PERSON` and `careplan import --fhir FILE`: a person's whole plan as
//! a FHIR R4 Bundle, and a Bundle made into a new plan, both through the system handle (so they
//! are audited like every other read and write).

use std::collections::HashMap;
use std::io::{IsTerminal, Read, Write};
use std::path::Path;

use anyhow::{Context, anyhow};
use careplan_blobs::{BlobError, BlobStore};
use careplan_fhir::{VersionMeta, commands_from_bundle, inline_files, plan_bundle};
use careplan_store::Store;
use careplan_store::handle::Handle;
use futures_util::TryStreamExt;

/// A stored file's bytes, whole.
async fn read_whole(blobs: &BlobStore, sha256: &str) -> Result<Vec<u8>, BlobError> {
    let chunks: Vec<_> = blobs.read(sha256, None).await?.try_collect().await?;
    Ok(chunks.concat())
}

/// The size above which import reports its progress on standard error, step by step.
const LARGE: usize = 256 * 1024;

/// Every version of the plan, for its Provenance entries.
async fn versions(
    system: &Handle,
    plan_id: &careplan_model::PlanId,
) -> anyhow::Result<Vec<VersionMeta>> {
    let mut out = Vec::new();
    loop {
        let page = system.history(plan_id, out.len() as u64, 500).await?.value;
        if page.is_empty() {
            break;
        }
        out.extend(page.iter().map(|e| {
            VersionMeta {
                number: e.number,
                at: e.at,
                actor_name: e.by.name.to_string(),
                actor_role: e.by.role,
                command: e
                    .command
                    .as_ref()
                    .map_or("withheld", |c| c.name())
                    .to_owned(),
            }
        }));
    }
    Ok(out)
}

/// Writes the person's whole plan as a `collection` Bundle to standard output; with a file
/// store, each attached file goes into the Bundle too (base64 `data`).
pub async fn export(
    store: &Store,
    system: Handle,
    person: &str,
    base: &str,
    files: Option<BlobStore>,
) -> anyhow::Result<()> {
    let plan_id = store.find_plan(person).await?;
    let plan = system.current(&plan_id).await?.value;
    let metas = versions(&system, &plan_id).await?;
    let mut bundle = plan_bundle(&plan, &metas, base);
    if let Some(blobs) = files {
        let mut bytes = HashMap::new();
        for a in plan.attachments.values() {
            let sha = a.sha256.as_str();
            if bytes.contains_key(sha) {
                continue;
            }
            match read_whole(&blobs, sha).await {
                Ok(b) => {
                    bytes.insert(sha.to_owned(), b);
                }
                Err(BlobError::NotFound) => eprintln!(
                    "note: the file of “{}” is not in this file store ({}), so the Bundle has its record without it",
                    a.title,
                    blobs.description()
                ),
                Err(e) => {
                    return Err(anyhow!("the file of “{}” could not be read: {e}", a.title));
                }
            }
        }
        inline_files(&mut bundle, &bytes);
    }
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &bundle)?;
    writeln!(out)?;
    Ok(())
}

/// Reads a Bundle (a file, or `-` for standard input) and starts a new plan from it: the person,
/// then every change, all in one atomic apply. Returns nothing; prints the new plan's ids.
pub async fn import(system: Handle, blobs: &BlobStore, file: &Path) -> anyhow::Result<()> {
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("could not read standard input")?;
        s
    } else {
        std::fs::read_to_string(file)
            .with_context(|| format!("could not read {}", file.display()))?
    };
    let progress = Progress::new(text.len() > LARGE, 4);
    progress.step("read", &format!("{} bytes", text.len()));
    let bundle: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "{} is not valid JSON (line {}, column {})",
            file.display(),
            e.line(),
            e.column()
        )
    })?;
    let entries = bundle["entry"].as_array().map_or(0, Vec::len);
    progress.step("parsed", &format!("{entries} entries"));
    let import = commands_from_bundle(&bundle).map_err(|issues| {
        let lines: Vec<String> = issues.iter().map(ToString::to_string).collect();
        anyhow!(
            "the Bundle cannot be imported, so nothing was changed: {}",
            lines.join("; ")
        )
    })?;
    progress.step("mapped", &format!("{} changes", import.commands.len()));
    let count = import.commands.len();
    let carried = import.files.len();
    let files = careplan_server::carried_files(import.files);
    // The person, every change and every file are kept together, or none of them is.
    let last = system
        .create_person_with_files(blobs, import.person.clone(), import.commands, files)
        .await
        .map_err(|e| anyhow!("the plan could not be imported, so nothing was changed: {e}"))?
        .pop()
        .expect("at least version 1")
        .plan;
    progress.step(
        "applied",
        &format!("{count} changes, {carried} file(s) kept"),
    );
    for note in &import.notes {
        eprintln!("note: {note}");
    }
    let with = match carried {
        0 => String::new(),
        1 => ", with 1 attached file".to_owned(),
        n => format!(", with {n} attached files"),
    };
    println!(
        "Imported the plan of {} as plan {} (person {}), version {}{with}.",
        last.person.person.display_name(),
        last.id,
        last.details.person_id,
        last.version
    );
    Ok(())
}

/// Steps of a long import on standard error: a bar when it is a terminal, lines otherwise.
struct Progress {
    shown: bool,
    steps: usize,
    done: std::cell::Cell<usize>,
}

impl Progress {
    fn new(shown: bool, steps: usize) -> Progress {
        Progress {
            shown,
            steps,
            done: std::cell::Cell::new(0),
        }
    }

    fn step(&self, what: &str, detail: &str) {
        if !self.shown {
            return;
        }
        let done = self.done.get() + 1;
        self.done.set(done);
        let mut err = std::io::stderr().lock();
        if err.is_terminal() {
            let width = 20;
            let filled = width * done / self.steps;
            let _ = write!(
                err,
                "\r[{}{}] {done}/{} {what}: {detail}\x1b[K",
                "#".repeat(filled),
                " ".repeat(width - filled),
                self.steps
            );
            if done == self.steps {
                let _ = writeln!(err);
            }
        } else {
            let _ = writeln!(err, "import {done}/{}: {what} ({detail})", self.steps);
        }
    }
}
