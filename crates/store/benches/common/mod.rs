//! Shared by the store benchmarks: bench databases (a SQLite file under the target directory, a
//! fresh PostgreSQL database per run), plans of N needs, and a stream of one-item edits.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use careplan_model::{Actor, Command, PlanId, Role, Text, VersionNumber};
use careplan_store::Store;
use serde_json::json;
use sqlx::{AnyConnection, Connection, Executor, Row};

/// Commands per `apply_all` when building histories: one transaction, one version each.
pub const BATCH: usize = 200;

/// The PRAGMAs the store sets on every SQLite connection (crates/store/src/lib.rs); the raw
/// baseline uses the same, so both pay the same fsync per commit.
pub const SQLITE_PRAGMAS: &str = "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
     PRAGMA busy_timeout = 10000; PRAGMA foreign_keys = ON;";

/// True under `cargo bench` (which passes `--bench`); false under `cargo test --benches`, where
/// the benches only check that they run, on small histories.
pub fn full_run() -> bool {
    std::env::args().any(|a| a == "--bench")
}

/// The cargo target directory: `$CARGO_TARGET_DIR`, else the workspace's `target`.
pub fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"))
}

pub fn actor() -> Actor {
    Actor {
        id: Text::new("bench:nurse").unwrap(),
        name: Text::new("Bench Nurse").unwrap(),
        role: Role::Practitioner,
    }
}

pub fn cmd(value: serde_json::Value) -> Command {
    serde_json::from_value(value).expect("valid command JSON")
}

/// Text of exactly `len` characters (`len` ≥ 1) that does not compress: pseudo-random lowercase
/// words, so PostgreSQL's TOAST compression cannot hide the size of a long description.
pub fn prose(seed: u64, len: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut s = String::with_capacity(len);
    let mut word = 0;
    while s.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let end = s.len() + 1 == len;
        if word >= 3 && !end && x.is_multiple_of(7) {
            s.push(' ');
            word = 0;
        } else {
            s.push(char::from(b'a' + (x % 26) as u8));
            word += 1;
        }
    }
    s
}

/// The mean time, in microseconds, to make one 4 KiB page durable on the disk holding `dir`:
/// a write over an existing page of a file there, then `fdatasync`, as SQLite's WAL commit does
/// (it overwrites the log after each checkpoint). Every durable commit pays this once, so the
/// ratio of an edit to the raw insert depends on it: the bench prints it beside the ratio.
pub fn page_sync_micros(dir: &Path) -> f64 {
    use std::io::{Seek, SeekFrom, Write};
    const PAGE: usize = 4096;
    const PAGES: u64 = 64;
    const ROUNDS: u32 = 300;
    let path = dir.join("page-sync.probe");
    let mut file = std::fs::File::create(&path).expect("create the sync probe");
    file.write_all(&vec![0u8; PAGE * PAGES as usize]).unwrap();
    file.sync_all().unwrap();
    let page = vec![0x5a_u8; PAGE];
    let mut once = |i: u32| {
        file.seek(SeekFrom::Start((u64::from(i) % PAGES) * PAGE as u64))
            .unwrap();
        file.write_all(&page).unwrap();
        file.sync_data().unwrap();
    };
    (0..20).for_each(&mut once);
    let start = std::time::Instant::now();
    (0..ROUNDS).for_each(&mut once);
    let micros = start.elapsed().as_secs_f64() * 1e6 / f64::from(ROUNDS);
    drop(file);
    std::fs::remove_file(&path).ok();
    micros
}

/// A database for one bench run. SQLite lives in a temporary directory under the target
/// directory (the same disk as the work tree); PostgreSQL gets a fresh database, dropped after.
pub struct BenchDb {
    pub url: String,
    pub backend: &'static str,
    dir: Option<tempfile::TempDir>,
    drop_db: Option<(String, String)>,
}

impl BenchDb {
    pub fn sqlite() -> BenchDb {
        let parent = target_dir().join("bench-tmp");
        std::fs::create_dir_all(&parent).expect("create target/bench-tmp");
        let dir = tempfile::Builder::new()
            .prefix("careplan-bench-")
            .tempdir_in(&parent)
            .expect("temporary directory");
        let url = careplan_store::sqlite_url(&dir.path().join(careplan_store::SQLITE_FILE));
        BenchDb {
            url,
            backend: "sqlite",
            dir: Some(dir),
            drop_db: None,
        }
    }

    /// A new, empty PostgreSQL database `careplan_bench_<random>`, or `None` with a loud message
    /// when the server cannot be reached.
    pub async fn postgres() -> Option<BenchDb> {
        let admin = std::env::var("CAREPLAN_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        sqlx::any::install_default_drivers();
        let mut conn = match AnyConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!(
                    "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                     !!! SKIPPING the PostgreSQL benchmarks: cannot reach {admin}: {e}\n\
                     !!! Start PostgreSQL or set CAREPLAN_TEST_POSTGRES_URL to run them.\n\
                     !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
                );
                return None;
            }
        };
        let name = format!("careplan_bench_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("CREATE DATABASE");
        conn.close().await.ok();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(b, _)| b)
            .to_owned();
        Some(BenchDb {
            url: format!("{base}/{name}"),
            backend: "postgres",
            dir: None,
            drop_db: Some((admin, name)),
        })
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.url).await.expect("store opens")
    }

    /// The SQLite data directory, for side files such as the raw-insert baseline.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// The store's SQLite file.
    pub fn sqlite_file(&self) -> Option<PathBuf> {
        self.dir().map(|d| d.join(careplan_store::SQLITE_FILE))
    }

    /// A plain connection to the same database, for measuring and for the baselines. On SQLite
    /// it has the store's PRAGMAs.
    pub async fn connect(&self) -> AnyConnection {
        connect(&self.url, self.backend == "sqlite").await
    }

    /// Drops the PostgreSQL database (the SQLite directory goes with the value).
    pub async fn cleanup(self) {
        if let Some((admin, name)) = &self.drop_db
            && let Ok(mut conn) = AnyConnection::connect(admin).await
        {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            if let Err(e) = sqlx::query(sqlx::AssertSqlSafe(drop))
                .execute(&mut conn)
                .await
            {
                eprintln!("could not drop the bench database {name}: {e}");
            }
        }
    }
}

pub async fn connect(url: &str, sqlite: bool) -> AnyConnection {
    sqlx::any::install_default_drivers();
    let mut conn = AnyConnection::connect(url).await.expect("connect");
    if sqlite {
        conn.execute(SQLITE_PRAGMAS).await.expect("PRAGMAs");
    }
    conn
}

/// What a stream of one-item edits changes.
#[derive(Debug, Clone, Copy)]
pub enum EditKind {
    /// Toggle one need's importance between 5 and 6: a small command, the whole need rewritten.
    Importance,
    /// Replace one need's description with another of this many characters.
    Description(usize),
}

/// A plan of needs `need-0` … `need-{n-1}` and the next edit to make to it.
#[derive(Debug)]
pub struct Editor {
    pub plan: PlanId,
    pub version: VersionNumber,
    /// The first version with every need in it.
    pub full_at: VersionNumber,
    needs: usize,
    kind: EditKind,
    made: usize,
    long: [String; 2],
}

impl Editor {
    /// Creates a plan and adds `needs` needs, each described in `description_chars` characters
    /// (short, distinct ones when 0), in batches of [`BATCH`].
    pub async fn create(
        store: &Store,
        label: &str,
        needs: usize,
        description_chars: usize,
        kind: EditKind,
    ) -> Editor {
        let actor = actor();
        let person = serde_json::from_value(json!({
            "given_name": format!("Bench {label}"), "family_name": "Plan", "date_of_birth": "1950-01-02"
        }))
        .unwrap();
        let created = store.create_plan(&actor, person, None).await.unwrap();
        let plan = created.plan.id.clone();
        let mut version = created.version();
        let adds: Vec<Command> = (0..needs)
            .map(|i| {
                let description = if description_chars == 0 {
                    format!("Need {i}: help with getting dressed in the morning")
                } else {
                    prose(i as u64 + 1, description_chars)
                };
                cmd(json!({"type": "add_need", "id": format!("need-{i}"),
                           "description": description, "importance": 5}))
            })
            .collect();
        for batch in adds.chunks(BATCH) {
            let done = store
                .apply_all(&plan, version, &actor, batch.to_vec(), None)
                .await
                .unwrap();
            version = done.last().unwrap().version();
        }
        let long = match kind {
            EditKind::Description(n) => [prose(1_000_001, n), prose(1_000_002, n)],
            EditKind::Importance => [String::new(), String::new()],
        };
        Editor {
            plan,
            version,
            full_at: version,
            needs,
            kind,
            made: 0,
            long,
        }
    }

    /// The next one-item edit: round-robin over the needs, always a real change.
    pub fn next_command(&mut self) -> Command {
        let need = self.made % self.needs;
        let round = self.made / self.needs;
        self.made += 1;
        let id = format!("need-{need}");
        match self.kind {
            EditKind::Importance => cmd(json!({"type": "edit_need", "id": id,
                                               "importance": if round.is_multiple_of(2) { 6 } else { 5 }})),
            EditKind::Description(_) => cmd(json!({"type": "edit_need", "id": id,
                                                   "description": self.long[round % 2]})),
        }
    }

    /// The next `n` edits' commands, made ahead so that a timing covers the store's work
    /// alone, not building and parsing JSON.
    pub fn next_commands(&mut self, n: u64) -> Vec<Command> {
        (0..n).map(|_| self.next_command()).collect()
    }

    /// Makes one edit through `Store::apply`: one durable commit.
    pub async fn edit(&mut self, store: &Store) {
        let command = self.next_command();
        self.apply(store, command).await;
    }

    /// Applies `command` (from [`Editor::next_commands`]) through `Store::apply`: one durable
    /// commit.
    pub async fn apply(&mut self, store: &Store, command: Command) {
        let committed = store
            .apply(&self.plan, self.version, &actor(), command, None)
            .await
            .unwrap();
        self.version = committed.version();
    }

    /// Makes `count` edits with `apply_all` in batches of [`BATCH`] (one version each).
    pub async fn edit_many(&mut self, store: &Store, count: usize) {
        let actor = actor();
        let mut left = count;
        while left > 0 {
            let n = left.min(BATCH);
            let commands: Vec<Command> = (0..n).map(|_| self.next_command()).collect();
            let done = store
                .apply_all(&self.plan, self.version, &actor, commands, None)
                .await
                .unwrap();
            self.version = done.last().unwrap().version();
            left -= n;
        }
    }
}

/// What the newest version of `plan` stored: (the body of the item row it wrote, its command).
/// The item row is the current row with the highest `valid_from`.
pub async fn newest_version(conn: &mut AnyConnection, plan: &PlanId) -> (String, String) {
    let body = sqlx::query(
        "SELECT body FROM plan_items_current WHERE plan_id = $1 ORDER BY valid_from DESC LIMIT 1",
    )
    .bind(plan.as_str())
    .fetch_one(&mut *conn)
    .await
    .unwrap()
    .get::<String, _>(0);
    let command = sqlx::query(
        "SELECT command FROM plan_versions WHERE plan_id = $1 ORDER BY number DESC LIMIT 1",
    )
    .bind(plan.as_str())
    .fetch_one(&mut *conn)
    .await
    .unwrap()
    .get::<String, _>(0);
    (body, command)
}

/// The baseline: one autocommit `INSERT` of one row per call. On SQLite it writes to its own file
/// `raw.sqlite3` next to the store's, with the store's PRAGMAs (checked); on PostgreSQL to its
/// own table in the bench database.
pub struct RawInsert {
    pub conn: AnyConnection,
    /// The SQLite file, for measuring its WAL.
    pub file: Option<PathBuf>,
    body: String,
    n: i64,
}

impl RawInsert {
    pub async fn set_up(db: &BenchDb, body: String) -> RawInsert {
        let (mut conn, file) = match db.dir() {
            Some(dir) => {
                let file = dir.join("raw.sqlite3");
                let url = careplan_store::sqlite_url(&file);
                (connect(&url, true).await, Some(file))
            }
            None => (connect(&db.url, false).await, None),
        };
        conn.execute(
            "CREATE TABLE raw_insert (id BIGINT NOT NULL PRIMARY KEY, plan_id TEXT NOT NULL, \
             at TEXT NOT NULL, body TEXT NOT NULL)",
        )
        .await
        .expect("create raw_insert");
        if file.is_some() {
            let journal: String = sqlx::query("PRAGMA journal_mode")
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get(0);
            let synchronous: i64 = sqlx::query("PRAGMA synchronous")
                .fetch_one(&mut conn)
                .await
                .unwrap()
                .get(0);
            assert_eq!((journal.as_str(), synchronous), ("wal", 2), "WAL, FULL");
        }
        RawInsert {
            conn,
            file,
            body,
            n: 0,
        }
    }

    pub fn body_len(&self) -> usize {
        self.body.len()
    }

    pub async fn insert(&mut self) {
        self.n += 1;
        sqlx::query("INSERT INTO raw_insert (id, plan_id, at, body) VALUES ($1, $2, $3, $4)")
            .bind(self.n)
            .bind(BY_HAND_PLAN)
            .bind("2026-01-01T00:00:00.000000Z")
            .bind(self.body.as_str())
            .execute(&mut self.conn)
            .await
            .unwrap();
    }
}

/// The SQL of one edit of an existing item, statement for statement as `Store::apply_all` and
/// `write_version` (crates/store/src/write.rs) commit it when the head cache holds the base
/// version, with rows of the same size, on a plain connection: no pool, no model, no encoding.
///
/// 1. `BEGIN IMMEDIATE` (SQLite) or `BEGIN` (PostgreSQL);
/// 2. `INSERT INTO plan_versions` (the optimistic lock: its primary key refuses a taken number;
///    the plan's head is its last version row);
/// 3. `INSERT INTO plan_items_history … SELECT … FROM plan_items_current` (the old state);
/// 4. `UPDATE plan_items_current SET valid_from, format, body` (the new state);
/// 5. `COMMIT`.
pub struct ByHand {
    pub conn: AnyConnection,
    sqlite: bool,
    version: i64,
    body: String,
    command: String,
}

pub const BY_HAND_PLAN: &str = "bench-by-hand";

impl ByHand {
    /// A plan row and one current need row, in the store's database (migrated by the store).
    pub async fn set_up(db: &BenchDb, body: String, command: String) -> ByHand {
        let mut conn = db.connect().await;
        sqlx::query(
            "INSERT INTO plans (id, person_id, created_at, nhs_number, \
             given_name, family_name, date_of_birth, search_name) \
             VALUES ($1, $1, $2, NULL, 'By', 'Hand', '1950-01-02', 'by hand')",
        )
        .bind(BY_HAND_PLAN)
        .bind("2026-01-01T00:00:00.000000Z")
        .execute(&mut conn)
        .await
        .unwrap();
        sqlx::query(
            "INSERT INTO plan_items_current (plan_id, kind, item_id, valid_from, added_in, format, body) \
             VALUES ($1, 'need', 'need-0', 1, 1, 1, $2)",
        )
        .bind(BY_HAND_PLAN)
        .bind(body.as_str())
        .execute(&mut conn)
        .await
        .unwrap();
        ByHand {
            conn,
            sqlite: db.backend == "sqlite",
            version: 1,
            body,
            command,
        }
    }

    pub async fn commit(&mut self) {
        let base = self.version;
        let version = base + 1;
        let at = "2026-01-01T00:00:00.000000Z";
        let mut tx = if self.sqlite {
            self.conn.begin_with("BEGIN IMMEDIATE").await.unwrap()
        } else {
            self.conn.begin().await.unwrap()
        };
        sqlx::query(
            "INSERT INTO plan_versions (plan_id, number, at, actor_id, actor_name, actor_role, format, command, reason) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        )
        .bind(BY_HAND_PLAN)
        .bind(version)
        .bind(at)
        .bind("bench:nurse")
        .bind("Bench Nurse")
        .bind("practitioner")
        .bind(1_i64)
        .bind(self.command.as_str())
        .bind(None::<String>)
        .execute(&mut *tx)
        .await
        .unwrap();
        let moved = sqlx::query(
            "INSERT INTO plan_items_history (plan_id, valid_from, kind, item_id, valid_to, format, body) \
             SELECT plan_id, valid_from, kind, item_id, $1, format, body FROM plan_items_current \
             WHERE plan_id = $2 AND kind = $3 AND item_id = $4",
        )
        .bind(version)
        .bind(BY_HAND_PLAN)
        .bind("need")
        .bind("need-0")
        .execute(&mut *tx)
        .await
        .unwrap();
        assert_eq!(moved.rows_affected(), 1);
        sqlx::query(
            "UPDATE plan_items_current SET valid_from = $1, format = $2, body = $3 \
             WHERE plan_id = $4 AND kind = $5 AND item_id = $6",
        )
        .bind(version)
        .bind(1_i64)
        .bind(self.body.as_str())
        .bind(BY_HAND_PLAN)
        .bind("need")
        .bind("need-0")
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        self.version = version;
    }
}

/// The size of a SQLite database's WAL file (0 if there is none).
pub fn wal_len(db_file: &Path) -> u64 {
    let mut wal = db_file.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).map_or(0, |m| m.len())
}
