//! The real server on a random loopback port with a fresh store (SQLite, or a new PostgreSQL
//! database), and typed helpers.

#![allow(dead_code)]

use careplan_model::{PersonId, Role};
use careplan_server::AppState;
use careplan_store::Store;
use careplan_store::accounts::NewAccount;
use reqwest::StatusCode;
use serde_json::Value;

pub struct App {
    pub base: String,
    pub store: Store,
    pub http: reqwest::Client,
    /// The blob store behind the service (a temporary directory).
    pub blobs: careplan_blobs::BlobStore,
    _blobs_dir: tempfile::TempDir,
    _dir: Option<tempfile::TempDir>,
    _stop: tokio::sync::oneshot::Sender<()>,
    /// The PostgreSQL server and database to drop when done.
    drop_db: Option<(String, String)>,
}

/// Starts the service on 127.0.0.1:0 with an empty SQLite store.
pub async fn spawn_app() -> App {
    spawn_app_with_upload_limit(careplan_blobs::DEFAULT_MAX_UPLOAD_BYTES).await
}

/// Starts the service on 127.0.0.1:0 with an empty SQLite store and this upload limit.
pub async fn spawn_app_with_upload_limit(max_upload_bytes: u64) -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    serve(store, Some(dir), max_upload_bytes).await
}

/// Starts the service on 127.0.0.1:0 with a new, empty PostgreSQL database (named
/// `careplan_api_<random>`, dropped by [`App::cleanup`]), or `None` with a loud message
/// when there is no server and this is not CI. `CAREPLAN_TEST_POSTGRES_URL` names the server
/// (default `postgres://postgres@127.0.0.1:5432/test`).
pub async fn spawn_app_postgres() -> Option<App> {
    use sqlx::Connection;
    let admin = std::env::var("CAREPLAN_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    sqlx::any::install_default_drivers();
    let mut conn = match sqlx::AnyConnection::connect(&admin).await {
        Ok(c) => c,
        Err(e) => {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("PostgreSQL tests must run in CI, but {admin} cannot be reached: {e}");
            }
            eprintln!("\n!!! SKIPPING PostgreSQL API test: cannot reach {admin}: {e}\n");
            return None;
        }
    };
    let name = format!(
        "careplan_api_{}",
        careplan_store::new_plan_id().as_str().replace('-', "_")
    );
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let base = admin.rsplit_once('/').map_or(admin.as_str(), |(b, _)| b);
    let store = Store::open(&format!("{base}/{name}")).await.unwrap();
    let mut app = serve(store, None, careplan_blobs::DEFAULT_MAX_UPLOAD_BYTES).await;
    app.drop_db = Some((admin.clone(), name));
    Some(app)
}

async fn serve(store: Store, dir: Option<tempfile::TempDir>, max_upload_bytes: u64) -> App {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let blobs_dir = tempfile::tempdir().unwrap();
    let blobs = careplan_blobs::BlobStore::local(blobs_dir.path(), max_upload_bytes).unwrap();
    let state = AppState::new(store.clone(), blobs.clone(), false);
    tokio::spawn(careplan_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    App {
        base,
        store,
        http: reqwest::Client::new(),
        blobs,
        _blobs_dir: blobs_dir,
        _dir: dir,
        _stop: stop,
        drop_db: None,
    }
}

impl App {
    /// The data directory of a SQLite app (`None` on PostgreSQL): open a second store on it to
    /// act as another process would.
    pub fn data_dir(&self) -> Option<&std::path::Path> {
        self._dir.as_ref().map(tempfile::TempDir::path)
    }

    /// Stops using the store and drops its PostgreSQL database, if it has one.
    pub async fn cleanup(self) {
        use sqlx::Connection;
        self.store.close().await;
        if let Some((admin, name)) = &self.drop_db {
            let mut conn = sqlx::AnyConnection::connect(admin).await.unwrap();
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&mut conn)
            .await
            .unwrap();
        }
    }

    /// A practitioner ("nurse", Community Nursing) adds Ada Lovelace (NHS 943 476 5919), joining
    /// her care team: the nurse's token and the created document (person_id, plan_id, version).
    pub async fn nurse_adds_ada(&self) -> (String, Value) {
        let nurse = self
            .account("nurse", Role::Practitioner, None, Some("Community Nursing"))
            .await;
        let (status, created) = self
            .post(
                &nurse,
                "/api/v1/people",
                None,
                serde_json::json!({"person": {"given_name": "Ada", "family_name": "Lovelace",
                "date_of_birth": "1950-12-10", "nhs_number": "943 476 5919"}}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{created}");
        (nurse, created)
    }

    /// Adds an account and returns a bearer token for it.
    pub async fn account(
        &self,
        username: &str,
        role: Role,
        person: Option<&PersonId>,
        organisation: Option<&str>,
    ) -> String {
        self.store
            .create_account(NewAccount {
                username: username.into(),
                display_name: None,
                role,
                person_id: person.cloned(),
                organisation: organisation.map(str::to_owned),
                password: Some(format!("{username}-password-long")),
            })
            .await
            .unwrap();
        self.store.create_token(username, "tests").await.unwrap().0
    }

    pub async fn get(
        &self,
        token: &str,
        path: &str,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let (status, headers) = (r.status(), r.headers().clone());
        (status, r.json().await.unwrap_or(Value::Null), headers)
    }

    pub async fn post(
        &self,
        token: &str,
        path: &str,
        if_match: Option<u64>,
        body: Value,
    ) -> (StatusCode, Value) {
        let mut req = self
            .http
            .post(format!("{}{path}", self.base))
            .bearer_auth(token)
            .json(&body);
        if let Some(v) = if_match {
            req = req.header("If-Match", format!("W/\"{v}\""));
        }
        let r = req.send().await.unwrap();
        let status = r.status();
        if status.is_client_error() || status.is_server_error() {
            assert_eq!(
                r.headers()
                    .get("content-type")
                    .and_then(|v| v.to_str().ok()),
                Some("application/problem+json"),
                "errors are problem+json"
            );
        }
        (status, r.json().await.unwrap_or(Value::Null))
    }
}
