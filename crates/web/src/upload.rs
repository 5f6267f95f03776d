//! CSP-2 attaching a file from the browser: a form with a file input, posted as
//! `multipart/form-data`. The fields come before the file in the form, so the CSRF token and
//! the record's fields are checked before a byte of the file is read; the file is then streamed
//! through [`careplan_store::Handle::attach_file`], the same path as the JSON API's upload
//! (type read from the bytes, size limited, location data removed from photos, kept once per
//! content, committed as one version, or nothing left behind).

use askama::Template;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use careplan_blobs::UploadError;
use careplan_model::attachment::Purpose;
use careplan_model::{ItemKey, Plan, Target, Text, VersionNumber, describe};
use careplan_store::StoreError;
use careplan_store::attach::{AttachError, NewFile};
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageError, page_with, redirect};
use crate::layout::Chrome;
use crate::session::{FormData, Session};

/// What a file is attached to, from the query (`?on=item&item=goal-1`) or the form's hidden
/// fields.
#[derive(Debug, Default, Deserialize)]
pub struct AttachQuery {
    #[serde(default)]
    on: Option<String>,
    #[serde(default)]
    section: Option<String>,
    #[serde(default)]
    item: Option<String>,
}

const PURPOSES: [(&str, &str, &str); 8] = [
    (
        "progress_picture",
        "A progress picture",
        "A photo of how things are going",
    ),
    (
        "guidance",
        "Guidance",
        "Instructions, such as an exercise sheet",
    ),
    (
        "learning_material",
        "Learning material",
        "Something to learn from, such as a video",
    ),
    ("explanatory_note", "An explanatory note", ""),
    ("diagram", "A diagram", ""),
    (
        "recording",
        "A recording",
        "Sound or video of the person or their carer",
    ),
    ("document", "A document", "A letter, assessment or report"),
    ("other", "Something else", ""),
];

/// The `accept` attribute: what the file picker offers (the service checks the bytes anyway).
const ACCEPT: &str = "image/jpeg,image/png,image/gif,image/webp,application/pdf,text/plain,text/csv,.doc,.docx,.xls,.xlsx,.ppt,.pptx,.odt,.ods,.odp,.rtf,audio/*,video/mp4,video/webm,video/quicktime,video/ogg";

#[derive(Template)]
#[template(path = "attach.html")]
struct AttachPage {
    chrome: Chrome,
    back_href: String,
    person: String,
    target: String,
    action: String,
    csrf: String,
    base_version: u64,
    on: String,
    section: String,
    item: String,
    title: String,
    purpose: String,
    description: String,
    purposes: Vec<(&'static str, &'static str, &'static str)>,
    accept: &'static str,
    limit: String,
    /// (field id, message), in the order of the fields.
    errors: Vec<(&'static str, String)>,
    stale: Option<String>,
}

impl AttachPage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
    }
}

/// The record's target, in words, or a reason it is not one.
fn target(plan: &Plan, q: &AttachQuery) -> Result<(Target, String), String> {
    let target = Target::from_parts(q.on.as_deref(), q.section.as_deref(), q.item.as_deref())?;
    let words = match &target {
        Target::Plan => "the plan".to_owned(),
        Target::Section { section } => format!("the “{}” section", section.title()),
        Target::Item { item } => {
            let found = plan
                .kind_of(item)
                .and_then(|kind| plan.get(&ItemKey::new(kind, item.clone())))
                .ok_or_else(|| format!("This plan has nothing with id “{item}”"))?;
            format!("“{}”", describe(found).title)
        }
    };
    Ok((target, words))
}

fn megabytes(bytes: u64) -> String {
    format!("{} MB", bytes / (1024 * 1024))
}

struct Form<'a> {
    state: &'a WebState,
    session: &'a Session,
    person: String,
    base: String,
    plan: &'a Plan,
}

impl Form<'_> {
    fn render(
        &self,
        status: StatusCode,
        fields: &FormData,
        q: &AttachQuery,
        version: VersionNumber,
        errors: Vec<(&'static str, String)>,
        stale: Option<String>,
    ) -> Result<Response, PageError> {
        let target = target(self.plan, q).map_err(PageError::BadRequest)?.1;
        let heading = "Attach a file";
        let title = if errors.is_empty() && stale.is_none() {
            heading.to_owned()
        } else {
            format!("Error: {heading}")
        };
        page_with(
            status,
            &AttachPage {
                chrome: Chrome::signed_in(&title, self.session, "people"),
                back_href: self.base.clone(),
                person: self.person.clone(),
                target,
                action: format!("{}/attach", self.base),
                csrf: self.session.csrf.clone(),
                base_version: version.get(),
                on: q.on.clone().unwrap_or_else(|| "plan".into()),
                section: q.section.clone().unwrap_or_default(),
                item: q.item.clone().unwrap_or_default(),
                title: fields.text("title"),
                purpose: fields.text("purpose"),
                description: fields.text("description"),
                purposes: PURPOSES.to_vec(),
                accept: ACCEPT,
                limit: megabytes(self.state.blobs.max_upload_bytes()),
                errors,
                stale,
            },
        )
    }
}

/// `GET /people/{person}/attach?on=&section=&item=`: the form.
pub async fn attach_page(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    Query(q): Query<AttachQuery>,
) -> Result<Response, PageError> {
    let viewed = session.handle(&state).current_by_key(&person).await?;
    let plan = &viewed.value;
    let form = Form {
        state: &state,
        session: &session,
        person: plan.person.person.display_name(),
        base: format!("/people/{}", plan.details.person_id),
        plan,
    };
    form.render(
        StatusCode::OK,
        &FormData::default(),
        &q,
        plan.version,
        Vec::new(),
        None,
    )
}

/// Checks the fields that come before the file; the record, or the errors against each field.
fn record(fields: &FormData, target: Target) -> Result<NewFile, Vec<(&'static str, String)>> {
    let mut errors = Vec::new();
    let title = match Text::new(&fields.text("title")) {
        Ok(t) => Some(t),
        Err(_) if fields.text("title").is_empty() => {
            errors.push(("title", "Enter a title for the file".to_owned()));
            None
        }
        Err(e) => {
            errors.push(("title", format!("The title {e}")));
            None
        }
    };
    let purpose: Option<Purpose> =
        serde_json::from_value(serde_json::json!(fields.text("purpose"))).ok();
    if purpose.is_none() {
        errors.push(("purpose", "Select why the file is attached".to_owned()));
    }
    let description = match fields.text("description") {
        d if d.is_empty() => None,
        d => match Text::new(&d) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push(("description", format!("The description {e}")));
                None
            }
        },
    };
    match (title, purpose) {
        (Some(title), Some(purpose)) if errors.is_empty() => Ok(NewFile {
            id: None,
            target,
            title,
            purpose,
            description,
        }),
        _ => Err(errors),
    }
}

fn upload_message(e: &UploadError) -> String {
    match e {
        UploadError::Empty => "The selected file is empty: choose another file".to_owned(),
        UploadError::Storage(_) => {
            "The file could not be stored just now: try again later".to_owned()
        }
        other => format!("{other}. Choose the file again"),
    }
}

/// `POST /people/{person}/attach`: attaches the file, or shows the form again saying why not.
pub async fn attach_submit(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    multipart: Result<Multipart, MultipartRejection>,
) -> Result<Response, PageError> {
    let mut multipart = multipart.map_err(|e| {
        PageError::BadRequest(format!("The form could not be read: {}", e.body_text()))
    })?;
    let handle = session.handle(&state);
    let viewed = handle.current_by_key(&person).await?;
    let plan = &viewed.value;
    let form = Form {
        state: &state,
        session: &session,
        person: plan.person.person.display_name(),
        base: format!("/people/{}", plan.details.person_id),
        plan,
    };
    let mut fields = FormData::default();
    let bad = |e: axum::extract::multipart::MultipartError| {
        PageError::BadRequest(format!("The form could not be read: {}", e.body_text()))
    };
    while let Some(field) = multipart.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_owned();
        if name != "file" {
            let value = field.text().await.map_err(bad)?;
            fields.0.push((name, value));
            continue;
        }
        // The file: everything else has arrived, so check it all before reading the bytes.
        session.check_csrf(&fields)?;
        let q = AttachQuery {
            on: Some(fields.text("on")),
            section: Some(fields.text("section")),
            item: Some(fields.text("item")),
        };
        let base = fields
            .get("base_version")
            .and_then(|v| v.parse::<u64>().ok())
            .and_then(|v| VersionNumber::new(v).ok())
            .unwrap_or(plan.version);
        let (target, _) = target(plan, &q).map_err(PageError::BadRequest)?;
        let (new_file, mut errors) = match record(&fields, target) {
            Ok(file) => (Some(file), Vec::new()),
            Err(errors) => (None, errors),
        };
        if field.file_name().is_none_or(str::is_empty) {
            errors.push(("file", "Choose a file to attach".to_owned()));
        }
        let Some(new_file) = new_file.filter(|_| errors.is_empty()) else {
            return form.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &fields,
                &q,
                base,
                errors,
                None,
            );
        };
        let claimed = field.content_type().map(str::to_owned);
        let result = handle
            .attach_file(
                &state.blobs,
                &plan.id,
                base,
                new_file,
                None,
                field,
                claimed.as_deref(),
                None,
            )
            .await;
        return match result {
            Ok(attached) => Ok(redirect(&format!(
                "{}?saved={}#{}",
                form.base,
                attached.committed.version(),
                attached.id
            ))),
            Err(AttachError::Upload(e)) => form.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &fields,
                &q,
                base,
                vec![("file", upload_message(&e))],
                None,
            ),
            Err(AttachError::Store(StoreError::Conflict { current, .. })) => form.render(
                StatusCode::CONFLICT,
                &fields,
                &q,
                current,
                Vec::new(),
                Some(format!(
                    "Someone changed the plan (it is now at version {current}) while you were \
                     attaching this. Nothing was attached. Check the plan, choose the file again \
                     and attach it."
                )),
            ),
            Err(AttachError::Store(StoreError::Rejected(issues))) => form.render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &fields,
                &q,
                base,
                vec![("file", careplan_model::issue::sentences(&issues))],
                None,
            ),
            Err(AttachError::Store(e)) => Err(e.into()),
        };
    }
    // No file part at all (a form without its file input).
    session.check_csrf(&fields)?;
    let q = AttachQuery {
        on: Some(fields.text("on")),
        section: Some(fields.text("section")),
        item: Some(fields.text("item")),
    };
    form.render(
        StatusCode::UNPROCESSABLE_ENTITY,
        &fields,
        &q,
        plan.version,
        vec![("file", "Choose a file to attach".to_owned())],
        None,
    )
}
