//! The embedded NHS.UK design system (CSS, JavaScript, icons) and our own stylesheet, served
//! under a prefix named after their content, so browsers may keep them for a year.

use axum::extract::Path;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

include!(concat!(env!("OUT_DIR"), "/assets.rs"));

/// The address of an embedded asset, e.g. `asset("nhsuk.css")`.
pub fn asset(name: &str) -> String {
    format!("{ASSET_PREFIX}/{name}")
}

/// `GET /assets/{prefix}/{name}`.
pub async fn serve(Path(path): Path<String>) -> Response {
    let prefix = ASSET_PREFIX.trim_start_matches("/assets/");
    let found = path
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('/'))
        .and_then(|name| ASSETS.iter().find(|(n, _, _)| *n == name));
    match found {
        Some((_, bytes, content_type)) => {
            let mut response = (*bytes).into_response();
            let headers = response.headers_mut();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
            headers.insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=31536000, immutable"),
            );
            headers.insert(
                header::X_CONTENT_TYPE_OPTIONS,
                HeaderValue::from_static("nosniff"),
            );
            response
        }
        None => (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-store")],
            "There is no such file",
        )
            .into_response(),
    }
}
