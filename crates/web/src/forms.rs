//! Forms for every change to a plan, one address per kind: `/people/{person}/change/{form}`
//! (`?item=` names the item). A form becomes one command, applied through the requester's
//! handle against the version the form was written from; a refused command shows the reasons
//! beside the fields with everything entered kept, and a stale write (the plan changed
//! meanwhile) says so, keeps what was entered, and lets the user save it on top.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use careplan_model::{
    ActionChanges, ActionMove, ActionStatus, AgreedBy, AgreementOutcome, Audience, CapacityOutcome,
    Change, Command, ConcernDomain, ConsentScope, Date, FundingSourceKind, GoalLabel, GoalStatus,
    ItemId, ItemKind, LegalAuthority, OutcomeStatus, Performer, PerformerKind, Plan, PlanStatus,
    Priority, ProgressScale, ProgressValue, Purpose, RaisedBy, Role, Section, Target, Text,
    VersionNumber, WebAddress, describe, parse_date,
};
use careplan_store::StoreError;
use careplan_store::handle::Viewed;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use std::sync::Arc;

use crate::WebState;
use crate::caseload::capitalise;
use crate::error::{PageError, page_with, redirect};
use crate::fields::{Field, FormPage, Kind};
use crate::layout::Chrome;
use crate::session::{FormData, Session};

#[derive(Debug, Deserialize)]
pub struct FormQuery {
    #[serde(default)]
    item: Option<String>,
    #[serde(default)]
    section: Option<String>,
}

/// What a form is about.
struct Ctx<'a> {
    plan: &'a Plan,
    item: Option<ItemId>,
    section: Option<Section>,
}

/// A form's text and fields.
struct Spec {
    heading: String,
    intro: Vec<String>,
    submit: String,
    warning: bool,
    fields: Vec<Field>,
}

fn spec(heading: &str, submit: &str, fields: Vec<Field>) -> Spec {
    Spec {
        heading: heading.to_owned(),
        intro: Vec::new(),
        submit: submit.to_owned(),
        warning: false,
        fields,
    }
}

fn opts(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned()))
        .collect()
}

fn radios(list: &[(&str, &str)]) -> Vec<(String, String, String)> {
    list.iter()
        .map(|(v, l)| ((*v).to_owned(), (*l).to_owned(), String::new()))
        .collect()
}

const RAISED_BY: &[(&str, &str)] = &[
    ("person", "The person"),
    ("carer", "A carer"),
    ("professional", "A professional"),
];
const DOMAINS: &[(&str, &str)] = &[
    ("biological", "Biological (physical health)"),
    ("psychological", "Psychological (thoughts and feelings)"),
    ("social", "Social (relationships, home, work)"),
];
const GOAL_STATUS: &[(&str, &str)] = &[
    ("proposed", "Proposed"),
    ("active", "Active"),
    ("on_hold", "On hold"),
    ("achieved", "Achieved"),
    ("not_achieved", "Not achieved"),
    ("cancelled", "Cancelled"),
];
const ACTION_STATUS: &[(&str, &str)] = &[
    ("not_started", "Not started"),
    ("in_progress", "In progress"),
    ("on_hold", "On hold"),
    ("completed", "Completed"),
    ("cancelled", "Cancelled"),
];
const PERFORMERS: &[(&str, &str)] = &[
    ("person", "The person"),
    ("carer", "A carer"),
    ("representative", "Their representative"),
    ("practitioner", "A practitioner"),
    ("organisation", "An organisation"),
    ("other", "Someone else"),
];
const OUTCOMES: &[(&str, &str)] = &[
    ("achieved", "Achieved"),
    ("partly_achieved", "Partly achieved"),
    ("not_achieved", "Not achieved"),
];
const FUNDING: &[(&str, &str)] = &[
    ("personal_budget", "Personal budget"),
    ("personal_health_budget", "Personal health budget"),
    ("direct_payment", "Direct payment"),
    ("nhs_continuing_healthcare", "NHS continuing healthcare"),
    ("local_authority", "Local authority"),
    ("self_funded", "Self-funded"),
    ("joint", "Joint funding"),
    ("other", "Other"),
];
const PLAN_STATUS: &[(&str, &str)] = &[
    ("draft", "Draft"),
    ("active", "Active"),
    ("on_hold", "On hold"),
    ("completed", "Completed"),
    ("revoked", "Revoked"),
];
const AUTHORITIES: &[(&str, &str)] = &[
    (
        "lasting_power_of_attorney_health_and_welfare",
        "Lasting power of attorney for health and welfare",
    ),
    ("court_appointed_deputy", "Court-appointed deputy"),
    ("other", "Other legal authority"),
];
const PURPOSES: &[(&str, &str)] = &[
    ("guidance", "Guidance"),
    ("learning_material", "Learning material"),
    ("explanatory_note", "Explanatory note"),
    ("diagram", "Diagram"),
    ("recording", "Recording"),
    ("document", "Document"),
    ("other", "Other"),
];
pub const SECTIONS: &[(&str, &str)] = &[
    ("whole_plan", "The whole plan"),
    ("care_team", "Care team"),
    ("strengths", "Strengths"),
    ("needs", "Needs"),
    ("concerns", "Concerns"),
    ("problems", "Problems"),
    ("goals", "Goals and hopes"),
    ("actions", "Actions"),
    ("outcomes", "Outcomes"),
    ("agreement", "Agreement"),
    ("capacity", "Mental capacity"),
    ("funding", "Care funding source"),
];
pub const ROLES: &[(&str, &str)] = &[
    ("practitioner", "Practitioners"),
    ("carer", "Carers"),
    ("data_controller", "Data controllers"),
];

fn with_empty(first: &str, list: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut v = vec![(String::new(), first.to_owned())];
    v.extend(opts(list));
    v
}

/// An enum value from its snake_case name.
fn parse_enum<T: DeserializeOwned>(value: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(value.to_owned())).ok()
}

/// Its snake_case name.
fn enum_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn opt_string<T: ToString>(v: &Option<T>) -> String {
    v.as_ref().map(ToString::to_string).unwrap_or_default()
}

fn number<T: Into<u8> + Copy>(v: Option<T>) -> String {
    v.map(|v| Into::<u8>::into(v).to_string())
        .unwrap_or_default()
}

/// Active goals as (id, description) options.
fn goal_options(plan: &Plan, except: Option<&ItemId>) -> Vec<(String, String)> {
    plan.goals_in_order()
        .into_iter()
        .filter(|(id, _)| Some(*id) != except)
        .map(|(id, g)| (id.to_string(), g.description.to_string()))
        .collect()
}

/// Active needs, concerns and problems as checkbox options.
fn addressable(plan: &Plan) -> Vec<(String, String)> {
    let mut v = Vec::new();
    for (id, n) in plan.needs.iter().filter(|(_, n)| n.meta.is_active()) {
        v.push((id.to_string(), format!("Need: {}", n.description)));
    }
    for (id, n) in plan.concerns.iter().filter(|(_, n)| n.meta.is_active()) {
        v.push((id.to_string(), format!("Concern: {}", n.description)));
    }
    for (id, n) in plan.problems.iter().filter(|(_, n)| n.meta.is_active()) {
        v.push((id.to_string(), format!("Problem: {}", n.description)));
    }
    v
}

fn strength_options(plan: &Plan) -> Vec<(String, String)> {
    plan.strengths
        .iter()
        .filter(|(_, s)| s.meta.is_active())
        .map(|(id, s)| (id.to_string(), s.description.to_string()))
        .collect()
}

fn item_title(plan: &Plan, id: &ItemId) -> String {
    plan.kind_of(id)
        .and_then(|k| plan.get(&careplan_model::ItemKey::new(k, id.clone())))
        .map_or_else(|| id.to_string(), |i| describe(i).title)
}

fn need_item(ctx: &Ctx<'_>, kind: ItemKind) -> Result<ItemId, PageError> {
    let id = ctx
        .item
        .clone()
        .ok_or_else(|| PageError::NotFound("This form needs the item it is about".into()))?;
    if ctx.plan.kind_of(&id) != Some(kind) {
        return Err(PageError::NotFound(format!(
            "This plan has no {} with id “{id}” that you may see",
            kind_word(kind)
        )));
    }
    Ok(id)
}

fn kind_word(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Strength => "strength",
        ItemKind::Need => "need",
        ItemKind::Concern => "concern",
        ItemKind::Problem => "problem",
        ItemKind::Goal => "goal",
        ItemKind::Action => "action",
        ItemKind::Suggestion => "suggested change",
        ItemKind::CapacityAssessment => "capacity assessment",
        _ => "item",
    }
}

fn text_field(name: &str, label: &str) -> Field {
    Field::new(name, label, Kind::Text("nhsuk-u-width-full"))
}

fn priority_field(name: &str, label: &str) -> Field {
    Field::new(name, label, Kind::Number)
        .hint("From 1 (least) to 10 (most). Leave empty if not known.")
}

/// The fields (with current values for edits) of the form `slug`.
fn form_spec(slug: &str, ctx: &Ctx<'_>) -> Result<Spec, PageError> {
    let plan = ctx.plan;
    Ok(match slug {
        "add-strength" => spec(
            "Add a strength",
            "Add strength",
            vec![
                Field::new(
                    "description",
                    "What is the person good at, or what do they enjoy?",
                    Kind::Textarea,
                ),
                priority_field("importance", "How important is it to them? (optional)"),
            ],
        ),
        "edit-strength" => {
            let id = need_item(ctx, ItemKind::Strength)?;
            let s = &plan.strengths[&id];
            spec(
                "Change a strength",
                "Save changes",
                vec![
                    Field::new("description", "Strength", Kind::Textarea)
                        .value(s.description.to_string()),
                    priority_field("importance", "How important is it to them? (optional)")
                        .value(number(s.importance)),
                ],
            )
        }
        "add-need" => spec(
            "Add a need",
            "Add need",
            vec![
                Field::new("description", "What does the person need?", Kind::Textarea),
                Field::new(
                    "identified_by",
                    "Who identified it? (optional)",
                    Kind::Select(with_empty("Not recorded", RAISED_BY)),
                ),
                priority_field("importance", "How important is it? (optional)"),
            ],
        ),
        "edit-need" => {
            let id = need_item(ctx, ItemKind::Need)?;
            let n = &plan.needs[&id];
            let mut s = spec(
                "Change a need",
                "Save changes",
                vec![
                    Field::new("description", "Need", Kind::Textarea)
                        .value(n.description.to_string()),
                    Field::new(
                        "identified_by",
                        "Who identified it? (optional)",
                        Kind::Select(with_empty("Not recorded", RAISED_BY)),
                    )
                    .value(n.identified_by.map(|r| enum_name(&r)).unwrap_or_default()),
                    priority_field("importance", "How important is it? (optional)")
                        .value(number(n.importance)),
                ],
            );
            s.intro.push(
                "Changing how important it is flags the goals that address it for review.".into(),
            );
            s
        }
        "add-concern" | "edit-concern" => {
            let existing = if slug == "edit-concern" {
                Some(&plan.concerns[&need_item(ctx, ItemKind::Concern)?])
            } else {
                None
            };
            spec(
                if existing.is_some() {
                    "Change a concern"
                } else {
                    "Add a concern"
                },
                if existing.is_some() {
                    "Save changes"
                } else {
                    "Add concern"
                },
                vec![
                    Field::new("description", "What is the concern?", Kind::Textarea).value(
                        existing
                            .map(|c| c.description.to_string())
                            .unwrap_or_default(),
                    ),
                    Field::new(
                        "raised_by",
                        "Whose concern is it?",
                        Kind::Radios(radios(RAISED_BY)),
                    )
                    .value(
                        existing
                            .map(|c| enum_name(&c.raised_by))
                            .unwrap_or_default(),
                    ),
                    Field::new(
                        "domain",
                        "What kind of concern is it?",
                        Kind::Radios(radios(DOMAINS)),
                    )
                    .value(existing.map(|c| enum_name(&c.domain)).unwrap_or_default()),
                    priority_field("importance", "How important is it? (optional)")
                        .value(number(existing.and_then(|c| c.importance))),
                ],
            )
        }
        "add-problem" | "edit-problem" => {
            let existing = if slug == "edit-problem" {
                Some(&plan.problems[&need_item(ctx, ItemKind::Problem)?])
            } else {
                None
            };
            spec(
                if existing.is_some() {
                    "Change a problem"
                } else {
                    "Add a problem"
                },
                if existing.is_some() {
                    "Save changes"
                } else {
                    "Add problem"
                },
                vec![
                    Field::new("description", "What is the problem?", Kind::Textarea).value(
                        existing
                            .map(|c| c.description.to_string())
                            .unwrap_or_default(),
                    ),
                    Field::new(
                        "code",
                        "SNOMED CT concept id (optional)",
                        Kind::Text("nhsuk-input--width-20"),
                    )
                    .hint("For example, 73211009")
                    .value(
                        existing
                            .and_then(|c| c.code.as_ref())
                            .map(|c| c.code.to_string())
                            .unwrap_or_default(),
                    ),
                    Field::new(
                        "code_display",
                        "SNOMED CT term (needed with a code)",
                        Kind::Text("nhsuk-u-width-two-thirds"),
                    )
                    .value(
                        existing
                            .and_then(|c| c.code.as_ref())
                            .map(|c| c.display.to_string())
                            .unwrap_or_default(),
                    ),
                    Field::new(
                        "ref_system",
                        "Problem list it comes from (optional)",
                        Kind::Text("nhsuk-u-width-two-thirds"),
                    )
                    .hint("For example, the GP system's name")
                    .value(
                        existing
                            .and_then(|c| c.external_reference.as_ref())
                            .map(|r| r.system.to_string())
                            .unwrap_or_default(),
                    ),
                    Field::new(
                        "ref_value",
                        "Its entry there (optional)",
                        Kind::Text("nhsuk-u-width-one-half"),
                    )
                    .value(
                        existing
                            .and_then(|c| c.external_reference.as_ref())
                            .map(|r| r.value.to_string())
                            .unwrap_or_default(),
                    ),
                    priority_field("importance", "How important is it? (optional)")
                        .value(number(existing.and_then(|c| c.importance))),
                ],
            )
        }
        "add-goal" | "edit-goal" => {
            let existing = if slug == "edit-goal" {
                Some(&plan.goals[&need_item(ctx, ItemKind::Goal)?])
            } else {
                None
            };
            let needs = addressable(plan);
            let mut s = spec(
                if existing.is_some() {
                    "Change a goal or hope"
                } else {
                    "Add a goal or hope"
                },
                if existing.is_some() {
                    "Save changes"
                } else {
                    "Add goal"
                },
                vec![
                    Field::new(
                        "label",
                        "Is it a goal or a hope?",
                        Kind::Radios(vec![
                            ("goal".into(), "Goal".into(), "Usual in health care".into()),
                            ("hope".into(), "Hope".into(), "Usual in social care".into()),
                        ]),
                    )
                    .value(existing.map_or_else(|| "goal".to_owned(), |g| enum_name(&g.label))),
                    Field::new(
                        "description",
                        "What does the person want to achieve?",
                        Kind::Textarea,
                    )
                    .value(
                        existing
                            .map(|g| g.description.to_string())
                            .unwrap_or_default(),
                    ),
                    Field::new(
                        "why_it_matters",
                        "Why does it matter to them? (optional)",
                        Kind::Textarea,
                    )
                    .hint("In their own words, if you can")
                    .value(
                        existing
                            .map(|g| opt_string(&g.why_it_matters))
                            .unwrap_or_default(),
                    ),
                    priority_field("priority", "Priority (optional)")
                        .value(number(existing.and_then(|g| g.priority))),
                    Field::new("status", "Status", Kind::Select(opts(GOAL_STATUS))).value(
                        existing.map_or_else(|| "active".to_owned(), |g| enum_name(&g.status)),
                    ),
                    Field::new("target_date", "Target date (optional)", Kind::Date)
                        .hint("For example, 1 9 2026")
                        .value(
                            existing
                                .and_then(|g| g.target_date)
                                .map(|d| d.to_string())
                                .unwrap_or_default(),
                        ),
                    Field::new(
                        "addresses",
                        "Which needs, concerns or problems does it address?",
                        Kind::Checkboxes(needs.clone()),
                    )
                    .hint("Select at least one. Every goal must address a need.")
                    .values(
                        existing
                            .map(|g| g.addresses.iter().map(ToString::to_string).collect())
                            .unwrap_or_default(),
                    ),
                ],
            );
            let strengths = strength_options(plan);
            if !strengths.is_empty() {
                s.fields.push(
                    Field::new(
                        "strengths",
                        "Which strengths does it build on? (optional)",
                        Kind::Checkboxes(strengths),
                    )
                    .values(
                        existing
                            .map(|g| g.strengths.iter().map(ToString::to_string).collect())
                            .unwrap_or_default(),
                    ),
                );
            }
            if needs.is_empty() {
                s.intro.push(
                    "Add a need, concern or problem first: every goal must address at least one."
                        .into(),
                );
            }
            s
        }
        "review-goal" => {
            let id = need_item(ctx, ItemKind::Goal)?;
            let g = &plan.goals[&id];
            let mut s = spec(
                "Mark a goal as reviewed",
                "Mark as reviewed",
                vec![Field::new("note", "Note (optional)", Kind::Textarea)],
            );
            s.intro.push(format!("Goal: {}", g.description));
            if let Some(r) = &g.review {
                s.intro.push(format!("Flagged for review: {}", r.reason));
            }
            s
        }
        "archive-goal" => {
            let id = need_item(ctx, ItemKind::Goal)?;
            let g = &plan.goals[&id];
            let others = goal_options(plan, Some(&id));
            let mut fields = Vec::new();
            for (aid, a) in plan
                .actions
                .iter()
                .filter(|(_, a)| a.goal == id && a.meta.is_active())
            {
                let mut options = vec![(
                    "archive".to_owned(),
                    "Archive it with the goal".to_owned(),
                    String::new(),
                )];
                options.extend(others.iter().map(|(gid, text)| {
                    (gid.clone(), format!("Move it to “{text}”"), String::new())
                }));
                fields.push(
                    Field::new(
                        &format!("move-{aid}"),
                        &format!("Action: {}", a.description),
                        Kind::Radios(options),
                    )
                    .value("archive"),
                );
            }
            fields.push(Field::new(
                "reason",
                "Why is it being archived? (optional)",
                Kind::Textarea,
            ));
            let mut s = spec("Archive this goal", "Archive goal", fields);
            s.warning = true;
            s.intro.push(format!("Goal: {}", g.description));
            s.intro.push(
                "It will leave the current plan but stay in every earlier version. Choose what happens to each of its actions."
                    .into(),
            );
            s
        }
        "add-action" | "edit-action" => {
            let existing = if slug == "edit-action" {
                Some(&plan.actions[&need_item(ctx, ItemKind::Action)?])
            } else {
                None
            };
            let goal = match (existing, &ctx.item) {
                (Some(a), _) => a.goal.to_string(),
                (None, Some(g)) => g.to_string(),
                (None, None) => String::new(),
            };
            let mut fields = vec![
                Field::new(
                    "goal",
                    "Which goal is it for?",
                    Kind::Select(goal_options(plan, None)),
                )
                .value(goal),
                Field::new("description", "What will be done?", Kind::Textarea).value(
                    existing
                        .map(|a| a.description.to_string())
                        .unwrap_or_default(),
                ),
                Field::new(
                    "performer_kind",
                    "Who will do it?",
                    Kind::Select(opts(PERFORMERS)),
                )
                .value(
                    existing.map_or_else(|| "person".to_owned(), |a| enum_name(&a.performer.kind)),
                ),
                Field::new(
                    "performer_name",
                    "Their name (optional)",
                    Kind::Text("nhsuk-u-width-two-thirds"),
                )
                .value(
                    existing
                        .map(|a| opt_string(&a.performer.name))
                        .unwrap_or_default(),
                ),
                Field::new(
                    "performer_organisation",
                    "Their organisation (optional)",
                    Kind::Text("nhsuk-u-width-two-thirds"),
                )
                .value(
                    existing
                        .map(|a| opt_string(&a.performer.organisation))
                        .unwrap_or_default(),
                ),
                Field::new(
                    "timing",
                    "When, or how often? (optional)",
                    Kind::Text("nhsuk-u-width-two-thirds"),
                )
                .hint("For example, every Tuesday morning")
                .value(existing.map(|a| opt_string(&a.timing)).unwrap_or_default()),
                Field::new("status", "Status", Kind::Select(opts(ACTION_STATUS))).value(
                    existing.map_or_else(|| "not_started".to_owned(), |a| enum_name(&a.status)),
                ),
                Field::new(
                    "confidence",
                    "How confident is the person to do it? (optional)",
                    Kind::Number,
                )
                .hint("From 1 (not at all) to 10 (completely)")
                .value(number(existing.and_then(|a| a.confidence))),
            ];
            if existing.is_none() && ctx.item.is_some() {
                fields[0].hint =
                    "The action is added to this goal unless you choose another".into();
            }
            spec(
                if existing.is_some() {
                    "Change an action"
                } else {
                    "Add an action"
                },
                if existing.is_some() {
                    "Save changes"
                } else {
                    "Add action"
                },
                fields,
            )
        }
        "suggest" => {
            let id = need_item(ctx, ItemKind::Action)?;
            let a = &plan.actions[&id];
            let mut s = spec(
                "Suggest a change to an action",
                "Send suggestion",
                vec![
                    Field::new(
                        "timing",
                        "When, or how often, should it happen? (optional)",
                        Kind::Text("nhsuk-u-width-two-thirds"),
                    )
                    .hint(&format!(
                        "Now: {}",
                        a.timing
                            .as_ref()
                            .map_or("not set".to_owned(), ToString::to_string)
                    )),
                    Field::new(
                        "confidence",
                        "How confident are you to do it now? (optional)",
                        Kind::Number,
                    )
                    .hint("From 1 (not at all) to 10 (completely)"),
                    Field::new(
                        "description",
                        "A different description (optional)",
                        Kind::Textarea,
                    ),
                    Field::new("note", "Why? (optional)", Kind::Textarea),
                ],
            );
            s.intro.push(format!("Action: {}", a.description));
            s.intro.push("A practitioner will accept or decline your suggestion. Until then the action stays as it is.".into());
            s
        }
        "decline-suggestion" => {
            let id = need_item(ctx, ItemKind::Suggestion)?;
            let sg = &plan.suggestions[&id];
            let mut s = spec(
                "Decline a suggested change",
                "Decline suggestion",
                vec![
                    Field::new("reason", "Why is it declined? (optional)", Kind::Textarea)
                        .hint("The person who suggested it will see this"),
                ],
            );
            s.intro
                .push(describe(careplan_model::ItemRef::Suggestion(sg)).title);
            s
        }
        "record-outcome" => {
            let id = need_item(ctx, ItemKind::Goal)?;
            let mut s = spec(
                "Record an outcome",
                "Record outcome",
                vec![
                    Field::new("description", "What was the outcome?", Kind::Textarea),
                    Field::new(
                        "status",
                        "Was the goal achieved?",
                        Kind::Radios(radios(OUTCOMES)),
                    ),
                    Field::new("date", "Date", Kind::Date).value(today()),
                ],
            );
            s.intro
                .push(format!("Goal: {}", plan.goals[&id].description));
            s
        }
        "record-progress" => {
            let id = need_item(ctx, ItemKind::Goal)?;
            let mut s = spec(
                "Record progress",
                "Record progress",
                vec![
                    Field::new("scale", "Scale", Kind::Radios(vec![
                        ("goal_attainment".into(), "Goal attainment, −2 to +2".into(), "0 is the expected level; +2 much better than expected; −2 much worse".into()),
                        ("zero_to_ten".into(), "0 to 10".into(), "0 is no progress, 10 is the goal achieved".into()),
                    ]))
                    .value(
                        plan.progress
                            .values()
                            .filter(|r| r.goal == id && r.meta.is_active())
                            .max_by_key(|r| r.date)
                            .map_or_else(|| "goal_attainment".to_owned(), |r| enum_name(&r.progress.scale())),
                    ),
                    Field::new("value", "Progress", Kind::Number).hint("A whole number on the scale, for example 1 or -1"),
                    Field::new("date", "Date", Kind::Date).value(today()),
                    Field::new("note", "Note (optional)", Kind::Textarea),
                ],
            );
            s.intro
                .push(format!("Goal: {}", plan.goals[&id].description));
            s
        }
        "comment" => {
            let about = match (&ctx.item, ctx.section) {
                (Some(id), _) => {
                    if plan.kind_of(id).is_none() {
                        return Err(PageError::NotFound(format!(
                            "This plan has no item with id “{id}” that you may see"
                        )));
                    }
                    format!("About: {}", item_title(plan, id))
                }
                (None, Some(s)) => format!("About the {} section", s.title()),
                (None, None) => "About the plan as a whole".to_owned(),
            };
            let mut s = spec(
                "Add a comment",
                "Add comment",
                vec![Field::new("text", "Comment", Kind::Textarea)
                    .hint("You can use Markdown: **bold**, lists, and links. Comments are not messages: nobody is notified.")],
            );
            s.intro.push(about);
            s
        }
        "add-link" => spec(
            "Add a link",
            "Add link",
            vec![
                text_field("title", "Title"),
                Field::new("url", "Web address", Kind::Text("nhsuk-u-width-full"))
                    .hint("Starting https://"),
                Field::new("purpose", "What is it?", Kind::Select(opts(PURPOSES))),
            ],
        ),
        "agreement" => {
            let mut s = spec(
                "Record agreement of the plan",
                "Record agreement",
                vec![
                    Field::new("who", "Who agreed the plan?", Kind::Radios(vec![
                        ("person".into(), "The person".into(), String::new()),
                        ("representative".into(), "A legal representative on their behalf".into(), "A lasting power of attorney for health and welfare, or a court-appointed deputy".into()),
                        ("not_obtained".into(), "Agreement could not be obtained".into(), String::new()),
                    ])),
                    text_field("rep_name", "Representative's name (if a representative agreed)"),
                    text_field("rep_relationship", "Their relationship to the person (if a representative agreed)"),
                    Field::new("rep_authority", "Their legal authority (if a representative agreed)", Kind::Select(with_empty("Choose", AUTHORITIES))),
                    text_field("rep_reference", "Reference of the authority (optional)"),
                    Field::new("reason", "Why agreement could not be obtained (if it could not)", Kind::Textarea),
                ],
            );
            s.intro.push(
                "This records agreement of the plan as it is now. A later change will show that the agreement is for an earlier version."
                    .into(),
            );
            s
        }
        "capacity-support" => {
            let cs = plan.capacity_support.as_ref();
            spec(
                "Steps to maximise capacity and promote rights",
                "Save",
                vec![
                    Field::new(
                        "steps",
                        "Steps taken to maximise the person's capacity",
                        Kind::Textarea,
                    )
                    .value(
                        cs.map(|c| opt_string(&c.steps_to_maximise_capacity))
                            .unwrap_or_default(),
                    ),
                    Field::new(
                        "rights",
                        "How the person's rights are promoted",
                        Kind::Textarea,
                    )
                    .value(
                        cs.map(|c| opt_string(&c.rights_promotion))
                            .unwrap_or_default(),
                    ),
                ],
            )
        }
        "capacity-assessment" => spec(
            "Record a mental capacity assessment",
            "Record assessment",
            vec![
                text_field("decision", "Which decision is it about?")
                    .hint("Capacity is decision-specific"),
                Field::new(
                    "outcome",
                    "Outcome",
                    Kind::Radios(radios(&[
                        ("has_capacity", "Has capacity for this decision"),
                        ("lacks_capacity", "Lacks capacity for this decision"),
                    ])),
                ),
                text_field("assessed_by", "Assessed by"),
                Field::new("assessed_on", "Assessed on", Kind::Date).value(today()),
                Field::new("reasoning", "Reasoning (optional)", Kind::Textarea),
            ],
        ),
        "best-interest" => {
            let assessments: Vec<(String, String)> = plan
                .capacity_assessments
                .iter()
                .filter(|(_, a)| a.meta.is_active() && a.outcome == CapacityOutcome::LacksCapacity)
                .map(|(id, a)| {
                    (
                        id.to_string(),
                        format!("{} ({})", a.decision, crate::format::date(a.assessed_on)),
                    )
                })
                .collect();
            let mut s = spec(
                "Record a best-interest decision",
                "Record decision",
                vec![
                    text_field("decision", "The decision"),
                    Field::new(
                        "assessment",
                        "The capacity assessment it follows",
                        Kind::Select(assessments.clone()),
                    ),
                    text_field("decision_maker", "Decision maker"),
                    Field::new("consulted", "Who was consulted?", Kind::Textarea)
                        .hint("One person per line"),
                    Field::new("rationale", "Rationale", Kind::Textarea),
                    Field::new("decided_on", "Decided on", Kind::Date).value(today()),
                ],
            );
            if assessments.is_empty() {
                s.intro.push("A best-interest decision needs a capacity assessment that found the person lacks capacity for the decision: record that first.".into());
            }
            s
        }
        "funding" => {
            let f = plan.funding.as_ref();
            let mut s = spec(
                "Care funding source",
                "Save",
                vec![
                    Field::new("source", "Source", Kind::Radios(radios(FUNDING)))
                        .value(f.map(|f| enum_name(&f.source)).unwrap_or_default()),
                    Field::new(
                        "details_held_at",
                        "Where the funding details are held (optional)",
                        Kind::Text("nhsuk-u-width-full"),
                    )
                    .hint("A reference only, for example the council's case number. Never amounts.")
                    .value(
                        f.map(|f| opt_string(&f.details_held_at))
                            .unwrap_or_default(),
                    ),
                ],
            );
            s.intro.push(
                "Record the source only: amounts and funding details belong in the funding system."
                    .into(),
            );
            s
        }
        "review-date" => spec(
            "Set the review date",
            "Save",
            vec![
                Field::new(
                    "review_date",
                    "When will the plan next be reviewed?",
                    Kind::Date,
                )
                .hint("Leave empty to remove the review date")
                .value(
                    plan.details
                        .review_date
                        .map(|d| d.to_string())
                        .unwrap_or_default(),
                ),
            ],
        ),
        "plan-status" => spec(
            "Change the plan's status",
            "Save",
            vec![
                Field::new("status", "Status", Kind::Radios(radios(PLAN_STATUS)))
                    .value(enum_name(&plan.details.status)),
            ],
        ),
        "care-team-member" => spec(
            "Add someone to the care team",
            "Add to care team",
            vec![
                text_field("name", "Name"),
                text_field("role", "Role in the person's care").hint("For example, district nurse"),
                text_field("organisation", "Organisation (optional)"),
                Field::new(
                    "account",
                    "Their username in this service (optional)",
                    Kind::Text("nhsuk-u-width-one-half"),
                )
                .hint("With a username, they can open this plan"),
            ],
        ),
        "archive" => {
            let id = ctx
                .item
                .clone()
                .filter(|id| plan.kind_of(id).is_some())
                .ok_or_else(|| {
                    PageError::NotFound("This plan has no such item that you may see".into())
                })?;
            let mut s = spec(
                "Archive an item",
                "Archive",
                vec![Field::new(
                    "reason",
                    "Why is it being archived? (optional)",
                    Kind::Textarea,
                )],
            );
            s.warning = true;
            s.intro.push(format!("Item: {}", item_title(plan, &id)));
            s.intro.push("It will leave the current plan but stay in every earlier version, and can be restored.".into());
            s
        }
        "sharing" => {
            let mut s = spec(
                "Choose who can see your plan",
                "Save this choice",
                vec![
                    Field::new(
                        "scope",
                        "Which part of the plan?",
                        Kind::Select(opts(SECTIONS)),
                    ),
                    Field::new(
                        "audience_kind",
                        "Who is this choice about?",
                        Kind::Radios(vec![
                            ("role".into(), "Everyone in a role".into(), String::new()),
                            (
                                "organisation".into(),
                                "Everyone from one organisation".into(),
                                String::new(),
                            ),
                        ]),
                    )
                    .value("role"),
                    Field::new("role", "Which role?", Kind::Select(opts(ROLES))),
                    text_field(
                        "organisation",
                        "Which organisation? (if you chose an organisation)",
                    ),
                    Field::new(
                        "visible",
                        "Can they see it?",
                        Kind::Radios(vec![
                            (
                                "false".into(),
                                "No, keep it from them".into(),
                                String::new(),
                            ),
                            (
                                "true".into(),
                                "Yes, share it with them".into(),
                                String::new(),
                            ),
                        ]),
                    ),
                ],
            );
            s.intro.push("You decide who sees each part of your plan. A choice about an organisation comes before a choice about a role.".into());
            s
        }
        "rank-goals" => {
            let goals = plan.goals_in_order();
            let mut s = spec(
                "Put the goals in the person's order",
                "Save the order",
                goals
                    .iter()
                    .enumerate()
                    .map(|(i, (id, g))| {
                        Field::new(&format!("rank-{id}"), g.description.as_str(), Kind::Number)
                            .value((i + 1).to_string())
                    })
                    .collect(),
            );
            s.intro
                .push("Number the goals from 1, the one that matters most to the person.".into());
            if goals.is_empty() {
                s.intro
                    .push("There are no goals to put in order yet.".into());
            }
            s
        }
        "edit-person" => {
            let p = &plan.person.person;
            spec(
                "Change personal details",
                "Save changes",
                vec![
                    Field::new(
                        "given_name",
                        "Given name",
                        Kind::Text("nhsuk-u-width-two-thirds"),
                    )
                    .value(p.given_name.to_string()),
                    Field::new(
                        "family_name",
                        "Family name",
                        Kind::Text("nhsuk-u-width-two-thirds"),
                    )
                    .value(p.family_name.to_string()),
                    Field::new(
                        "preferred_name",
                        "Preferred name (optional)",
                        Kind::Text("nhsuk-u-width-two-thirds"),
                    )
                    .value(opt_string(&p.preferred_name)),
                    Field::new("date_of_birth", "Date of birth", Kind::Date)
                        .value(p.date_of_birth.to_string()),
                    Field::new(
                        "nhs_number",
                        "NHS number (optional)",
                        Kind::Text("nhsuk-input--width-10"),
                    )
                    .hint("10 digits, for example 943 476 5919")
                    .value(
                        p.nhs_number
                            .as_ref()
                            .map(|n| n.as_str().to_owned())
                            .unwrap_or_default(),
                    ),
                ],
            )
        }
        _ => {
            return Err(PageError::NotFound(format!(
                "There is no form called “{slug}”"
            )));
        }
    })
}

fn today() -> String {
    time::OffsetDateTime::now_utc().date().to_string()
}

/// Reads fields and builds the command; on a mistake, marks the field and returns `None`.
struct Reader<'f> {
    fields: &'f mut Vec<Field>,
    form: &'f FormData,
}

impl Reader<'_> {
    fn raw(&self, name: &str) -> String {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map_or_else(|| self.form.text(name), |f| f.value.trim().to_owned())
    }

    fn fail(&mut self, name: &str, message: impl Into<String>) {
        if let Some(f) = self.fields.iter_mut().find(|f| f.name == name) {
            f.error.get_or_insert(message.into());
        }
    }

    fn text(&mut self, name: &str, missing: &str) -> Option<Text> {
        let raw = self.raw(name);
        if raw.is_empty() {
            self.fail(name, missing);
            return None;
        }
        match Text::new(&raw) {
            Ok(t) => Some(t),
            Err(e) => {
                self.fail(name, capitalise(&e.0));
                None
            }
        }
    }

    fn opt_text(&mut self, name: &str) -> Option<Text> {
        let raw = self.raw(name);
        if raw.is_empty() {
            return None;
        }
        match Text::new(&raw) {
            Ok(t) => Some(t),
            Err(e) => {
                self.fail(name, capitalise(&e.0));
                None
            }
        }
    }

    /// A whole number in `range` (or absent); `what` names it in the error.
    fn opt_number(
        &mut self,
        name: &str,
        what: &str,
        range: std::ops::RangeInclusive<i64>,
    ) -> Option<i64> {
        let raw = self.raw(name).replace('−', "-").replace('+', "");
        if raw.is_empty() {
            return None;
        }
        match raw.parse::<i64>() {
            Ok(n) if range.contains(&n) => Some(n),
            _ => {
                self.fail(
                    name,
                    format!(
                        "{what} must be a whole number from {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    fn opt_priority(&mut self, name: &str, what: &str) -> Option<Priority> {
        self.opt_number(name, what, 1..=10)
            .and_then(|n| Priority::new(n).ok())
    }

    fn date(&mut self, name: &str, what: &str) -> Option<Date> {
        let raw = self.raw(name);
        if raw.is_empty() {
            self.fail(name, format!("Enter the {what}"));
            return None;
        }
        self.some_date(name, what, &raw)
    }

    fn opt_date(&mut self, name: &str, what: &str) -> Option<Date> {
        let raw = self.raw(name);
        if raw.is_empty() {
            return None;
        }
        self.some_date(name, what, &raw)
    }

    fn some_date(&mut self, name: &str, what: &str, raw: &str) -> Option<Date> {
        match parse_date(raw) {
            Ok(d) => Some(d),
            Err(_) => {
                self.fail(
                    name,
                    format!("The {what} must be a real date, for example 1 9 2026"),
                );
                None
            }
        }
    }

    fn choice<T: DeserializeOwned>(&mut self, name: &str, missing: &str) -> Option<T> {
        let raw = self.raw(name);
        match parse_enum(&raw) {
            Some(v) if !raw.is_empty() => Some(v),
            _ => {
                self.fail(name, missing);
                None
            }
        }
    }

    fn opt_choice<T: DeserializeOwned>(&mut self, name: &str) -> Option<T> {
        let raw = self.raw(name);
        if raw.is_empty() {
            None
        } else {
            parse_enum(&raw)
        }
    }

    fn ids(&mut self, name: &str) -> Vec<ItemId> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .map(|f| f.values.clone())
            .unwrap_or_default()
            .iter()
            .filter_map(|v| ItemId::parse(v).ok())
            .collect()
    }

    fn ok(&self) -> bool {
        self.fields.iter().all(|f| f.error.is_none())
    }
}

fn change<T>(v: Option<T>) -> Change<T> {
    match v {
        Some(v) => Change::Set(v),
        None => Change::Clear,
    }
}

/// The command a submitted form means, or `None` when a field needs correcting.
fn build_command(slug: &str, ctx: &Ctx<'_>, r: &mut Reader<'_>) -> Option<Command> {
    let item = ctx.item.clone();
    let cmd = match slug {
        "add-strength" => Command::AddStrength {
            id: None,
            description: r.text("description", "Enter the strength")?,
            importance: r.opt_priority("importance", "Importance"),
        },
        "edit-strength" => Command::EditStrength {
            id: item?,
            description: r.text("description", "Enter the strength"),
            importance: change(r.opt_priority("importance", "Importance")),
        },
        "add-need" => Command::AddNeed {
            id: None,
            description: r.text("description", "Enter the need")?,
            identified_by: r.opt_choice("identified_by"),
            importance: r.opt_priority("importance", "Importance"),
        },
        "edit-need" => Command::EditNeed {
            id: item?,
            description: r.text("description", "Enter the need"),
            identified_by: change(r.opt_choice::<RaisedBy>("identified_by")),
            importance: change(r.opt_priority("importance", "Importance")),
        },
        "add-concern" | "edit-concern" => {
            let description = r.text("description", "Enter the concern");
            let raised_by: Option<RaisedBy> = r.choice("raised_by", "Select whose concern it is");
            let domain: Option<ConcernDomain> =
                r.choice("domain", "Select what kind of concern it is");
            let importance = r.opt_priority("importance", "Importance");
            if !r.ok() {
                return None;
            }
            if slug == "add-concern" {
                Command::AddConcern {
                    id: None,
                    description: description?,
                    raised_by: raised_by?,
                    domain: domain?,
                    importance,
                }
            } else {
                Command::EditConcern {
                    id: item?,
                    description,
                    raised_by,
                    domain,
                    importance: change(importance),
                }
            }
        }
        "add-problem" | "edit-problem" => {
            let description = r.text("description", "Enter the problem");
            let code_raw = r.raw("code");
            let code = if code_raw.is_empty() {
                None
            } else {
                match careplan_model::SctId::parse(&code_raw) {
                    Ok(c) => r
                        .text("code_display", "Enter the SNOMED CT term for the code")
                        .map(|display| careplan_model::SnomedConcept { code: c, display }),
                    Err(e) => {
                        r.fail("code", capitalise(&e.0));
                        None
                    }
                }
            };
            let system = r.opt_text("ref_system");
            let value = r.opt_text("ref_value");
            let external = match (system, value) {
                (Some(system), Some(value)) => {
                    Some(careplan_model::ExternalReference { system, value })
                }
                (None, None) => None,
                (Some(_), None) => {
                    r.fail(
                        "ref_value",
                        "Enter the entry in the problem list, or clear the problem list's name",
                    );
                    None
                }
                (None, Some(_)) => {
                    r.fail(
                        "ref_system",
                        "Enter which problem list the entry comes from",
                    );
                    None
                }
            };
            let importance = r.opt_priority("importance", "Importance");
            if !r.ok() {
                return None;
            }
            if slug == "add-problem" {
                Command::AddProblem {
                    id: None,
                    description: description?,
                    code,
                    external_reference: external,
                    importance,
                }
            } else {
                Command::EditProblem {
                    id: item?,
                    description,
                    code: change(code),
                    external_reference: change(external),
                    importance: change(importance),
                }
            }
        }
        "add-goal" | "edit-goal" => {
            let label: Option<GoalLabel> = r.choice("label", "Select goal or hope");
            let description = r.text("description", "Enter what the person wants to achieve");
            let why = r.opt_text("why_it_matters");
            let priority = r.opt_priority("priority", "Priority");
            let status: Option<GoalStatus> = r.choice("status", "Select a status");
            let target = r.opt_date("target_date", "target date");
            let addresses = r.ids("addresses");
            if addresses.is_empty() {
                r.fail(
                    "addresses",
                    "Select at least one need, concern or problem that the goal addresses",
                );
            }
            let strengths = r.ids("strengths");
            if !r.ok() {
                return None;
            }
            if slug == "add-goal" {
                Command::AddGoal {
                    id: None,
                    label: label?,
                    description: description?,
                    why_it_matters: why,
                    priority,
                    status,
                    target_date: target,
                    addresses,
                    strengths,
                }
            } else {
                Command::EditGoal {
                    id: item?,
                    label,
                    description,
                    why_it_matters: change(why),
                    priority: change(priority),
                    status,
                    target_date: change(target),
                    addresses: Some(addresses),
                    strengths: Some(strengths),
                }
            }
        }
        "review-goal" => Command::ReviewGoal {
            id: item?,
            note: r.opt_text("note"),
        },
        "archive-goal" => {
            let id = item?;
            let mut moves = Vec::new();
            let names: Vec<String> = r
                .fields
                .iter()
                .filter_map(|f| f.name.strip_prefix("move-").map(str::to_owned))
                .collect();
            for action in names {
                let choice = r.raw(&format!("move-{action}"));
                if choice != "archive"
                    && let (Ok(action), Ok(to_goal)) =
                        (ItemId::parse(&action), ItemId::parse(&choice))
                {
                    moves.push(ActionMove { action, to_goal });
                }
            }
            Command::ArchiveGoal {
                id,
                move_actions: moves,
                reason: r.opt_text("reason"),
            }
        }
        "add-action" | "edit-action" => {
            let goal = ItemId::parse(&r.raw("goal")).ok();
            if goal.is_none() {
                r.fail("goal", "Select the goal the action is for");
            }
            let description = r.text("description", "Enter what will be done");
            let kind: Option<PerformerKind> = r.choice("performer_kind", "Select who will do it");
            let performer = kind.map(|kind| Performer {
                kind,
                name: r.opt_text("performer_name"),
                organisation: r.opt_text("performer_organisation"),
            });
            let timing = r.opt_text("timing");
            let status: Option<ActionStatus> = r.choice("status", "Select a status");
            let confidence = r
                .opt_number("confidence", "Confidence", 1..=10)
                .and_then(|n| careplan_model::Confidence::new(n).ok());
            if !r.ok() {
                return None;
            }
            if slug == "add-action" {
                Command::AddAction {
                    id: None,
                    goal: goal?,
                    description: description?,
                    performer: performer?,
                    timing,
                    status,
                    confidence,
                }
            } else {
                Command::EditAction {
                    id: item?,
                    goal,
                    description,
                    performer,
                    timing: change(timing),
                    status,
                    confidence: change(confidence),
                }
            }
        }
        "suggest" => {
            let changes = ActionChanges {
                description: r.opt_text("description"),
                timing: r.opt_text("timing").map_or(Change::Keep, Change::Set),
                confidence: r
                    .opt_number("confidence", "Confidence", 1..=10)
                    .and_then(|n| careplan_model::Confidence::new(n).ok())
                    .map_or(Change::Keep, Change::Set),
                ..ActionChanges::default()
            };
            if r.ok() && changes.is_empty() {
                r.fail("timing", "Suggest at least one change: when it happens, your confidence, or its description");
            }
            if !r.ok() {
                return None;
            }
            Command::SuggestActionChange {
                id: None,
                action: item?,
                changes,
                note: r.opt_text("note"),
            }
        }
        "decline-suggestion" => Command::DeclineSuggestion {
            id: item?,
            reason: r.opt_text("reason"),
        },
        "record-outcome" => {
            let description = r.text("description", "Enter the outcome");
            let status: Option<OutcomeStatus> =
                r.choice("status", "Select whether the goal was achieved");
            let date = r.date("date", "date of the outcome");
            Command::RecordOutcome {
                id: None,
                goal: item?,
                description: description?,
                status: status?,
                date: date?,
            }
        }
        "record-progress" => {
            let scale: Option<ProgressScale> = r.choice("scale", "Select a scale");
            let range = scale.map_or(-2..=10, |s| {
                let r = s.range();
                i64::from(*r.start())..=i64::from(*r.end())
            });
            let raw = r.raw("value");
            let value = if raw.is_empty() {
                r.fail("value", "Enter the progress as a number on the scale");
                None
            } else {
                r.opt_number("value", "Progress", range)
            };
            let date = r.date("date", "date of the progress");
            let note = r.opt_text("note");
            let progress = ProgressValue::new(scale?, value?).ok()?;
            Command::RecordProgress {
                id: None,
                goal: item?,
                date: date?,
                progress,
                note,
            }
        }
        "comment" => Command::AddComment {
            id: None,
            target: match (item, ctx.section) {
                (Some(item), _) => Target::Item { item },
                (None, Some(section)) => Target::Section { section },
                (None, None) => Target::Plan,
            },
            text: r.text("text", "Enter your comment")?,
        },
        "add-link" => {
            let title = r.text("title", "Enter a title for the link");
            let raw = r.raw("url");
            let url = if raw.is_empty() {
                r.fail("url", "Enter the web address");
                None
            } else {
                match WebAddress::parse(&raw) {
                    Ok(u) => Some(u),
                    Err(e) => {
                        r.fail("url", capitalise(&e.0));
                        None
                    }
                }
            };
            let purpose: Option<Purpose> = r.choice("purpose", "Select what the link is");
            Command::AddHyperlink {
                id: None,
                target: match item {
                    Some(item) => Target::Item { item },
                    None => Target::Plan,
                },
                title: title?,
                url: url?,
                purpose: purpose?,
            }
        }
        "agreement" => {
            let who = r.raw("who");
            let outcome = match who.as_str() {
                "person" => AgreementOutcome::Agreed {
                    by: AgreedBy::Person,
                },
                "representative" => {
                    let name = r.text("rep_name", "Enter the representative's name");
                    let relationship =
                        r.text("rep_relationship", "Enter their relationship to the person");
                    let authority: Option<LegalAuthority> =
                        r.choice("rep_authority", "Select their legal authority");
                    let reference = r.opt_text("rep_reference");
                    AgreementOutcome::Agreed {
                        by: AgreedBy::Representative {
                            name: name?,
                            relationship: relationship?,
                            legal_authority: authority?,
                            authority_reference: reference,
                        },
                    }
                }
                "not_obtained" => AgreementOutcome::NotObtained {
                    reason: r.text("reason", "Enter why agreement could not be obtained")?,
                },
                _ => {
                    r.fail(
                        "who",
                        "Select who agreed the plan, or that agreement could not be obtained",
                    );
                    return None;
                }
            };
            Command::RecordAgreement { id: None, outcome }
        }
        "capacity-support" => Command::SetCapacitySupport {
            steps_to_maximise_capacity: r.opt_text("steps"),
            rights_promotion: r.opt_text("rights"),
        },
        "capacity-assessment" => {
            let decision = r.text("decision", "Enter the decision the assessment is about");
            let outcome: Option<CapacityOutcome> = r.choice("outcome", "Select the outcome");
            let by = r.text("assessed_by", "Enter who assessed capacity");
            let on = r.date("assessed_on", "date of the assessment");
            let reasoning = r.opt_text("reasoning");
            Command::RecordCapacityAssessment {
                id: None,
                decision: decision?,
                outcome: outcome?,
                assessed_by: by?,
                assessed_on: on?,
                reasoning,
            }
        }
        "best-interest" => {
            let decision = r.text("decision", "Enter the decision");
            let assessment = ItemId::parse(&r.raw("assessment")).ok();
            if assessment.is_none() {
                r.fail(
                    "assessment",
                    "Select the capacity assessment the decision follows",
                );
            }
            let maker = r.text("decision_maker", "Enter the decision maker");
            let consulted: Vec<Text> = r
                .raw("consulted")
                .lines()
                .filter_map(|l| Text::new(l).ok())
                .collect();
            if consulted.is_empty() {
                r.fail("consulted", "Enter who was consulted, one person per line");
            }
            let rationale = r.text("rationale", "Enter the rationale");
            let on = r.date("decided_on", "date of the decision");
            if !r.ok() {
                return None;
            }
            Command::RecordBestInterestDecision {
                id: None,
                decision: decision?,
                assessment: assessment?,
                decision_maker: maker?,
                consulted,
                rationale: rationale?,
                decided_on: on?,
            }
        }
        "funding" => {
            let source: Option<FundingSourceKind> =
                r.choice("source", "Select the care funding source");
            let at = r.opt_text("details_held_at");
            Command::SetFundingSource {
                source: source?,
                details_held_at: at,
            }
        }
        "review-date" => Command::SetReviewDate {
            review_date: r.opt_date("review_date", "review date"),
        },
        "plan-status" => Command::SetPlanStatus {
            status: r.choice::<PlanStatus>("status", "Select a status")?,
        },
        "care-team-member" => {
            let name = r.text("name", "Enter their name");
            let role = r.text("role", "Enter their role in the person's care");
            Command::AddCareTeamMember {
                id: None,
                name: name?,
                role: role?,
                organisation: r.opt_text("organisation"),
                account: r.opt_text("account"),
            }
        }
        "archive" => Command::Archive {
            id: item?,
            reason: r.opt_text("reason"),
        },
        "sharing" => {
            let scope = match r.raw("scope").as_str() {
                "whole_plan" => Some(ConsentScope::WholePlan),
                other => parse_enum::<Section>(other).map(ConsentScope::Section),
            };
            if scope.is_none() {
                r.fail("scope", "Select which part of the plan");
            }
            let audience = match r.raw("audience_kind").as_str() {
                "role" => r
                    .choice::<Role>("role", "Select a role")
                    .map(Audience::Role),
                "organisation" => r
                    .text("organisation", "Enter the organisation's name")
                    .map(Audience::Organisation),
                _ => {
                    r.fail("audience_kind", "Select who this choice is about");
                    None
                }
            };
            let visible = match r.raw("visible").as_str() {
                "true" => Some(true),
                "false" => Some(false),
                _ => {
                    r.fail("visible", "Select whether they can see it");
                    None
                }
            };
            Command::SetConsentPreference {
                scope: scope?,
                audience: audience?,
                visible: visible?,
            }
        }
        "rank-goals" => {
            let mut ranked = Vec::new();
            let names: Vec<String> = r
                .fields
                .iter()
                .filter_map(|f| f.name.strip_prefix("rank-").map(str::to_owned))
                .collect();
            let count = names.len() as i64;
            for (i, id) in names.iter().enumerate() {
                let n = r.opt_number(&format!("rank-{id}"), "The position", 1..=count.max(1));
                if n.is_none() && r.ok() {
                    r.fail(&format!("rank-{id}"), "Enter a position for this goal");
                }
                if let (Some(n), Ok(id)) = (n, ItemId::parse(id)) {
                    ranked.push((n, i, id));
                }
            }
            if !r.ok() {
                return None;
            }
            ranked.sort();
            Command::RankGoals {
                order: ranked.into_iter().map(|(_, _, id)| id).collect(),
            }
        }
        "edit-person" => {
            let given = r.text("given_name", "Enter their given name");
            let family = r.text("family_name", "Enter their family name");
            let preferred = r.opt_text("preferred_name");
            let dob = r.date("date_of_birth", "date of birth");
            let raw = r.raw("nhs_number");
            let nhs = if raw.is_empty() {
                None
            } else {
                match careplan_model::NhsNumber::parse(&raw) {
                    Ok(n) => Some(n),
                    Err(e) => {
                        r.fail("nhs_number", capitalise(&e.0));
                        None
                    }
                }
            };
            if !r.ok() {
                return None;
            }
            Command::UpdatePerson {
                person: careplan_model::Person {
                    given_name: given?,
                    family_name: family?,
                    preferred_name: preferred,
                    date_of_birth: dob?,
                    nhs_number: nhs,
                    other_identifiers: ctx.plan.person.person.other_identifiers.clone(),
                },
            }
        }
        _ => return None,
    };
    r.ok().then_some(cmd)
}

/// One-click changes posted from the plan page (a button with the item's id).
fn instant_command(slug: &str, item: ItemId) -> Option<Command> {
    Some(match slug {
        "complete-action" => Command::CompleteAction { id: item },
        "accept-suggestion" => Command::AcceptSuggestion { id: item },
        "restore" => Command::Restore { id: item },
        _ => return None,
    })
}

/// Which field an issue's path is about (`/priority` → `priority`).
fn field_for_issue(path: &str, fields: &[Field]) -> Option<usize> {
    let aliases: &[(&str, &str)] = &[
        ("performer", "performer_kind"),
        ("why_it_matters", "why_it_matters"),
        ("target_date", "target_date"),
        ("details_held_at", "details_held_at"),
        ("steps_to_maximise_capacity", "steps"),
        ("rights_promotion", "rights"),
        ("move_actions", "reason"),
    ];
    path.split('/')
        .rev()
        .filter(|seg| !seg.is_empty() && seg.parse::<usize>().is_err())
        .find_map(|seg| {
            let name = aliases
                .iter()
                .find(|(k, _)| *k == seg)
                .map_or(seg, |(_, v)| *v);
            fields.iter().position(|f| f.name == name)
        })
}

struct Rendered<'a> {
    session: &'a Session,
    base: &'a str,
    slug: &'a str,
    query: String,
    person_side: bool,
}

impl Rendered<'_> {
    fn page(
        &self,
        spec: Spec,
        base_version: u64,
        general: Vec<String>,
        stale: Option<String>,
    ) -> FormPage {
        let has_errors =
            !general.is_empty() || spec.fields.iter().any(|f| f.error.is_some()) || stale.is_some();
        let title = if has_errors {
            format!("Error: {}", spec.heading)
        } else {
            spec.heading.clone()
        };
        let back = if self.person_side && self.slug != "sharing" {
            format!("{}/my-plan", self.base)
        } else if self.slug == "sharing" {
            format!("{}/sharing", self.base)
        } else {
            self.base.to_owned()
        };
        FormPage {
            chrome: Chrome::signed_in(
                &title,
                self.session,
                if self.person_side {
                    "my-plan"
                } else {
                    "people"
                },
            ),
            caption: String::new(),
            heading: spec.heading,
            intro: spec.intro,
            action: format!("{}/change/{}{}", self.base, self.slug, self.query),
            csrf: self.session.csrf.clone(),
            base_version,
            fields: spec.fields,
            general_errors: general,
            stale,
            submit: spec.submit,
            warning: spec.warning,
            back_href: back,
            back_text: "Back to the plan".into(),
        }
    }
}

fn query_string(q: &FormQuery) -> String {
    let mut parts = Vec::new();
    if let Some(i) = &q.item {
        parts.push(format!("item={}", crate::format::url_encode(i)));
    }
    if let Some(s) = &q.section {
        parts.push(format!("section={}", crate::format::url_encode(s)));
    }
    if parts.is_empty() {
        String::new()
    } else {
        format!("?{}", parts.join("&"))
    }
}

fn context<'a>(viewed: &'a Viewed<Arc<Plan>>, q: &FormQuery) -> Ctx<'a> {
    Ctx {
        plan: &viewed.value,
        item: q.item.as_deref().and_then(|i| ItemId::parse(i).ok()),
        section: q.section.as_deref().and_then(parse_enum),
    }
}

/// `GET /people/{person}/change/{form}`.
pub async fn form_page(
    State(state): State<WebState>,
    session: Session,
    Path((person, slug)): Path<(String, String)>,
    Query(q): Query<FormQuery>,
) -> Result<Response, PageError> {
    let viewed = session.handle(&state).current_by_key(&person).await?;
    let base = format!("/people/{}", viewed.value.details.person_id);
    let ctx = context(&viewed, &q);
    let spec = form_spec(&slug, &ctx)?;
    let r = Rendered {
        session: &session,
        base: &base,
        slug: &slug,
        query: query_string(&q),
        person_side: session.is_person_side(),
    };
    page_with(
        StatusCode::OK,
        &r.page(spec, viewed.value.version.get(), Vec::new(), None),
    )
}

/// `POST /people/{person}/change/{form}`: applies the change, or shows the form again.
pub async fn form_submit(
    State(state): State<WebState>,
    session: Session,
    Path((person, slug)): Path<(String, String)>,
    Query(mut q): Query<FormQuery>,
    body: Bytes,
) -> Result<Response, PageError> {
    let form = FormData::parse(&body);
    session.check_csrf(&form)?;
    let handle = session.handle(&state);
    let viewed = handle.current_by_key(&person).await?;
    let plan_id = viewed.value.id.clone();
    let base = format!("/people/{}", viewed.value.details.person_id);
    let after = |version: VersionNumber, anchor: Option<String>| {
        let page = if session.is_person_side() {
            format!("{base}/my-plan")
        } else if slug == "sharing" {
            format!("{base}/sharing")
        } else {
            base.clone()
        };
        let hash = anchor.map(|a| format!("#{a}")).unwrap_or_default();
        redirect(&format!("{page}?saved={version}{hash}"))
    };

    // One-click changes from the plan page.
    if q.item.is_none() {
        q.item = form.get("item").map(str::to_owned);
    }
    if let Some(item) = q.item.as_deref().and_then(|i| ItemId::parse(i).ok())
        && let Some(command) = instant_command(&slug, item.clone())
    {
        return match handle
            .apply(&plan_id, viewed.value.version, vec![command], None)
            .await
        {
            Ok(done) => {
                let v = done.last().map_or(viewed.value.version, |c| c.version());
                Ok(after(v, Some(item.to_string())))
            }
            Err(StoreError::Rejected(issues)) => Err(PageError::BadRequest(
                careplan_model::issue::sentences(&issues),
            )),
            Err(e) => Err(e.into()),
        };
    }

    let ctx = context(&viewed, &q);
    let mut spec = form_spec(&slug, &ctx)?;
    for f in &mut spec.fields {
        f.fill_from(&form);
    }
    let base_version = form
        .get("base_version")
        .and_then(|v| v.parse::<u64>().ok())
        .and_then(|v| VersionNumber::new(v).ok())
        .unwrap_or(viewed.value.version);
    let r = Rendered {
        session: &session,
        base: &base,
        slug: &slug,
        query: query_string(&q),
        person_side: session.is_person_side(),
    };
    let command = {
        let mut reader = Reader {
            fields: &mut spec.fields,
            form: &form,
        };
        build_command(&slug, &ctx, &mut reader)
    };
    let Some(command) = command else {
        if spec.fields.iter().all(|f| f.error.is_none()) {
            // A field was unreadable without a message of its own.
            if let Some(f) = spec.fields.first_mut() {
                f.error = Some("Check this answer".into());
            }
        }
        return page_with(
            StatusCode::UNPROCESSABLE_ENTITY,
            &r.page(spec, base_version.get(), Vec::new(), None),
        );
    };
    let item_anchor = ctx.item.as_ref().map(ToString::to_string);
    match handle
        .apply(&plan_id, base_version, vec![command], None)
        .await
    {
        Ok(done) => {
            let last = done.last();
            let anchor = last
                .and_then(|c| {
                    c.changed
                        .iter()
                        .find(|k| {
                            !matches!(k.kind, ItemKind::Details | ItemKind::Person)
                                && ctx.plan.kind_of(&k.id).is_none()
                        })
                        .map(|k| k.id.to_string())
                })
                .or(item_anchor);
            Ok(after(
                last.map_or(base_version, careplan_store::Committed::version),
                anchor,
            ))
        }
        Err(StoreError::Conflict { expected, current }) => {
            let stale = format!(
                "Someone else changed the plan while you were working on this: you started from version {expected} and it is now at version {current}. Nothing has been saved yet, and what you entered is kept below. Check the changes in the plan's history, then save again to make your change on top of theirs."
            );
            page_with(
                StatusCode::CONFLICT,
                &r.page(spec, current.get(), Vec::new(), Some(stale)),
            )
        }
        Err(StoreError::Rejected(issues)) => {
            let mut general = Vec::new();
            for issue in issues {
                match field_for_issue(&issue.path, &spec.fields) {
                    Some(i) => {
                        spec.fields[i]
                            .error
                            .get_or_insert(capitalise(&issue.message));
                    }
                    None => general.push(capitalise(&issue.message)),
                }
            }
            page_with(
                StatusCode::UNPROCESSABLE_ENTITY,
                &r.page(spec, base_version.get(), general, None),
            )
        }
        Err(StoreError::Forbidden(sentence)) => page_with(
            StatusCode::FORBIDDEN,
            &r.page(spec, base_version.get(), vec![sentence], None),
        ),
        Err(e) => Err(e.into()),
    }
}
