//! The real server on a random loopback port with a fresh SQLite store, and typed helpers.

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
    _dir: tempfile::TempDir,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// Starts the service on 127.0.0.1:0 with an empty store.
pub async fn spawn_app() -> App {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open_data_dir(dir.path()).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let state = AppState::new(store.clone(), false);
    tokio::spawn(careplan_server::serve(listener, state, async {
        let _ = stopped.await;
    }));
    App {
        base,
        store,
        http: reqwest::Client::new(),
        _dir: dir,
        _stop: stop,
    }
}

impl App {
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
