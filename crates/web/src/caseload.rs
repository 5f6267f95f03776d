//! The start page, a practitioner's caseload (search by name or NHS number), and adding a
//! person.

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use careplan_model::{NhsNumber, Person, Role, Text, parse_date};
use careplan_store::StoreError;
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageError, page, page_with, redirect};
use crate::fields::{Field, FormPage, Kind};
use crate::format;
use crate::layout::Chrome;
use crate::session::{self, FormData, Session};

const PAGE: u32 = 25;

/// `GET /`: the caseload when signed in (a person's own plan for the person), else sign-in.
pub async fn home(
    State(state): State<WebState>,
    headers: HeaderMap,
) -> Result<Response, PageError> {
    Ok(match session::current(&state, &headers).await? {
        None => redirect("/sign-in"),
        Some(s) => match (&s.account.person_id, s.is_person_side()) {
            (Some(person), true) => redirect(&format!("/people/{person}/my-plan")),
            _ => redirect("/people"),
        },
    })
}

#[derive(Debug, Clone)]
pub struct Row {
    pub href: String,
    pub name: String,
    pub nhs_number: String,
    pub date_of_birth: String,
    pub updated: String,
    pub version: u64,
}

#[derive(Template)]
#[template(path = "caseload.html")]
struct CaseloadPage {
    chrome: Chrome,
    heading: String,
    q: String,
    rows: Vec<Row>,
    previous: Option<String>,
    next: Option<String>,
    may_add: bool,
}

#[derive(Debug, Deserialize)]
pub struct CaseloadQuery {
    #[serde(default)]
    q: Option<String>,
    #[serde(default)]
    offset: Option<u32>,
}

/// `GET /people?q=&offset=`: the people whose plans this user may open.
pub async fn caseload(
    State(state): State<WebState>,
    session: Session,
    Query(query): Query<CaseloadQuery>,
) -> Result<Response, PageError> {
    if session.is_person_side()
        && let Some(person) = &session.account.person_id
    {
        return Ok(redirect(&format!("/people/{person}/my-plan")));
    }
    let q = query.q.unwrap_or_default().trim().to_owned();
    let offset = query.offset.unwrap_or(0);
    let search = (!q.is_empty()).then_some(q.as_str());
    let people = session
        .handle(&state)
        .people(search, PAGE + 1, offset)
        .await?;
    let more = people.len() > PAGE as usize;
    let rows = people
        .into_iter()
        .take(PAGE as usize)
        .map(|p| Row {
            href: format!("/people/{}", p.person_id),
            name: format!("{} {}", p.given_name, p.family_name),
            nhs_number: p
                .nhs_number
                .as_deref()
                .map_or_else(|| "Not recorded".to_owned(), format::nhs_number),
            date_of_birth: format::date_text(&p.date_of_birth),
            updated: format::when_text(&p.updated_at),
            version: p.version,
        })
        .collect();
    let link = |offset: u32| {
        let mut s = format!("/people?offset={offset}");
        if !q.is_empty() {
            s.push_str(&format!("&q={}", format::url_encode(&q)));
        }
        s
    };
    let heading = if session.role() == Role::Practitioner {
        "Your caseload"
    } else {
        "People with a care and support plan"
    };
    page(&CaseloadPage {
        chrome: Chrome::signed_in(heading, &session, "people"),
        heading: heading.to_owned(),
        previous: (offset > 0).then(|| link(offset.saturating_sub(PAGE))),
        next: more.then(|| link(offset + PAGE)),
        q,
        rows,
        may_add: session.role() == Role::Practitioner,
    })
}

fn person_fields() -> Vec<Field> {
    vec![
        Field::new(
            "given_name",
            "Given name",
            Kind::Text("nhsuk-u-width-two-thirds"),
        ),
        Field::new(
            "family_name",
            "Family name",
            Kind::Text("nhsuk-u-width-two-thirds"),
        ),
        Field::new(
            "preferred_name",
            "Preferred name (optional)",
            Kind::Text("nhsuk-u-width-two-thirds"),
        )
        .hint("What they like to be called, if it is not their given name"),
        Field::new("date_of_birth", "Date of birth", Kind::Date).hint("For example, 15 3 1984"),
        Field::new(
            "nhs_number",
            "NHS number (optional)",
            Kind::Text("nhsuk-input--width-10"),
        )
        .hint("10 digits, for example 943 476 5919"),
    ]
}

fn person_form(session: &Session, fields: Vec<Field>, general: Vec<String>) -> FormPage {
    let has_errors = !general.is_empty() || fields.iter().any(|f| f.error.is_some());
    let title = if has_errors {
        "Error: Add a person"
    } else {
        "Add a person"
    };
    FormPage {
        chrome: Chrome::signed_in(title, session, "new-person"),
        caption: String::new(),
        heading: "Add a person".into(),
        intro: vec![
            "This starts an empty care and support plan for them, and adds you to their care team."
                .into(),
        ],
        action: "/people/new".into(),
        csrf: session.csrf.clone(),
        base_version: 0,
        fields,
        general_errors: general,
        stale: None,
        submit: "Add person and start their plan".into(),
        warning: false,
        back_href: "/people".into(),
        back_text: "Back to your caseload".into(),
    }
}

/// `GET /people/new`.
pub async fn new_person_page(session: Session) -> Result<Response, PageError> {
    if session.role() != Role::Practitioner {
        return Err(PageError::Forbidden(
            "Only a practitioner may add a person".into(),
        ));
    }
    page(&person_form(&session, person_fields(), Vec::new()))
}

/// `POST /people/new`: adds the person, starts their plan, and opens it.
pub async fn new_person(
    State(state): State<WebState>,
    session: Session,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormData::parse(&body);
    session.check_csrf(&form)?;
    let mut fields = person_fields();
    for f in &mut fields {
        f.fill_from(&form);
    }
    let value = |fields: &[Field], name: &str| {
        fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.value.trim().to_owned())
            .unwrap_or_default()
    };
    let mut errors: Vec<(&str, String)> = Vec::new();
    let given = Text::new(&value(&fields, "given_name"));
    if given.is_err() {
        errors.push(("given_name", "Enter their given name".into()));
    }
    let family = Text::new(&value(&fields, "family_name"));
    if family.is_err() {
        errors.push(("family_name", "Enter their family name".into()));
    }
    let preferred = value(&fields, "preferred_name");
    let dob_text = value(&fields, "date_of_birth");
    let dob = if dob_text.is_empty() {
        errors.push(("date_of_birth", "Enter their date of birth".into()));
        None
    } else {
        match parse_date(&dob_text) {
            Ok(d) => Some(d),
            Err(_) => {
                errors.push((
                    "date_of_birth",
                    "Date of birth must be a real date, for example 15 3 1984".into(),
                ));
                None
            }
        }
    };
    let nhs_text = value(&fields, "nhs_number");
    let nhs = if nhs_text.is_empty() {
        None
    } else {
        match NhsNumber::parse(&nhs_text) {
            Ok(n) => Some(n),
            Err(e) => {
                errors.push(("nhs_number", capitalise(&e.0)));
                None
            }
        }
    };
    if errors.is_empty()
        && let (Ok(given_name), Ok(family_name), Some(date_of_birth)) = (given, family, dob)
    {
        let person = Person {
            given_name,
            family_name,
            preferred_name: Text::new(&preferred).ok(),
            date_of_birth,
            nhs_number: nhs,
            other_identifiers: Vec::new(),
        };
        match session.handle(&state).create_person(person).await {
            Ok(committed) => {
                return Ok(redirect(&format!(
                    "/people/{}?saved={}",
                    committed.plan.details.person_id,
                    committed.version()
                )));
            }
            Err(StoreError::DuplicatePerson(n)) => errors.push((
                "nhs_number",
                format!(
                    "A person with NHS number {} already has a plan: search for them in your caseload",
                    format::nhs_number(&n)
                ),
            )),
            Err(StoreError::Rejected(issues)) => {
                let general = issues.into_iter().map(|i| i.message).collect();
                return page_with(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &person_form(&session, fields, general),
                );
            }
            Err(e) => return Err(e.into()),
        }
    }
    for (name, message) in errors {
        if let Some(f) = fields.iter_mut().find(|f| f.name == name) {
            f.error.get_or_insert(message);
        }
    }
    page_with(
        StatusCode::UNPROCESSABLE_ENTITY,
        &person_form(&session, fields, Vec::new()),
    )
}

/// "This text…" from "this text…".
pub fn capitalise(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(first) => first.to_uppercase().chain(c).collect(),
        None => String::new(),
    }
}
