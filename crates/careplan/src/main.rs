//! The `careplan` command: load the demo, list people, read, compare and change plans.
//!
//! Thin by design: parse arguments, open the store, call it, print. Errors are one sentence on
//! stderr with exit code 1; usage mistakes exit with 2 (clap's convention).

mod audit;
mod demo;
mod fhir_cli;
mod render;
mod users;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, anyhow, bail};
use careplan_model::{Actor, Command, NhsNumber, Person, Role, Text, VersionNumber, parse_date};
use careplan_store::{Store, StoreError};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

#[derive(Debug, Parser)]
#[command(
    name = "careplan",
    version,
    about = "Person-centred care and support plans (PRSB Core Information Standard), with every version kept."
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Top,
}

#[derive(Debug, Args)]
struct Config {
    /// Where careplan keeps its files (the embedded SQLite database, careplan.sqlite3).
    #[arg(
        long,
        env = "CAREPLAN_DATA_DIR",
        default_value = "./careplan-data",
        global = true
    )]
    data_dir: PathBuf,
    /// The database to use instead of SQLite in the data directory, e.g. postgres://user@host/db.
    #[arg(long, env = "CAREPLAN_DATABASE_URL", global = true)]
    database_url: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Top {
    /// Runs the HTTP service: the JSON API under /api/v1, health, readiness and metrics.
    Serve {
        /// The address to listen on.
        #[arg(long, env = "CAREPLAN_LISTEN", default_value = "127.0.0.1:8080")]
        listen: std::net::SocketAddr,
        #[command(flatten)]
        files: Files,
        #[command(flatten)]
        limit: UploadLimit,
        /// Load the fictional demo plan (if it is not there) and demo sign-ins with a published
        /// password, to try the service. Only on a loopback address.
        #[arg(long)]
        demo: bool,
    },
    /// Loads a fictional person and their plan, built through the same commands people use.
    Demo,
    /// Sign-in accounts.
    #[command(subcommand)]
    User(UserCommand),
    /// Bearer tokens for other systems.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The audit trail of every read and write of plan data.
    #[command(subcommand)]
    Audit(AuditCommand),
    /// People with plans.
    #[command(subcommand)]
    Person(PersonCommand),
    /// Read, compare and change a person's plan.
    #[command(subcommand)]
    Plan(PlanCommand),
    /// Writes a person's whole plan as a FHIR R4 Bundle (JSON) to standard output.
    Export {
        /// Export as FHIR R4 (the only format).
        #[arg(long, required = true)]
        fhir: bool,
        /// The person: NHS number, person id or plan id.
        person: String,
        /// The base URL for the Bundle's fullUrls.
        #[arg(long, default_value = "http://127.0.0.1:8080/fhir")]
        base: String,
        /// Put each attached file into the Bundle (base64 `data`), so that another care
        /// system, or `careplan import`, gets the files as well as their records.
        #[arg(long)]
        with_files: bool,
        #[command(flatten)]
        files: Files,
    },
    /// Starts a new plan from a FHIR R4 Bundle (a file, or - for standard input), all or nothing;
    /// attached files the Bundle carries inline are kept in the file store.
    Import {
        /// Import FHIR R4 (the only format).
        #[arg(long, required = true)]
        fhir: bool,
        file: PathBuf,
        #[command(flatten)]
        files: Files,
        #[command(flatten)]
        limit: UploadLimit,
    },
}

/// Where attachments' files are kept, for the commands that read or write them.
#[derive(Debug, Args)]
struct Files {
    /// Where attachments' files are kept: s3://bucket/prefix (credentials, region and
    /// endpoint from the usual AWS_* variables) or file:///dir. Default: DATA_DIR/blobs.
    #[arg(long, env = "CAREPLAN_BLOB_URL")]
    blob_url: Option<String>,
}

/// The largest file the commands that take files in accept.
#[derive(Debug, Args)]
struct UploadLimit {
    /// The largest file that may be attached, in bytes (default 256 MiB).
    #[arg(long, env = "CAREPLAN_MAX_UPLOAD_BYTES", default_value_t = careplan_blobs::DEFAULT_MAX_UPLOAD_BYTES)]
    max_upload_bytes: u64,
}

impl Files {
    /// The file store, taking files of at most `limit` bytes.
    fn open(&self, data_dir: &Path, limit: u64) -> anyhow::Result<careplan_blobs::BlobStore> {
        match &self.blob_url {
            Some(url) => careplan_blobs::BlobStore::from_url(url, &data_dir.join("spool"), limit),
            None => careplan_blobs::BlobStore::local(&data_dir.join("blobs"), limit),
        }
        .context("the file store for attachments cannot be opened")
    }
}

#[derive(Debug, Subcommand)]
enum UserCommand {
    /// Lists the accounts.
    List {
        #[arg(long)]
        json: bool,
    },
    /// Stops an account signing in, and ends its sessions.
    Disable { name: String },
    /// Lets a disabled account sign in again.
    Enable { name: String },
    /// Adds an account; the password is read from standard input.
    Add {
        /// The username people sign in with.
        name: String,
        /// person, representative, carer, practitioner, data_controller or administrator.
        #[arg(long)]
        role: String,
        /// For a person, representative or carer: whose plan (NHS number, person id or plan id).
        #[arg(long)]
        person: Option<String>,
        /// The organisation the account belongs to (used by consent preferences).
        #[arg(long)]
        organisation: Option<String>,
        /// The name shown in the plan's history; defaults to the username.
        #[arg(long)]
        display_name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum TokenCommand {
    /// Revokes a bearer token, read from standard input.
    Revoke,
    /// Creates a bearer token for an account and prints it once.
    Create {
        /// The account's username.
        name: String,
        /// What the token is for, e.g. the system that will use it.
        #[arg(long)]
        label: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Checks the audit trail's hash chain and names the first broken entry.
    Verify,
    /// Lists audit entries, newest last.
    List {
        /// Only entries about this person's plan.
        #[arg(long)]
        person: Option<String>,
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PersonCommand {
    /// Lists people with plans.
    List {
        /// Only people whose name contains this text, or with this NHS number.
        #[arg(long)]
        search: Option<String>,
        /// At most this many people.
        #[arg(long, default_value_t = 100)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Adds a person and starts their (empty, draft) plan.
    Add {
        #[arg(long)]
        given_name: String,
        #[arg(long)]
        family_name: String,
        /// Date of birth, YYYY-MM-DD.
        #[arg(long)]
        date_of_birth: String,
        #[arg(long)]
        nhs_number: Option<String>,
        #[arg(long)]
        preferred_name: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum PlanCommand {
    /// Shows a plan: the current version, or an earlier one exactly as it was.
    Show {
        /// The person: NHS number, person id or plan id.
        person: String,
        /// Show this version instead of the current one.
        #[arg(long)]
        version: Option<u64>,
        /// Also list archived items.
        #[arg(long)]
        archived: bool,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Lists every version of a plan: who, when, what.
    History {
        person: String,
        #[arg(long)]
        json: bool,
    },
    /// Compares two versions of a plan item by item.
    Diff {
        person: String,
        a: u64,
        b: u64,
        #[arg(long)]
        json: bool,
    },
    /// Applies commands from a JSON file (`-` for standard input), one version per command, all
    /// or nothing. The file holds a command, a list of commands, or
    /// {"base_version": N, "reason": "...", "commands": [...]}.
    Apply {
        person: String,
        file: PathBuf,
        /// The version the commands were written against; refused if the plan has moved on.
        #[arg(long)]
        base_version: Option<u64>,
        /// Why the change is made; kept with each version.
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        json: bool,
    },
}

/// mimalloc rather than glibc's allocator: under load `malloc` and its consolidation of large
/// frees were about a tenth of the server's CPU (ARCHITECTURE.md, BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("careplan: {}", one_sentence(&err));
            ExitCode::from(1)
        }
    }
}

/// The error and its causes as one line, without repeating a cause the message already holds.
fn one_sentence(err: &anyhow::Error) -> String {
    let mut out = err.to_string();
    for cause in err.chain().skip(1) {
        let c = cause.to_string();
        if !out.contains(&c) {
            out = format!("{}: {c}", out.trim_end_matches('.'));
        }
    }
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

async fn open(config: &Config) -> anyhow::Result<Store> {
    let store = match &config.database_url {
        Some(url) => Store::open(url).await,
        None => Store::open_data_dir(&config.data_dir).await,
    };
    Ok(store?)
}

/// The CLI acts as the system, on an operator's behalf; the operator's login name is recorded.
fn cli_actor() -> Actor {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "operator".into());
    Actor {
        id: Text::new(&format!("system:cli:{user}")).expect("non-empty"),
        name: Text::new(&format!("careplan CLI ({user})")).expect("non-empty"),
        role: Role::System,
    }
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let store = open(&cli.config).await?;
    let result = dispatch(&store, &cli.config, cli.command).await;
    store.close().await;
    result
}

async fn dispatch(store: &Store, config: &Config, command: Top) -> anyhow::Result<()> {
    match command {
        Top::Serve {
            listen,
            files,
            limit,
            demo,
        } => {
            if demo {
                anyhow::ensure!(
                    listen.ip().is_loopback(),
                    "--demo makes sign-ins with a published password, so it listens only on this \
                     machine: use a loopback address such as 127.0.0.1:8080, not {listen}"
                );
                demo::load(store).await?;
                demo::accounts(store).await?;
            }
            let blobs = files.open(&config.data_dir, limit.max_upload_bytes)?;
            serve(store, blobs, listen).await
        }
        Top::Demo => demo::load(store).await,
        Top::Export {
            person,
            base,
            with_files,
            files,
            ..
        } => {
            let blobs = if with_files {
                // Export reads files; the limit is for files coming in.
                Some(files.open(&config.data_dir, careplan_blobs::DEFAULT_MAX_UPLOAD_BYTES)?)
            } else {
                None
            };
            fhir_cli::export(store, store.system(cli_actor()), &person, &base, blobs).await
        }
        Top::Import {
            file, files, limit, ..
        } => {
            let blobs = files.open(&config.data_dir, limit.max_upload_bytes)?;
            fhir_cli::import(store.system(cli_actor()), &blobs, &file).await
        }
        Top::User(UserCommand::Add {
            name,
            role,
            person,
            organisation,
            display_name,
        }) => {
            users::add(
                store,
                &name,
                &role,
                person.as_deref(),
                organisation.as_deref(),
                display_name.as_deref(),
            )
            .await
        }
        Top::User(UserCommand::List { json }) => users::list(store, json).await,
        Top::User(UserCommand::Disable { name }) => users::set_disabled(store, &name, true).await,
        Top::User(UserCommand::Enable { name }) => users::set_disabled(store, &name, false).await,
        Top::Token(TokenCommand::Revoke) => {
            let mut token = String::new();
            std::io::stdin()
                .read_to_string(&mut token)
                .context("could not read the token from standard input")?;
            users::revoke_token(store, &token).await
        }
        Top::Token(TokenCommand::Create { name, label }) => {
            users::create_token(store, &name, label.as_deref()).await
        }
        Top::Audit(AuditCommand::Verify) => audit::verify(store).await,
        Top::Audit(AuditCommand::List {
            person,
            limit,
            json,
        }) => audit::list(store, person.as_deref(), limit, json).await,
        Top::Person(PersonCommand::List {
            search,
            limit,
            json,
        }) => {
            let people = store.people(search.as_deref(), limit, 0).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&people)?);
            } else {
                print!("{}", render::people(&people));
            }
            Ok(())
        }
        Top::Person(PersonCommand::Add {
            given_name,
            family_name,
            date_of_birth,
            nhs_number,
            preferred_name,
        }) => {
            let text = |what: &str, v: &str| {
                Text::new(v).map_err(|e| anyhow!("the {what} is not valid: {e}"))
            };
            let person = Person {
                given_name: text("given name", &given_name)?,
                family_name: text("family name", &family_name)?,
                preferred_name: preferred_name
                    .as_deref()
                    .map(|p| text("preferred name", p))
                    .transpose()?,
                date_of_birth: parse_date(&date_of_birth)?,
                nhs_number: nhs_number.as_deref().map(NhsNumber::parse).transpose()?,
                other_identifiers: Vec::new(),
            };
            let committed = store.create_plan(&cli_actor(), person, None).await?;
            println!(
                "Started a plan for {} (plan {}, person {}).",
                committed.plan.person.person.display_name(),
                committed.plan.id,
                committed.plan.details.person_id
            );
            Ok(())
        }
        Top::Plan(PlanCommand::Show {
            person,
            version,
            archived,
            json,
        }) => {
            let plan_id = store.find_plan(&person).await?;
            let system = store.system(cli_actor());
            let plan = match version {
                Some(n) => system.version(&plan_id, n).await?.value,
                None => system.current(&plan_id).await?.value,
            };
            let info = store.version_info(&plan_id, plan.version.get()).await?;
            let (latest, _) = store.head(&plan_id).await?;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&render::plan_json(&plan, &info, latest))?
                );
            } else {
                print!("{}", render::plan(&plan, &info, latest, archived));
            }
            Ok(())
        }
        Top::Plan(PlanCommand::History { person, json }) => {
            let plan_id = store.find_plan(&person).await?;
            let plan = store.current(&plan_id).await?;
            let system = store.system(cli_actor());
            let mut versions = Vec::new();
            loop {
                let page = system
                    .history(&plan_id, versions.len() as u64, 500)
                    .await?
                    .value;
                if page.is_empty() {
                    break;
                }
                versions.extend(page);
            }
            if json {
                println!("{}", serde_json::to_string_pretty(&versions)?);
            } else {
                print!("{}", render::history(&plan, &versions));
            }
            Ok(())
        }
        Top::Plan(PlanCommand::Diff { person, a, b, json }) => {
            let plan_id = store.find_plan(&person).await?;
            let diff = store.system(cli_actor()).diff(&plan_id, a, b).await?.value;
            if json {
                println!("{}", serde_json::to_string_pretty(&diff)?);
            } else {
                let plan = store.current(&plan_id).await?;
                print!("{}", render::diff(&plan, &diff));
            }
            Ok(())
        }
        Top::Plan(PlanCommand::Apply {
            person,
            file,
            base_version,
            reason,
            json,
        }) => {
            let plan_id = store.find_plan(&person).await?;
            let batch = read_batch(&file)?;
            let base = match base_version.or(batch.base_version) {
                Some(n) => VersionNumber::new(n)?,
                None => store.head(&plan_id).await?.0,
            };
            let reason = reason.or(batch.reason).map(|r| Text::new(&r)).transpose()?;
            let count = batch.commands.len();
            if count == 0 {
                bail!(
                    "{} holds no commands, so nothing was changed",
                    file.display()
                );
            }
            let committed = store
                .system(cli_actor())
                .apply(&plan_id, base, batch.commands, reason)
                .await
                .map_err(explain_store)?;
            let last = committed.last().expect("at least one").version();
            if json {
                let versions: Vec<u64> = committed.iter().map(|c| c.version().get()).collect();
                println!(
                    "{}",
                    serde_json::json!({ "plan_id": plan_id, "versions": versions })
                );
            } else {
                let first = committed[0].version();
                if count == 1 {
                    println!("Committed version {last}.");
                } else {
                    println!("Committed {count} changes as versions {first} to {last}.");
                }
            }
            Ok(())
        }
    }
}

/// Runs the service until Ctrl-C or SIGTERM, then drains requests under way.
async fn serve(
    store: &Store,
    blobs: careplan_blobs::BlobStore,
    listen: std::net::SocketAddr,
) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_target(false)
        .init();
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("cannot listen on {listen}"))?;
    let address = listener.local_addr()?;
    // Cookies are Secure unless the service is on plain HTTP on this machine only.
    let secure = !address.ip().is_loopback();
    tracing::info!(%address, files = blobs.description(), "careplan is listening");
    println!("careplan is listening on http://{address}");
    let state = careplan_server::AppState::new(store.clone(), blobs, secure);
    careplan_server::serve(listener, state, shutdown_signal()).await?;
    tracing::info!("careplan stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
}

fn explain_store(err: StoreError) -> anyhow::Error {
    match err {
        StoreError::Rejected(issues) => {
            anyhow!(
                "nothing was changed: {}",
                careplan_model::issue::sentences(&issues)
            )
        }
        other => other.into(),
    }
}

#[derive(Debug)]
struct Batch {
    base_version: Option<u64>,
    reason: Option<String>,
    commands: Vec<Command>,
}

/// Reads commands from a file: one command, a list, or an object with `commands`.
fn read_batch(path: &Path) -> anyhow::Result<Batch> {
    let text = if path.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .context("could not read standard input")?;
        s
    } else {
        std::fs::read_to_string(path)
            .with_context(|| format!("could not read {}", path.display()))?
    };
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shape {
        Wrapped(serde_json::Map<String, serde_json::Value>),
        List(Vec<serde_json::Value>),
    }
    let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
        anyhow!(
            "{} is not valid JSON (line {}, column {})",
            path.display(),
            e.line(),
            e.column()
        )
    })?;
    let parse_list =
        |items: Vec<serde_json::Value>, prefix: &str| -> anyhow::Result<Vec<Command>> {
            items
                .into_iter()
                .enumerate()
                .map(|(i, v)| {
                    serde_path_to_error::deserialize::<_, Command>(v).map_err(|e| {
                        let at = e.path().to_string();
                        let at = if at == "." {
                            String::new()
                        } else {
                            format!(", at {at}")
                        };
                        anyhow!(
                            "command {} in {}{prefix} cannot be read{at}: {}",
                            i + 1,
                            path.display(),
                            e.inner()
                        )
                    })
                })
                .collect()
        };
    match serde_json::from_value::<Shape>(value)? {
        Shape::List(items) => Ok(Batch {
            base_version: None,
            reason: None,
            commands: parse_list(items, "")?,
        }),
        Shape::Wrapped(mut map) if map.contains_key("commands") => {
            let commands = match map.remove("commands") {
                Some(serde_json::Value::Array(items)) => parse_list(items, "")?,
                _ => bail!("“commands” in {} must be a list", path.display()),
            };
            let base_version = map
                .remove("base_version")
                .map(|v| {
                    v.as_u64()
                        .ok_or_else(|| anyhow!("“base_version” must be a whole number"))
                })
                .transpose()?;
            let reason = map
                .remove("reason")
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| anyhow!("“reason” must be text"))
                })
                .transpose()?;
            if let Some(key) = map.keys().next() {
                bail!(
                    "{} has an unknown field “{key}”: expected base_version, reason and commands",
                    path.display()
                );
            }
            Ok(Batch {
                base_version,
                reason,
                commands,
            })
        }
        Shape::Wrapped(map) => Ok(Batch {
            base_version: None,
            reason: None,
            commands: parse_list(vec![serde_json::Value::Object(map)], "")?,
        }),
    }
}
