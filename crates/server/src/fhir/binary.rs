//! `GET /fhir/Binary/{id}`: an attached file's bytes, as PRODUCT.md maps them ("`Binary` for
//! bytes"). `id` is the attachment's, the id of its DocumentReference.
//!
//! With `Accept: application/fhir+json` (or `_format=json`) the answer is a `Binary` resource:
//! the file as base64 `data`, its `contentType`, and `securityContext` naming the
//! DocumentReference. With any other `Accept` (a browser's, an image type, none) it is the file
//! itself, with the headers the JSON API serves it with. The read goes through the requester's
//! handle, so it is audited and the person's consent preferences apply, as for the
//! DocumentReference.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use careplan_fhir::ResourceKind;
use careplan_model::ItemId;
use futures_util::TryStreamExt;
use serde_json::json;

use super::read::locate;
use super::{FhirError, FhirResult, TRANSACTION_LIMIT, etag, fhir_response, params_of};
use crate::extract::Reader;
use crate::{AppState, Problem};

/// Whether the client asked for the Binary resource rather than the file.
fn wants_resource(uri: &Uri, headers: &HeaderMap) -> bool {
    let format = params_of(uri)
        .into_iter()
        .find(|(n, _)| n == "_format")
        .map(|(_, v)| v);
    if let Some(f) = format {
        return matches!(
            f.as_str(),
            "json" | "application/json" | "application/fhir+json"
        );
    }
    headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("application/fhir+json") || a.contains("application/json"))
}

/// `GET /fhir/Binary/{id}`.
pub(crate) async fn read(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    uri: Uri,
    reader: Result<Reader, Problem>,
) -> FhirResult<Response> {
    let h = reader?.handle(&state);
    let missing = || FhirError::not_found(format!("There is no Binary “{id}” that you may see"));
    let plan_id = locate(&h, ResourceKind::DocumentReference, &id).await?;
    let viewed = h.current(&plan_id).await?;
    let item = ItemId::parse(&id).map_err(|_| missing())?;
    let attachment = viewed
        .value
        .attachments
        .get(&item)
        .ok_or_else(missing)?
        .clone();
    if let Some(archived) = &attachment.meta.archived {
        return Err(FhirError::not_found(format!(
            "The attachment “{id}” was archived at version {}: its file is read through the JSON API at an earlier version",
            archived.stamp.version
        )));
    }
    let stream = crate::attachments::read_file(&state, &attachment, None).await?;
    if !wants_resource(&uri, &headers) {
        let mut out = crate::attachments::file_headers(&attachment, false);
        out.insert(header::CONTENT_LENGTH, attachment.size_bytes.into());
        let body = Body::from_stream(stream.map_err(std::io::Error::other));
        return Ok((StatusCode::OK, out, body).into_response());
    }
    if attachment.size_bytes > TRANSACTION_LIMIT as u64 {
        return Err(FhirError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too-costly",
            format!(
                "The file is {} bytes, too large to send as base64 in JSON: ask for it with Accept: {}",
                attachment.size_bytes, attachment.content_type
            ),
        ));
    }
    let chunks: Vec<bytes::Bytes> = stream.try_collect().await.map_err(|e| {
        tracing::error!(error = %e, "an attachment's file could not be read whole");
        FhirError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "exception",
            "The service could not read the file",
        )
    })?;
    let data = base64::engine::general_purpose::STANDARD.encode(chunks.concat());
    let plan = &viewed.value;
    let binary = json!({
        "resourceType": "Binary",
        "id": id,
        "meta": {"versionId": plan.version.to_string(), "lastUpdated": plan.last_updated.to_string()},
        "contentType": attachment.content_type,
        "securityContext": {"reference": format!("DocumentReference/{id}")},
        "data": data,
    });
    let mut response = fhir_response(StatusCode::OK, &binary);
    response
        .headers_mut()
        .insert(header::ETAG, etag(plan.version.get()));
    Ok(response)
}
