//! The person's own view of their plan: plain language, large type, their goals first, with
//! what they can do (comment, report progress, suggest a change, agree), and their choices
//! about who may see each part of it (CSP-1).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use careplan_model::{Audience, ConsentScope, Role, Section};
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageError, page};
use crate::format;
use crate::layout::Chrome;
use crate::plan::{Abilities, PlanView, build};
use crate::session::Session;

#[derive(Template)]
#[template(path = "own.html")]
struct OwnPage {
    chrome: Chrome,
    heading: String,
    you: bool,
    v: PlanView,
    first_name: String,
    saved: Option<u64>,
    may_agree: bool,
    full_view: String,
}

#[derive(Debug, Deserialize)]
pub struct SavedQuery {
    #[serde(default)]
    saved: Option<u64>,
}

/// `GET /people/{person}/my-plan`.
pub async fn own_page(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, PageError> {
    let viewed = session.handle(&state).current_by_key(&person).await?;
    let first_name = {
        let p = &viewed.value.person.person;
        p.preferred_name
            .as_ref()
            .unwrap_or(&p.given_name)
            .to_string()
    };
    let base = format!("/people/{}", viewed.value.details.person_id);
    let v = build(
        &viewed,
        &base,
        Abilities::for_role(session.role(), true),
        false,
        &session.csrf,
    );
    let title = if session.role() == Role::Person {
        "Your care and support plan".to_owned()
    } else {
        format!("{first_name}'s care and support plan")
    };
    page(&OwnPage {
        chrome: Chrome::signed_in(&title, &session, "my-plan").with_body_class("app-own-body"),
        heading: title.clone(),
        you: session.role() == Role::Person,
        full_view: base.clone(),
        v,
        first_name,
        saved: q.saved,
        may_agree: matches!(session.role(), Role::Person | Role::Representative),
    })
}

#[derive(Debug, Clone)]
pub struct Choice {
    pub part: String,
    pub who: String,
    pub visible: bool,
    pub when: String,
}

#[derive(Debug, Clone)]
pub struct ReleaseRow {
    pub part: String,
    pub who: String,
    pub reason: String,
    pub by: String,
    pub from: String,
    pub until: String,
    pub active: bool,
}

#[derive(Template)]
#[template(path = "sharing.html")]
struct SharingPage {
    chrome: Chrome,
    base: String,
    name: String,
    choices: Vec<Choice>,
    releases: Vec<ReleaseRow>,
    may_change: bool,
    saved: Option<u64>,
}

pub fn scope_text(scope: &ConsentScope) -> String {
    match scope {
        ConsentScope::WholePlan => "The whole plan".into(),
        ConsentScope::Section(s) => s.title().into(),
    }
}

pub fn audience_text(a: &Audience) -> String {
    match a {
        Audience::Role(r) => format!("Anyone acting as {}", r.label()),
        Audience::Organisation(o) => format!("Anyone from {o}"),
    }
}

/// `GET /people/{person}/sharing`: the person's choices about who sees what, and releases.
pub async fn sharing_page(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    Query(q): Query<SavedQuery>,
) -> Result<Response, PageError> {
    let handle = session.handle(&state);
    let viewed = handle.current_by_key(&person).await?;
    let plan = &viewed.value;
    let mut prefs: Vec<_> = plan
        .consent
        .values()
        .filter(|p| p.meta.is_active())
        .collect();
    prefs.sort_by_key(|p| {
        (
            match p.scope {
                ConsentScope::WholePlan => 0,
                ConsentScope::Section(s) => {
                    1 + Section::ALL.iter().position(|x| *x == s).unwrap_or(0)
                }
            },
            p.meta.added.version,
        )
    });
    let choices = prefs
        .into_iter()
        .map(|p| Choice {
            part: scope_text(&p.scope),
            who: audience_text(&p.audience),
            visible: p.visible,
            when: format::when(p.meta.changed.at),
        })
        .collect();
    let now = time::OffsetDateTime::now_utc();
    let releases = match handle.releases(&plan.id).await {
        Ok(list) => list
            .into_iter()
            .rev()
            .map(|r| ReleaseRow {
                part: scope_text(&r.scope),
                who: audience_text(&r.audience),
                reason: r.reason.to_string(),
                by: r.granted_by.to_string(),
                from: format::when(r.granted_at),
                until: format::when(r.expires_at),
                active: r.expires_at.datetime() > now,
            })
            .collect(),
        Err(careplan_store::StoreError::Forbidden(_)) => Vec::new(),
        Err(e) => return Err(e.into()),
    };
    page(&SharingPage {
        chrome: Chrome::signed_in("Who can see the plan", &session, "sharing"),
        base: format!("/people/{}", plan.details.person_id),
        name: plan.person.person.display_name(),
        choices,
        releases,
        may_change: matches!(session.role(), Role::Person | Role::Representative),
        saved: q.saved,
    })
}
