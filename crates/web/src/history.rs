//! Every version of a plan (who, when, what), the plan as it was at version N, and what changed
//! between two versions (CSP-15).

use std::collections::BTreeMap;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use careplan_model::ChangeKind;
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageError, page};
use crate::format;
use crate::layout::Chrome;
use crate::session::Session;

const PAGE: u64 = 50;

#[derive(Debug, Clone)]
pub struct Entry {
    pub number: u64,
    pub at: String,
    pub by: String,
    pub role: String,
    pub summary: String,
    pub reason: String,
    pub withheld: bool,
}

#[derive(Template)]
#[template(path = "history.html")]
struct HistoryPage {
    chrome: Chrome,
    base: String,
    name: String,
    latest: u64,
    entries: Vec<Entry>,
    earlier: Option<String>,
    later: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct HistoryQuery {
    /// The newest version on the page.
    #[serde(default)]
    upto: Option<u64>,
}

/// `GET /people/{person}/history?upto=`: versions, newest first, 50 to a page.
pub async fn history_page(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    Query(q): Query<HistoryQuery>,
) -> Result<Response, PageError> {
    let plan_id = state.store.find_plan(&person).await?;
    let (latest, _) = state.store.head(&plan_id).await?;
    let latest = latest.get();
    let upto = q.upto.unwrap_or(latest).clamp(1, latest);
    let after = upto.saturating_sub(PAGE);
    let handle = session.handle(&state);
    let viewed = handle
        .history(&plan_id, after, (upto - after) as u32)
        .await?;
    let (name, titles) = names(&state, &plan_id, &viewed.withheld).await;
    let mut entries: Vec<Entry> = viewed
        .value
        .into_iter()
        .map(|h| Entry {
            number: h.number.get(),
            at: format::when(h.at),
            by: h.by.name.to_string(),
            role: h.by.role.label().to_owned(),
            summary: name_ids(&h.summary, &titles),
            reason: h.reason.map(|r| r.to_string()).unwrap_or_default(),
            withheld: h.withheld,
        })
        .collect();
    entries.reverse();
    let base = format!("/people/{person}");
    page(&HistoryPage {
        chrome: Chrome::signed_in(
            &format!("History of the plan for {name}"),
            &session,
            "people",
        ),
        earlier: (after > 0).then(|| format!("{base}/history?upto={after}")),
        later: (upto < latest)
            .then(|| format!("{base}/history?upto={}", (upto + PAGE).min(latest))),
        base,
        name,
        latest,
        entries,
    })
}

/// `GET /people/{person}/versions/{n}`: the plan exactly as it was.
pub async fn version_page(
    State(state): State<WebState>,
    session: Session,
    Path((person, n)): Path<(String, String)>,
) -> Result<Response, PageError> {
    let n: u64 = n
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| PageError::NotFound(format!("“{n}” is not a version number")))?;
    let plan_id = state.store.find_plan(&person).await?;
    let (viewed, latest) = session
        .handle(&state)
        .version_and_latest(&plan_id, n)
        .await?;
    crate::plan::old_version_page(&session, &viewed, latest.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_become_titles() {
        let titles = BTreeMap::from([("goal-1".to_owned(), "Walk".to_owned())]);
        assert_eq!(
            name_ids("Archived goal goal-1.", &titles),
            "Archived goal “Walk”."
        );
        assert_eq!(name_ids("goal-1, goal-2", &titles), "“Walk”, goal-2");
    }
}

#[derive(Debug, Clone)]
pub struct DiffItem {
    pub title: String,
    pub href: String,
    pub kind: String,
    pub change: &'static str,
    pub tag: &'static str,
    pub fields: Vec<(String, String, String)>,
}

#[derive(Template)]
#[template(path = "diff.html")]
struct DiffPage {
    chrome: Chrome,
    base: String,
    name: String,
    from: u64,
    to: u64,
    latest: u64,
    versions: Vec<u64>,
    items: Vec<DiffItem>,
    withheld: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct DiffQuery {
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Option<String>,
}

/// `GET /people/{person}/diff?from=&to=`: what was added, changed, archived and restored.
pub async fn diff_page(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    Query(q): Query<DiffQuery>,
) -> Result<Response, PageError> {
    let plan_id = state.store.find_plan(&person).await?;
    let (latest, _) = state.store.head(&plan_id).await?;
    let latest = latest.get();
    let number = |s: &Option<String>, default: u64| -> Result<u64, PageError> {
        match s.as_deref().map(str::trim) {
            None | Some("") => Ok(default),
            Some(v) => v
                .parse::<u64>()
                .ok()
                .filter(|n| (1..=latest).contains(n))
                .ok_or_else(|| {
                    PageError::BadRequest(format!(
                        "“{v}” is not a version of this plan: its versions run from 1 to {latest}"
                    ))
                }),
        }
    };
    let to = number(&q.to, latest)?;
    let from = number(&q.from, to.saturating_sub(1).max(1))?;
    let viewed = session.handle(&state).diff(&plan_id, from, to).await?;
    let (name, mut titles) = names(&state, &plan_id, &viewed.withheld).await;
    for c in &viewed.value.changes {
        titles
            .entry(c.key.id.to_string())
            .or_insert_with(|| c.title.clone());
    }
    let items = viewed
        .value
        .changes
        .into_iter()
        .map(|c| {
            let (change, tag) = match c.change {
                ChangeKind::Added => ("Added", "nhsuk-tag--green"),
                ChangeKind::Changed => ("Changed", "nhsuk-tag--blue"),
                ChangeKind::Archived => ("Archived", "nhsuk-tag--orange"),
                ChangeKind::Restored => ("Restored", "nhsuk-tag--purple"),
            };
            DiffItem {
                href: format!("/people/{person}/versions/{to}#{}", c.key.id),
                kind: kind_label(c.key.kind).to_owned(),
                title: c.title,
                change,
                tag,
                fields: c
                    .fields
                    .into_iter()
                    .map(|f| {
                        (
                            crate::plan::capitalise(f.field),
                            name_ids(&f.before, &titles),
                            name_ids(&f.after, &titles),
                        )
                    })
                    .collect(),
            }
        })
        .collect();
    page(&DiffPage {
        chrome: Chrome::signed_in(
            &format!("Changes between versions {from} and {to} of the plan for {name}"),
            &session,
            "people",
        ),
        base: format!("/people/{person}"),
        name,
        from,
        to,
        latest,
        versions: (1..=latest).rev().collect(),
        items,
        withheld: viewed
            .withheld
            .iter()
            .map(|s| s.title().to_owned())
            .collect(),
    })
}

fn kind_label(kind: careplan_model::ItemKind) -> &'static str {
    use careplan_model::ItemKind as K;
    match kind {
        K::Details => "Plan details",
        K::Person => "Person",
        K::CapacitySupport => "Capacity support",
        K::Funding => "Funding",
        K::Schedule => "Weekly schedule",
        K::CareTeamMember => "Care team",
        K::Strength => "Strength",
        K::Need => "Need",
        K::Concern => "Concern",
        K::Problem => "Problem",
        K::Goal => "Goal or hope",
        K::Action => "Action",
        K::Outcome => "Outcome",
        K::Progress => "Progress record",
        K::Suggestion => "Suggested change",
        K::Comment => "Comment",
        K::Attachment => "Attachment",
        K::Hyperlink => "Link",
        K::Agreement => "Agreement",
        K::CapacityAssessment => "Capacity assessment",
        K::BestInterestDecision => "Best-interest decision",
        K::ConsentPreference => "Sharing choice",
    }
}

/// The person's name, and the titles of the plan's items by id (as this requester may see
/// them, redacted with the withheld set the handle's access decision gave), so history and diffs
/// can say "goal “Walk to the shop”" instead of an id. Called only after the handle has granted
/// and audited the read; the person's name is never withheld from anyone who may open the plan.
async fn names(
    state: &WebState,
    plan_id: &careplan_model::PlanId,
    withheld: &[careplan_model::Section],
) -> (String, BTreeMap<String, String>) {
    let Ok(plan) = state.store.current(plan_id).await else {
        return ("this person".to_owned(), BTreeMap::new());
    };
    let plan = careplan_model::redact(
        &plan,
        &careplan_model::Withheld {
            sections: withheld.iter().copied().collect(),
        },
    );
    let titles = plan
        .collection_ids()
        .into_iter()
        .filter_map(|(kind, id)| {
            plan.get(&careplan_model::ItemKey::new(kind, id.clone()))
                .map(|item| (id.to_string(), careplan_model::describe(item).title))
        })
        .collect();
    (plan.person.person.display_name(), titles)
}

/// Replaces item ids in a sentence or a list with the items' titles in quotes.
fn name_ids(text: &str, titles: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut String| {
        let bare = word.trim_end_matches('.');
        match titles.get(bare) {
            Some(t) => {
                out.push_str(&format!("“{t}”"));
                out.push_str(&word[bare.len()..]);
            }
            None => out.push_str(word),
        }
        word.clear();
    };
    for ch in text.chars() {
        if ch.is_ascii_alphanumeric() || ch == '-' || ch == '.' {
            word.push(ch);
        } else {
            flush(&mut word, &mut out);
            out.push(ch);
        }
    }
    flush(&mut word, &mut out);
    out
}
