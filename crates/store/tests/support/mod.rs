//! Test databases: a temporary SQLite file, and a fresh PostgreSQL database per test.
//!
//! PostgreSQL tests use `CAREPLAN_TEST_POSTGRES_URL` (default: the local server's `test`
//! database). When it cannot be reached they fail in CI (`CI=true`) and are skipped loudly
//! elsewhere.

#![allow(dead_code)]

use careplan_model::{Actor, Role, Text};
use careplan_store::Store;
use sqlx::Connection;

pub fn actor(name: &str, role: Role) -> Actor {
    Actor {
        id: Text::new(&format!("test:{name}")).unwrap(),
        name: Text::new(name).unwrap(),
        role,
    }
}

pub struct TestDb {
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    drop_db: Option<(String, String)>,
}

/// Every database the suite runs against here: SQLite always, PostgreSQL when it can be reached.
pub async fn databases() -> Vec<TestDb> {
    [Some(TestDb::sqlite()), TestDb::postgres().await]
        .into_iter()
        .flatten()
        .collect()
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().unwrap();
        let url = careplan_store::sqlite_url(&dir.path().join("careplan.sqlite3"));
        TestDb {
            url,
            _dir: Some(dir),
            drop_db: None,
        }
    }

    /// A new, empty PostgreSQL database, or `None` (with a loud message) when there is no server
    /// and this is not CI.
    pub async fn postgres() -> Option<TestDb> {
        let admin = std::env::var("CAREPLAN_TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        sqlx::any::install_default_drivers();
        let mut conn = match sqlx::AnyConnection::connect(&admin).await {
            Ok(c) => c,
            Err(e) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("PostgreSQL tests must run in CI, but {admin} cannot be reached: {e}");
                }
                eprintln!(
                    "\n!!! SKIPPING PostgreSQL test: cannot reach {admin}: {e}\n!!! Set CAREPLAN_TEST_POSTGRES_URL or start PostgreSQL to run it.\n"
                );
                return None;
            }
        };
        let name = format!("careplan_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .unwrap();
        let base = admin
            .rsplit_once('/')
            .map_or(admin.as_str(), |(b, _)| b)
            .to_owned();
        let url = format!("{base}/{name}");
        Some(TestDb {
            url,
            _dir: None,
            drop_db: Some((admin, name)),
        })
    }

    pub async fn open(&self) -> Store {
        Store::open(&self.url).await.expect("store opens")
    }

    /// Drops the PostgreSQL database (the SQLite directory goes with the value).
    pub async fn cleanup(self) {
        if let Some((admin, name)) = &self.drop_db
            && let Ok(mut conn) = sqlx::AnyConnection::connect(admin).await
        {
            let drop = format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)");
            let _ = sqlx::query(sqlx::AssertSqlSafe(drop))
                .execute(&mut conn)
                .await;
        }
    }
}
