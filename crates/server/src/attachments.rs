//! Attachments (CSP-2): uploading a file onto the plan, a section or an item, and downloading it
//! again, whole or by byte range.
//!
//! An upload is one request whose body is the file itself (streamed, never held whole) and whose
//! query names the record: title, purpose and what it is attached to. The work is
//! `Handle::attach_file` (careplan-store `attach.rs`, shared with the web form): checks before
//! the body is read, the file staged and kept, the record committed, or nothing left behind.
//!
//! Downloads read the plan as the requester may see it (consent, releases and the audit trail
//! apply as to any read), so an attachment in a withheld section cannot be fetched.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use careplan_blobs::{RangeRequest, UploadError};
use careplan_model::attachment::{Attachment, Purpose};
use careplan_model::comment::Target;
use careplan_model::{ItemId, Text};
use careplan_store::attach::{AttachError, NewFile};
use futures_util::TryStreamExt;
use futures_util::stream::BoxStream;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::IntoParams;

use crate::AppState;
use crate::api::{etag, handle, if_match};
use crate::extract::{Query, Signed};
use crate::openapi;
use crate::problem::{ApiResult, Problem};

/// What an uploaded file is and where it goes; the file is the request body.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct NewAttachment {
    /// What the file is called in the plan, e.g. "Exercises from the physiotherapist".
    title: String,
    /// Why it is attached: guidance, learning_material, explanatory_note, progress_picture,
    /// diagram, recording, document or other.
    purpose: String,
    /// What it is attached to: plan (the default), section or item.
    #[serde(default)]
    on: Option<String>,
    /// With on=section: the section, e.g. goals.
    #[serde(default)]
    section: Option<String>,
    /// With on=item: the item's id, e.g. goal-walk.
    #[serde(default)]
    item: Option<String>,
    /// A text alternative for an image, diagram or clip (what it shows or says).
    #[serde(default)]
    description: Option<String>,
    /// An id for the attachment (made up when absent).
    #[serde(default)]
    id: Option<String>,
    /// Why the plan changes, kept with the version.
    #[serde(default)]
    reason: Option<String>,
}

impl NewAttachment {
    fn target(&self) -> ApiResult<Target> {
        Target::from_parts(
            self.on.as_deref(),
            self.section.as_deref(),
            self.item.as_deref(),
        )
        .map_err(Problem::bad_request)
    }

    fn purpose(&self) -> ApiResult<Purpose> {
        serde_json::from_value(json!(self.purpose)).map_err(|_| {
            Problem::bad_request(format!(
                "purpose must be one of guidance, learning_material, explanatory_note, \
                 progress_picture, diagram, recording, document or other, not “{}”",
                self.purpose
            ))
        })
    }
}

fn text(field: &str, value: &str) -> ApiResult<Text> {
    Text::new(value).map_err(|e| Problem::bad_request(format!("{field}: {e}")))
}

/// The record the query describes.
fn new_file(q: &NewAttachment) -> ApiResult<NewFile> {
    Ok(NewFile {
        id: q
            .id
            .as_deref()
            .map(|id| ItemId::parse(id).map_err(|e| Problem::bad_request(format!("id: {e}"))))
            .transpose()?,
        target: q.target()?,
        title: text("title", &q.title)?,
        purpose: q.purpose()?,
        description: q
            .description
            .as_deref()
            .map(|d| text("description", d))
            .transpose()?,
    })
}

fn upload_problem(err: UploadError) -> Problem {
    let detail = err.to_string();
    match err {
        UploadError::TooLarge { .. } => Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "/problems/too-large",
            "The file is too large",
            detail,
        ),
        UploadError::NotAllowed { .. } | UploadError::Contradicts { .. } => Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "/problems/file-type",
            "This kind of file cannot be attached",
            detail,
        ),
        UploadError::Empty | UploadError::Interrupted(_) | UploadError::BadImage(_) => {
            Problem::bad_request(detail)
        }
        UploadError::Storage(e) => {
            tracing::error!(error = %e, "blob store failure");
            Problem::internal()
        }
    }
}

/// Attach a file to the plan, a section or an item (CSP-2). The body is the file; its
/// Content-Type is checked against its bytes. Makes one new plan version.
#[utoipa::path(
    post,
    path = "/people/{person}/plan/attachments",
    tag = "plans",
    params(
        ("person" = String, Path, description = "NHS number, person id or plan id"),
        ("If-Match" = String, Header, description = "The plan version the upload is based on, e.g. W/\"12\""),
        NewAttachment,
    ),
    request_body(content = Vec<u8>, description = "The file's bytes. Accepted: photos and images (JPEG, PNG, GIF, WebP), PDF, plain text, office documents, audio and video. Location data is removed from photos.", content_type = "application/octet-stream"),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 201, description = "Attached: the new version and the attachment record", body = Object,
            headers(("ETag" = String, description = "The plan's new version"), ("Location" = String, description = "Where to download the file"))),
        (status = 400, description = "The request could not be read: a bad query, an empty or interrupted upload", body = Problem, content_type = "application/problem+json"),
        openapi::SignInRequired,
        openapi::NotAllowedOrNoCsrf,
        (status = 404, description = "No such person or plan", body = Problem, content_type = "application/problem+json"),
        openapi::Stale,
        (status = 413, description = "The file is larger than the service accepts", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "The file is of a kind that is not accepted, or its bytes contradict its Content-Type", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The record breaks a rule of the plan (e.g. attached to an item that is not there)", body = Problem, content_type = "application/problem+json"),
        openapi::IfMatchMissing,
    )
)]
pub async fn upload_attachment(
    State(state): State<AppState>,
    account: Signed,
    Path(person): Path<String>,
    Query(query): Query<NewAttachment>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult<Response> {
    let base = if_match(&headers)?;
    let plan_id = state.store.find_plan(&person).await?;
    let file = new_file(&query)?;
    let reason = query
        .reason
        .as_deref()
        .map(|r| text("reason", r))
        .transpose()?;
    let claimed = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    let attached = handle(&state, &account)
        .attach_file(
            &state.blobs,
            &plan_id,
            base,
            file,
            reason,
            body.into_data_stream(),
            claimed,
            declared,
        )
        .await
        .map_err(|e| match e {
            AttachError::Store(e) => Problem::from(e),
            AttachError::Upload(e) => upload_problem(e),
        })?;
    let version = attached.committed.version();
    let record = attached
        .committed
        .plan
        .attachments
        .get(&attached.id)
        .map(|a| attachment_json(&attached.id, a));
    let mut response = (
        StatusCode::CREATED,
        axum::Json(json!({
            "plan_id": plan_id,
            "version": version,
            "attachment": record,
            "location_data_removed": attached.stripped,
        })),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::ETAG, etag(version));
    if let Ok(v) = HeaderValue::from_str(&format!(
        "/api/v1/people/{person}/plan/attachments/{}/content",
        attached.id
    )) {
        headers.insert(header::LOCATION, v);
    }
    Ok(response)
}

/// An attachment record in the API's shape.
pub fn attachment_json(id: &ItemId, a: &Attachment) -> Value {
    let mut v = serde_json::to_value(a).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut v {
        map.insert("id".into(), json!(id));
    }
    v
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ContentQuery {
    /// Read the file as it was attached at this plan version (archived attachments stay
    /// readable through the versions that had them).
    #[serde(default)]
    version: Option<u64>,
    /// Ask for a download (Content-Disposition: attachment) even for pictures and clips.
    #[serde(default)]
    download: Option<bool>,
}

/// Download an attachment's file, whole or one byte range (`Range: bytes=a-b`), so audio and
/// video play and seek in a browser.
#[utoipa::path(
    get,
    path = "/people/{person}/plan/attachments/{id}/content",
    tag = "plans",
    params(
        ("person" = String, Path, description = "NHS number, person id or plan id"),
        ("id" = String, Path, description = "The attachment's id"),
        ("Range" = Option<String>, Header, description = "One byte range, e.g. bytes=0-1023"),
        ContentQuery,
    ),
    security(("bearer" = []), ("session" = [])),
    responses(
        (status = 200, description = "The whole file", body = Vec<u8>, content_type = "application/octet-stream",
            headers(("Content-Type" = String, description = "The type sniffed at upload"), ("Content-Disposition" = String, description = "inline for pictures, sound, video and PDF; attachment otherwise"), ("Accept-Ranges" = String, description = "bytes"), ("ETag" = String, description = "The file's SHA-256"))),
        (status = 206, description = "The requested byte range", body = Vec<u8>, content_type = "application/octet-stream",
            headers(("Content-Range" = String, description = "bytes a-b/size"))),
        (status = 304, description = "Not modified (If-None-Match matched the file's digest)"),
        openapi::SignInRequired,
        openapi::NotAllowed,
        (status = 404, description = "No such person, plan, version or attachment, or its section is withheld from the reader", body = Problem, content_type = "application/problem+json"),
        (status = 416, description = "The range starts beyond the end of the file", body = Problem, content_type = "application/problem+json"),
    )
)]
pub async fn attachment_content(
    State(state): State<AppState>,
    account: Signed,
    method: Method,
    Path((person, id)): Path<(String, String)>,
    Query(query): Query<ContentQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let handle = handle(&state, &account);
    let viewed = match query.version {
        None => handle.current_by_key(&person).await?,
        Some(n) => {
            let plan_id = state.store.find_plan(&person).await?;
            handle.version(&plan_id, n).await?
        }
    };
    let missing = || {
        Problem::not_found(if viewed.withheld.is_empty() {
            format!("This plan has no attachment with id “{id}”")
        } else {
            format!(
                "This plan has no attachment with id “{id}” that you may see: some sections are withheld from you"
            )
        })
    };
    let item_id = ItemId::parse(&id).map_err(|_| missing())?;
    let attachment = viewed
        .value
        .attachments
        .get(&item_id)
        .ok_or_else(missing)?
        .clone();
    if query.version.is_none()
        && let Some(archived) = &attachment.meta.archived
    {
        return Err(Problem::not_found(format!(
            "The attachment “{id}” was archived at version {}: read it at an earlier version with ?version=",
            archived.stamp.version
        )));
    }
    let sha = attachment.sha256.as_str().to_owned();
    let tag = format!("\"{sha}\"");
    let size = attachment.size_bytes;
    let mut out = file_headers(&attachment, query.download.unwrap_or(false));
    out.insert(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"));
    if headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim().trim_start_matches("W/") == tag)
        })
    {
        return Ok((StatusCode::NOT_MODIFIED, out).into_response());
    }
    let range = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // If-Range with another validator means the client's copy is stale: send it whole.
    let range = match headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        Some(v) if v.trim() != tag => None,
        _ => range,
    };
    let (status, part) = match careplan_blobs::parse_range(range, size) {
        RangeRequest::Whole => (StatusCode::OK, None),
        RangeRequest::Part(r) => {
            out.insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes {}-{}/{size}", r.start, r.end - 1))
                    .expect("ascii"),
            );
            (StatusCode::PARTIAL_CONTENT, Some(r))
        }
        RangeRequest::Unsatisfiable => {
            let mut response = Problem::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "/problems/range",
                "The range is outside the file",
                format!("The file is {size} bytes long; ask for a range that starts inside it"),
            )
            .into_response();
            response.headers_mut().insert(
                header::CONTENT_RANGE,
                HeaderValue::from_str(&format!("bytes */{size}")).expect("ascii"),
            );
            return Ok(response);
        }
    };
    let length = part.as_ref().map_or(size, |r| r.end - r.start);
    out.insert(header::CONTENT_LENGTH, HeaderValue::from(length));
    if method == Method::HEAD {
        return Ok((status, out).into_response());
    }
    let stream = read_file(&state, &attachment, part).await?;
    let body = Body::from_stream(stream.map_err(std::io::Error::other));
    Ok((status, out, body).into_response())
}

/// An attachment's file, whole or one byte range, as a stream; the problem when it cannot be
/// read (404 when the file store does not have it). Here and for FHIR's Binary.
pub(crate) async fn read_file(
    state: &AppState,
    attachment: &Attachment,
    range: Option<std::ops::Range<u64>>,
) -> ApiResult<BoxStream<'static, Result<bytes::Bytes, careplan_blobs::BlobError>>> {
    let sha = attachment.sha256.as_str();
    state.blobs.read(sha, range).await.map_err(|e| match e {
        careplan_blobs::BlobError::NotFound => Problem::not_found(format!(
            "The file of “{}” is not in this service's file store (a plan imported from \
             elsewhere keeps its records, not its files)",
            attachment.title
        )),
        e => {
            tracing::error!(error = %e, sha = %sha, "an attachment's file cannot be read");
            Problem::internal()
        }
    })
}

/// The headers a file is served with, here and as a FHIR Binary: its type (sniffed at upload),
/// its digest as the ETag, private caching, and nothing a browser could run or load.
pub(crate) fn file_headers(attachment: &Attachment, download: bool) -> HeaderMap {
    let tag = format!("\"{}\"", attachment.sha256.as_str());
    let media_type = attachment.content_type.as_str();
    let mut out = HeaderMap::new();
    out.insert(header::ETAG, HeaderValue::from_str(&tag).expect("hex"));
    // A file is never changed under its digest, but it is plan data: browsers keep it privately.
    out.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("private, max-age=3600"),
    );
    out.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    // Even if a browser opened a file as a page, it could run nothing and load nothing.
    out.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; media-src 'self'; img-src 'self'; sandbox"),
    );
    let content_type = if careplan_blobs::family(media_type) == Some(careplan_blobs::Family::Text) {
        format!("{media_type}; charset=utf-8")
    } else {
        media_type.to_owned()
    };
    out.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&content_type)
            .unwrap_or(HeaderValue::from_static("application/octet-stream")),
    );
    out.insert(
        header::CONTENT_DISPOSITION,
        disposition(attachment, download),
    );
    out
}

/// `inline` for what a browser shows safely (pictures, sound, video, PDF), `attachment`
/// otherwise; the file name is the title, made safe, with the type's usual extension.
fn disposition(a: &Attachment, download: bool) -> HeaderValue {
    let media_type = a.content_type.as_str();
    let inline = !download
        && (matches!(
            careplan_blobs::family(media_type),
            Some(
                careplan_blobs::Family::Image
                    | careplan_blobs::Family::Audio
                    | careplan_blobs::Family::Video
            )
        ) || media_type == "application/pdf");
    let mut name: String = a
        .title
        .as_str()
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || matches!(c, ' ' | '-' | '_' | '.' | '(' | ')') {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    name = name.trim().trim_matches('.').to_owned();
    if name.is_empty() {
        name = "attachment".into();
    }
    if let Some(ext) = careplan_blobs::extension(media_type)
        && !name.to_ascii_lowercase().ends_with(&format!(".{ext}"))
    {
        name = format!("{name}.{ext}");
    }
    let ascii: String = name
        .chars()
        .map(|c| if c.is_ascii() { c } else { '_' })
        .collect();
    let encoded: String = name
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let kind = if inline { "inline" } else { "attachment" };
    HeaderValue::from_str(&format!(
        "{kind}; filename=\"{ascii}\"; filename*=UTF-8''{encoded}"
    ))
    .unwrap_or(HeaderValue::from_static("attachment"))
}

/// The files a FHIR import carried inline, as the store keeps them with the plan
/// ([`careplan_store::handle::Handle::create_person_with_files`]): `careplan import --fhir` and
/// a `/fhir` transaction both hand them over this way.
pub fn carried_files(
    files: Vec<careplan_fhir::ImportedFile>,
) -> Vec<careplan_store::attach::CarriedFile> {
    files
        .into_iter()
        .map(|f| careplan_store::attach::CarriedFile {
            title: f.title,
            media_type: f.content_type,
            sha256: f.sha256.as_str().to_owned(),
            bytes: f.bytes.into(),
        })
        .collect()
}
