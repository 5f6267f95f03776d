//! The web interface alone, on a fresh temporary store holding a fictional plan: for looking
//! at the pages (and screenshots) without the rest of the service.
//!
//! ```sh
//! cargo run -p careplan-web --example serve -- 127.0.0.1:8099
//! ```
//! Sign in as `priya` (practitioner), `edith` (the person), `susan` (representative), `dana`
//! (data controller) or `gary` (a practitioner not on the care team), each with the password
//! `a-long-password-for-tests`.

#[path = "../tests/support/fixture.rs"]
mod fixture;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use careplan_store::Store;
use careplan_store::accounts::LoginLimiter;

#[tokio::main]
async fn main() {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:8099".into());
    let dir = tempfile::tempdir().expect("temporary directory");
    let store = Store::open_data_dir(dir.path()).await.expect("store");
    let f = fixture::build(&store).await;
    let state = careplan_web::WebState::new(
        store,
        careplan_blobs::BlobStore::local(
            &dir.path().join("blobs"),
            careplan_blobs::DEFAULT_MAX_UPLOAD_BYTES,
        )
        .expect("blob store"),
        Arc::new(LoginLimiter::default()),
        false,
        Duration::from_secs(8 * 60 * 60),
    );
    let app: axum::Router = careplan_web::router(state);
    let listener = tokio::net::TcpListener::bind(&listen).await.expect("bind");
    println!(
        "http://{listen}/ — Edith's plan is /people/{}; password {}",
        f.person_id,
        fixture::PASSWORD
    );
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .await
    .expect("serve");
}
