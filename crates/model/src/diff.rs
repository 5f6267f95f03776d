//! Describing items in words, and comparing two versions of a plan item by item (CSP-15).

use std::collections::BTreeSet;

use serde::Serialize;

use crate::comment::Target;
use crate::consent::ConsentScope;
use crate::plan::{ItemKey, ItemRef, Plan};
use crate::values::{Text, VersionNumber};

/// An item as a title and named fields in plain words: what the CLI prints and what a diff
/// compares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Description {
    pub title: String,
    pub fields: Vec<(&'static str, String)>,
}

fn opt<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map_or_else(String::new, T::to_string)
}

fn target(t: &Target) -> String {
    match t {
        Target::Plan => "the plan".into(),
        Target::Section { section } => format!("section {}", section.title()),
        Target::Item { item } => format!("item {item}"),
    }
}

fn list<T: ToString>(v: &[T]) -> String {
    v.iter().map(T::to_string).collect::<Vec<_>>().join(", ")
}

/// A suggestion's proposed edit in words: "when: every Monday; confidence: 7".
fn suggested_changes(c: &crate::suggestion::ActionChanges) -> String {
    use crate::command::Change;
    let change = |v: &Change<String>| match v {
        Change::Keep => None,
        Change::Clear => Some("(none)".to_owned()),
        Change::Set(s) => Some(s.clone()),
    };
    let timing = change(&match &c.timing {
        Change::Keep => Change::Keep,
        Change::Clear => Change::Clear,
        Change::Set(t) => Change::Set(t.to_string()),
    });
    let confidence = change(&match &c.confidence {
        Change::Keep => Change::Keep,
        Change::Clear => Change::Clear,
        Change::Set(v) => Change::Set(v.to_string()),
    });
    let parts: Vec<String> = [
        ("goal", c.goal.as_ref().map(|g| g.to_string())),
        ("description", c.description.as_ref().map(|d| d.to_string())),
        ("who", c.performer.as_ref().map(|p| p.display())),
        ("when", timing),
        ("status", c.status.map(|s| s.label().to_owned())),
        ("confidence", confidence),
    ]
    .into_iter()
    .filter_map(|(name, value)| value.map(|v| format!("{name}: {v}")))
    .collect();
    parts.join("; ")
}

/// Describes one item in words.
pub fn describe(item: ItemRef<'_>) -> Description {
    let (title, mut fields): (String, Vec<(&'static str, String)>) = match item {
        ItemRef::Details(d) => (
            "Plan details".into(),
            vec![
                ("status", d.status.label().into()),
                ("review date", opt(&d.review_date)),
            ],
        ),
        ItemRef::Person(p) => {
            let p = &p.person;
            (
                p.display_name(),
                vec![
                    ("given name", p.given_name.to_string()),
                    ("family name", p.family_name.to_string()),
                    ("preferred name", opt(&p.preferred_name)),
                    ("date of birth", p.date_of_birth.to_string()),
                    (
                        "NHS number",
                        opt(&p.nhs_number.as_ref().map(|n| n.to_string())),
                    ),
                    (
                        "other identifiers",
                        p.other_identifiers
                            .iter()
                            .map(|i| format!("{} {}", i.system, i.value))
                            .collect::<Vec<_>>()
                            .join("; "),
                    ),
                ],
            )
        }
        ItemRef::CapacitySupport(c) => (
            "Steps to maximise capacity and promote rights".into(),
            vec![
                (
                    "steps to maximise capacity",
                    opt(&c.steps_to_maximise_capacity),
                ),
                ("how rights are promoted", opt(&c.rights_promotion)),
            ],
        ),
        ItemRef::Funding(f) => (
            format!("Funding: {}", f.source.label()),
            vec![
                ("source", f.source.label().into()),
                ("details held at", opt(&f.details_held_at)),
            ],
        ),
        ItemRef::Schedule(s) => (
            "Weekly schedule".to_owned(),
            vec![("week", s.week.summary())],
        ),
        ItemRef::CareTeamMember(m) => (
            m.name.to_string(),
            vec![
                ("role", m.role.to_string()),
                ("organisation", opt(&m.organisation)),
                ("account", opt(&m.account)),
            ],
        ),
        ItemRef::Strength(s) => (
            s.description.to_string(),
            vec![
                ("description", s.description.to_string()),
                ("importance", opt(&s.importance)),
            ],
        ),
        ItemRef::Need(n) => (
            n.description.to_string(),
            vec![
                ("description", n.description.to_string()),
                ("identified by", opt(&n.identified_by.map(|r| r.label()))),
                ("importance", opt(&n.importance)),
            ],
        ),
        ItemRef::Concern(c) => (
            c.description.to_string(),
            vec![
                ("description", c.description.to_string()),
                ("whose concern", c.raised_by.label().into()),
                ("domain", c.domain.label().into()),
                ("importance", opt(&c.importance)),
            ],
        ),
        ItemRef::Problem(p) => (
            p.description.to_string(),
            vec![
                ("description", p.description.to_string()),
                (
                    "SNOMED CT",
                    opt(&p.code.as_ref().map(|c| format!("{} {}", c.code, c.display))),
                ),
                (
                    "problem list entry",
                    opt(&p
                        .external_reference
                        .as_ref()
                        .map(|r| format!("{} {}", r.system, r.value))),
                ),
                ("importance", opt(&p.importance)),
            ],
        ),
        ItemRef::Goal(g) => (
            g.description.to_string(),
            vec![
                ("kind", g.label.label().into()),
                ("description", g.description.to_string()),
                ("why it matters", opt(&g.why_it_matters)),
                ("priority", opt(&g.priority)),
                ("rank", opt(&g.rank)),
                ("status", g.status.label().into()),
                ("target date", opt(&g.target_date)),
                ("addresses", list(&g.addresses)),
                ("strengths", list(&g.strengths)),
                ("review", opt(&g.review.as_ref().map(|r| r.reason.clone()))),
            ],
        ),
        ItemRef::Action(a) => (
            a.description.to_string(),
            vec![
                ("goal", a.goal.to_string()),
                ("description", a.description.to_string()),
                ("who", a.performer.display()),
                ("when", opt(&a.timing)),
                ("status", a.status.label().into()),
                ("confidence", opt(&a.confidence)),
            ],
        ),
        ItemRef::Suggestion(s) => (
            format!("Suggested change to action {}", s.action),
            vec![
                ("action", s.action.to_string()),
                ("changes", suggested_changes(&s.changes)),
                ("note", opt(&s.note)),
                ("status", s.status.label().into()),
            ],
        ),
        ItemRef::Outcome(o) => (
            o.description.to_string(),
            vec![
                ("goal", o.goal.to_string()),
                ("description", o.description.to_string()),
                ("status", o.status.label().into()),
                ("date", o.date.to_string()),
            ],
        ),
        ItemRef::Progress(p) => (
            format!("Progress on {}", p.date),
            vec![
                ("goal", p.goal.to_string()),
                ("date", p.date.to_string()),
                (
                    "value",
                    format!("{} ({})", p.progress.value(), p.progress.scale().label()),
                ),
                ("note", opt(&p.note)),
            ],
        ),
        ItemRef::Comment(c) => (
            format!("Comment by {}", c.meta.added.by.name),
            vec![("on", target(&c.target)), ("text", c.text.to_string())],
        ),
        ItemRef::Attachment(a) => (
            a.title.to_string(),
            vec![
                ("on", target(&a.target)),
                ("purpose", a.purpose.label().into()),
                ("type", a.content_type.to_string()),
                ("size", format!("{} bytes", a.size_bytes)),
                ("description", opt(&a.description)),
            ],
        ),
        ItemRef::Hyperlink(h) => (
            h.title.to_string(),
            vec![
                ("on", target(&h.target)),
                ("address", h.url.to_string()),
                ("purpose", h.purpose.label().into()),
            ],
        ),
        ItemRef::Agreement(a) => {
            let outcome = a.outcome.describe();
            (
                format!("Agreement of version {}", a.agreed_version),
                vec![
                    ("outcome", outcome),
                    ("agreed version", a.agreed_version.to_string()),
                    (
                        "now",
                        match a.superseded_in {
                            Some(v) => {
                                format!("for an earlier version (the plan changed in version {v})")
                            }
                            None => "current".into(),
                        },
                    ),
                ],
            )
        }
        ItemRef::CapacityAssessment(c) => (
            format!("Capacity assessment: {}", c.decision),
            vec![
                ("decision", c.decision.to_string()),
                ("outcome", c.outcome.label().into()),
                ("assessed by", c.assessed_by.to_string()),
                ("assessed on", c.assessed_on.to_string()),
                ("reasoning", opt(&c.reasoning)),
            ],
        ),
        ItemRef::BestInterestDecision(d) => (
            format!("Best-interest decision: {}", d.decision),
            vec![
                ("decision", d.decision.to_string()),
                ("assessment", d.assessment.to_string()),
                ("decision maker", d.decision_maker.to_string()),
                (
                    "consulted",
                    d.consulted
                        .iter()
                        .map(Text::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                ),
                ("rationale", d.rationale.to_string()),
                ("decided on", d.decided_on.to_string()),
            ],
        ),
        ItemRef::ConsentPreference(p) => {
            let scope = match p.scope {
                ConsentScope::WholePlan => "the whole plan".to_owned(),
                ConsentScope::Section(s) => s.title().to_owned(),
            };
            (
                format!("Access to {scope} for {}", p.audience.describe()),
                vec![("visible", if p.visible { "yes" } else { "no" }.into())],
            )
        }
    };
    let meta = item.item_meta();
    fields.push((
        "archived",
        meta.archived.as_ref().map_or_else(String::new, |a| {
            format!(
                "in version {}{}",
                a.stamp.version,
                a.reason
                    .as_ref()
                    .map_or_else(String::new, |r| format!(": {r}"))
            )
        }),
    ));
    fields.retain(|(name, value)| !value.is_empty() || *name == "archived");
    Description { title, fields }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeKind {
    Added,
    Changed,
    Archived,
    Restored,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: &'static str,
    pub before: String,
    pub after: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemChange {
    pub key: ItemKey,
    pub title: String,
    pub change: ChangeKind,
    pub fields: Vec<FieldChange>,
}

/// What differs between two versions of one plan, item by item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlanDiff {
    pub from: VersionNumber,
    pub to: VersionNumber,
    pub changes: Vec<ItemChange>,
}

/// Compares plan `a` with plan `b` (usually an earlier and a later version).
pub fn diff(a: &Plan, b: &Plan) -> PlanDiff {
    let keys: BTreeSet<ItemKey> = a.item_keys().into_iter().chain(b.item_keys()).collect();
    let mut changes = Vec::new();
    for key in keys {
        let (before, after) = (a.get(&key), b.get(&key));
        if before == after {
            continue;
        }
        let Some(after) = after else {
            // Items are never deleted; a key only in `a` means `b` is the earlier version.
            let d = describe(before.expect("key from one side"));
            changes.push(ItemChange {
                key,
                title: d.title,
                change: ChangeKind::Restored,
                fields: Vec::new(),
            });
            continue;
        };
        let after_d = describe(after);
        let Some(before) = before else {
            changes.push(ItemChange {
                key,
                title: after_d.title,
                change: ChangeKind::Added,
                fields: after_d
                    .fields
                    .into_iter()
                    .filter(|(_, v)| !v.is_empty())
                    .map(|(field, after)| FieldChange {
                        field,
                        before: String::new(),
                        after,
                    })
                    .collect(),
            });
            continue;
        };
        let before_d = describe(before);
        let fields: Vec<FieldChange> = after_d
            .fields
            .iter()
            .filter_map(|(field, after)| {
                let before = before_d
                    .fields
                    .iter()
                    .find(|(f, _)| f == field)
                    .map_or("", |(_, v)| v.as_str());
                (before != after).then(|| FieldChange {
                    field,
                    before: before.to_owned(),
                    after: after.clone(),
                })
            })
            .chain(
                before_d
                    .fields
                    .iter()
                    .filter(|(f, _)| !after_d.fields.iter().any(|(g, _)| g == f))
                    .map(|(field, before)| FieldChange {
                        field,
                        before: before.clone(),
                        after: String::new(),
                    }),
            )
            .collect();
        let change = match (
            before.item_meta().is_active(),
            after.item_meta().is_active(),
        ) {
            (true, false) => ChangeKind::Archived,
            (false, true) => ChangeKind::Restored,
            _ => ChangeKind::Changed,
        };
        if fields.is_empty() && change == ChangeKind::Changed {
            // Only bookkeeping moved (the "changed" stamp): nothing a person would see.
            continue;
        }
        changes.push(ItemChange {
            key,
            title: after_d.title,
            change,
            fields,
        });
    }
    PlanDiff {
        from: a.version,
        to: b.version,
        changes,
    }
}
