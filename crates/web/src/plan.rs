//! A person's plan as a page: the summary, then every section with its items, the links between
//! them as in-page anchors, comments and links on each, and the actions a user may take. The
//! same view serves an earlier version (read-only, with a banner) and the print view.

use std::collections::BTreeSet;

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use careplan_content::{ProgressSeries, progress_svg, progress_table, render_markdown};
use careplan_model::{
    AgreementOutcome, ItemId, ItemMeta, Plan, ProgressScale, Role, Section, SuggestionStatus,
    Target, describe,
};
use careplan_store::handle::Viewed;
use serde::Deserialize;

use crate::WebState;
use crate::error::{PageError, page};
use crate::format;
use crate::layout::Chrome;
use crate::session::Session;

/// A link to another item on the page.
#[derive(Debug, Clone)]
pub struct Link {
    pub href: String,
    pub text: String,
}

/// A comment or a hyperlink shown under what it is about.
#[derive(Debug, Clone)]
pub struct Note {
    /// Safe HTML (Markdown rendered and sanitised).
    pub html: String,
    pub by: String,
    pub at: String,
}

#[derive(Debug, Clone)]
pub struct WebLink {
    pub title: String,
    pub url: String,
    pub purpose: String,
    pub by: String,
    pub at: String,
}

#[derive(Debug, Clone)]
pub struct FileNote {
    /// The bytes, from the JSON API (the same session cookie signs the request in).
    pub href: String,
    /// `image`, `audio`, `video` or `document`: how the page shows it.
    pub media: &'static str,
    pub title: String,
    pub purpose: String,
    pub content_type: String,
    pub size: String,
    pub description: String,
    pub by: String,
    pub at: String,
}

/// One item as a card: title, facts, links to related items, comments, and what may be done.
#[derive(Debug, Clone)]
pub struct Card {
    pub id: String,
    pub title: String,
    pub tags: Vec<String>,
    pub facts: Vec<(String, String)>,
    /// (label, links): "Addresses" → needs, "Goals" → goals…
    pub related: Vec<(String, Vec<Link>)>,
    pub comments: Vec<Note>,
    pub links: Vec<WebLink>,
    pub files: Vec<FileNote>,
    /// (href, text) links to forms.
    pub commands: Vec<(String, String)>,
    /// (action, button text, hidden item id): one-click changes posted as forms.
    pub buttons: Vec<(String, String, String)>,
    pub added: String,
    pub archived: Option<String>,
}

#[derive(Debug, Clone)]
pub struct GoalCard {
    pub card: Card,
    /// Why it matters, in the person's words: Markdown rendered to safe HTML ("" if not said).
    pub why: String,
    pub actions: Vec<Card>,
    pub outcomes: Vec<Card>,
    /// Inline SVG chart and the same data as a table (safe HTML from careplan-content).
    pub chart: String,
    pub table: String,
    pub has_progress: bool,
    pub review: Option<String>,
}

/// A section: its cards, or the notice that it is withheld.
#[derive(Debug, Clone)]
pub struct SectionView {
    pub id: String,
    pub title: String,
    pub withheld: bool,
    pub empty: String,
    pub cards: Vec<Card>,
    /// (href, text) to add an item.
    pub add: Vec<(String, String)>,
    pub comments: Vec<Note>,
}

#[derive(Debug, Clone)]
pub struct Summary {
    pub name: String,
    pub preferred_name: String,
    pub nhs_number: String,
    pub date_of_birth: String,
    pub status: String,
    pub last_updated: String,
    pub version: u64,
    pub agreement: String,
    pub agreement_current: bool,
    pub review_date: String,
    pub funding: String,
}

/// Everything a plan page shows.
#[derive(Debug, Clone)]
pub struct PlanView {
    pub base: String,
    pub summary: Summary,
    pub withheld: Vec<String>,
    pub released: bool,
    pub care_team: SectionView,
    pub strengths: SectionView,
    pub needs: SectionView,
    pub concerns: SectionView,
    pub problems: SectionView,
    pub goals_withheld: bool,
    pub goals: Vec<GoalCard>,
    pub goals_add: Vec<(String, String)>,
    pub actions: SectionView,
    pub suggestions: Vec<Card>,
    pub outcomes: SectionView,
    pub agreement: SectionView,
    pub capacity: SectionView,
    pub funding: SectionView,
    pub plan_comments: Vec<Note>,
    pub plan_links: Vec<WebLink>,
    pub plan_files: Vec<FileNote>,
    pub plan_commands: Vec<(String, String)>,
    /// The weekly schedule as an accessible table (safe HTML), when there is one to show.
    pub schedule: Option<String>,
    /// Where to set the weekly schedule, for those who may.
    pub schedule_edit: Option<String>,
    pub csrf: String,
    pub version: u64,
}

/// What the user may do on the page they are looking at.
#[derive(Debug, Clone, Copy)]
pub struct Abilities {
    /// Practitioners (and the system) on the current version.
    pub edit: bool,
    /// Comment and report progress (everyone who may write, on the current version).
    pub comment: bool,
    pub suggest: bool,
}

impl Abilities {
    pub fn for_role(role: Role, current: bool) -> Abilities {
        let edit = current && matches!(role, Role::Practitioner | Role::System);
        let comment = current
            && matches!(
                role,
                Role::Practitioner
                    | Role::System
                    | Role::Person
                    | Role::Representative
                    | Role::Carer
            );
        Abilities {
            edit,
            comment,
            suggest: comment && !edit,
        }
    }
}

fn stamp(meta: &ItemMeta) -> String {
    format!(
        "Added by {} on {} (version {})",
        meta.added.by.name,
        format::when(meta.added.at),
        meta.added.version
    )
}

fn archived(meta: &ItemMeta) -> Option<String> {
    meta.archived.as_ref().map(|a| {
        let mut s = format!(
            "Archived by {} on {} (version {})",
            a.stamp.by.name,
            format::when(a.stamp.at),
            a.stamp.version
        );
        if let Some(r) = &a.reason {
            s.push_str(&format!(": {r}"));
        }
        s
    })
}

/// Builds the view of `plan` for a page at `base` (`/people/{person}`).
pub fn build(
    viewed: &Viewed<impl std::borrow::Borrow<Plan>>,
    base: &str,
    can: Abilities,
    show_archived: bool,
    csrf: &str,
) -> PlanView {
    let plan: &Plan = viewed.value.borrow();
    let withheld: BTreeSet<Section> = viewed.withheld.iter().copied().collect();
    let change = |form: &str, item: &ItemId| format!("{base}/change/{form}?item={item}");
    let shown = |meta: &ItemMeta| show_archived || meta.is_active();

    let notes_on = |target: &Target| -> Vec<Note> {
        let mut v: Vec<_> = plan
            .comments
            .values()
            .filter(|c| c.meta.is_active() && &c.target == target)
            .collect();
        v.sort_by_key(|c| c.meta.added.version);
        v.into_iter()
            .map(|c| Note {
                html: render_markdown(c.text.as_str()),
                by: c.meta.added.by.name.to_string(),
                at: format::when(c.meta.added.at),
            })
            .collect()
    };
    let links_on = |target: &Target| -> Vec<WebLink> {
        plan.hyperlinks
            .values()
            .filter(|h| h.meta.is_active() && &h.target == target)
            .map(|h| WebLink {
                title: h.title.to_string(),
                url: h.url.to_string(),
                purpose: h.purpose.label().to_owned(),
                by: h.meta.added.by.name.to_string(),
                at: format::when(h.meta.added.at),
            })
            .collect()
    };
    let files_on = |target: &Target| -> Vec<FileNote> {
        plan.attachments
            .iter()
            .filter(|(_, a)| a.meta.is_active() && &a.target == target)
            .map(|(id, a)| FileNote {
                href: format!(
                    "/api/v1/people/{}/plan/attachments/{id}/content",
                    plan.details.person_id
                ),
                media: match a.content_type.as_str().split('/').next() {
                    Some("image") => "image",
                    Some("audio") => "audio",
                    Some("video") => "video",
                    _ => "document",
                },
                title: a.title.to_string(),
                purpose: a.purpose.label().to_owned(),
                content_type: a.content_type.to_string(),
                size: human_size(a.size_bytes),
                description: a
                    .description
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default(),
                by: a.meta.added.by.name.to_string(),
                at: format::when(a.meta.added.at),
            })
            .collect()
    };
    let item_target = |id: &ItemId| Target::Item { item: id.clone() };
    let title_of = |id: &ItemId| -> Link {
        let text = plan
            .kind_of(id)
            .and_then(|kind| plan.get(&careplan_model::ItemKey::new(kind, id.clone())))
            .map_or_else(|| id.to_string(), |item| describe(item).title);
        Link {
            href: format!("#{id}"),
            text,
        }
    };
    let card = |id: &ItemId, title: String, meta: &ItemMeta| Card {
        id: id.to_string(),
        title,
        tags: Vec::new(),
        facts: Vec::new(),
        related: Vec::new(),
        comments: notes_on(&item_target(id)),
        links: links_on(&item_target(id)),
        files: files_on(&item_target(id)),
        commands: Vec::new(),
        buttons: Vec::new(),
        added: stamp(meta),
        archived: archived(meta),
    };
    let section = |s: Section, id: &str, empty: &str| SectionView {
        id: id.to_owned(),
        title: s.title().to_owned(),
        withheld: withheld.contains(&s),
        empty: empty.to_owned(),
        cards: Vec::new(),
        add: if can.comment {
            let key = serde_json::to_value(s)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default();
            vec![(
                format!("{base}/change/comment?section={key}"),
                format!("Comment on the {} section", s.title().to_lowercase()),
            )]
        } else {
            Vec::new()
        },
        comments: notes_on(&Target::Section { section: s }),
    };
    // Goals addressing an item, as links.
    let goals_for = |id: &ItemId| -> Vec<Link> {
        plan.goals_in_order()
            .into_iter()
            .filter(|(_, g)| g.addresses.contains(id) || g.strengths.contains(id))
            .map(|(gid, g)| Link {
                href: format!("#{gid}"),
                text: g.description.to_string(),
            })
            .collect()
    };
    let standard_commands = |card: &mut Card, id: &ItemId, form: &str, active: bool| {
        if active && can.edit {
            card.commands.push((
                change(form, id),
                format!(
                    "Change<span class=\"nhsuk-u-visually-hidden\"> {}</span>",
                    escape(&card.title)
                ),
            ));
            card.commands.push((
                change("archive", id),
                format!(
                    "Archive<span class=\"nhsuk-u-visually-hidden\"> {}</span>",
                    escape(&card.title)
                ),
            ));
        }
        if !active && can.edit {
            card.buttons.push((
                format!("{base}/change/restore"),
                "Restore".into(),
                id.to_string(),
            ));
        }
        if active && can.comment {
            card.commands.push((
                change("comment", id),
                format!(
                    "Comment<span class=\"nhsuk-u-visually-hidden\"> on {}</span>",
                    escape(&card.title)
                ),
            ));
        }
    };

    // Summary.
    let person = &plan.person.person;
    let agreement = plan.current_agreement();
    let summary = Summary {
        name: format!("{} {}", person.given_name, person.family_name),
        preferred_name: person
            .preferred_name
            .as_ref()
            .map(ToString::to_string)
            .unwrap_or_default(),
        nhs_number: person
            .nhs_number
            .as_ref()
            .map_or_else(|| "Not recorded".to_owned(), ToString::to_string),
        date_of_birth: format::date(person.date_of_birth),
        status: capitalise(plan.details.status.label()),
        last_updated: format::when(plan.last_updated),
        version: plan.version.get(),
        agreement: if withheld.contains(&Section::Agreement) {
            "Withheld under the person's consent choices".into()
        } else {
            match agreement {
                None => "Not yet agreed".into(),
                Some((_, a)) => match &a.outcome {
                    AgreementOutcome::Agreed { .. } => format!(
                        "{} – version {} on {}",
                        capitalise(&a.outcome.describe()),
                        a.agreed_version,
                        format::date(a.meta.added.at.date())
                    ),
                    AgreementOutcome::NotObtained { .. } => format!(
                        "Agreement {} (version {})",
                        a.outcome.describe(),
                        a.agreed_version
                    ),
                },
            }
        },
        agreement_current: agreement.is_some_and(|(_, a)| a.agreed_version == plan.version),
        review_date: plan
            .details
            .review_date
            .map_or_else(|| "Not set".to_owned(), format::date),
        funding: if withheld.contains(&Section::Funding) {
            "Withheld under the person's consent choices".into()
        } else {
            plan.funding.as_ref().map_or_else(
                || "Not recorded".to_owned(),
                |f| capitalise(f.source.label()),
            )
        },
    };

    // Care team.
    let mut care_team = section(
        Section::CareTeam,
        "care-team",
        "Nobody is on the care team yet.",
    );
    for (id, m) in plan.care_team.iter().filter(|(_, m)| shown(&m.meta)) {
        let mut c = card(id, m.name.to_string(), &m.meta);
        c.facts.push(("Role".into(), m.role.to_string()));
        if let Some(o) = &m.organisation {
            c.facts.push(("Organisation".into(), o.to_string()));
        }
        if m.meta.is_active() && can.edit {
            c.commands.push((
                change("archive", id),
                format!(
                    "Remove<span class=\"nhsuk-u-visually-hidden\"> {}</span> from the care team",
                    escape(&m.name.to_string())
                ),
            ));
        }
        care_team.cards.push(c);
    }
    if can.edit {
        care_team.add.push((
            format!("{base}/change/care-team-member"),
            "Add someone to the care team".into(),
        ));
    }

    // Strengths.
    let mut strengths = section(
        Section::Strengths,
        "strengths",
        "No strengths recorded yet.",
    );
    for (id, s) in plan.strengths.iter().filter(|(_, s)| shown(&s.meta)) {
        let mut c = card(id, s.description.to_string(), &s.meta);
        if let Some(i) = s.importance {
            c.facts
                .push(("Importance".into(), format!("{} out of 10", i.get())));
        }
        let goals = goals_for(id);
        if !goals.is_empty() {
            c.related.push(("Supports goals".into(), goals));
        }
        standard_commands(&mut c, id, "edit-strength", s.meta.is_active());
        strengths.cards.push(c);
    }
    if can.edit {
        strengths.add.push((
            format!("{base}/change/add-strength"),
            "Add a strength".into(),
        ));
    }

    // Needs, concerns, problems.
    let mut needs = section(Section::Needs, "needs", "No needs recorded yet.");
    for (id, n) in plan.needs.iter().filter(|(_, n)| shown(&n.meta)) {
        let mut c = card(id, n.description.to_string(), &n.meta);
        if let Some(i) = n.importance {
            c.facts
                .push(("Importance".into(), format!("{} out of 10", i.get())));
        }
        if let Some(by) = n.identified_by {
            c.facts
                .push(("Identified by".into(), capitalise(by.label())));
        }
        let goals = goals_for(id);
        c.related.push(("Goals that address it".into(), goals));
        standard_commands(&mut c, id, "edit-need", n.meta.is_active());
        needs.cards.push(c);
    }
    if can.edit {
        needs
            .add
            .push((format!("{base}/change/add-need"), "Add a need".into()));
    }
    let mut concerns = section(Section::Concerns, "concerns", "No concerns recorded yet.");
    for (id, n) in plan.concerns.iter().filter(|(_, n)| shown(&n.meta)) {
        let mut c = card(id, n.description.to_string(), &n.meta);
        c.facts
            .push(("Whose concern".into(), capitalise(n.raised_by.label())));
        c.facts
            .push(("Domain".into(), capitalise(n.domain.label())));
        if let Some(i) = n.importance {
            c.facts
                .push(("Importance".into(), format!("{} out of 10", i.get())));
        }
        c.related
            .push(("Goals that address it".into(), goals_for(id)));
        standard_commands(&mut c, id, "edit-concern", n.meta.is_active());
        concerns.cards.push(c);
    }
    if can.edit {
        concerns
            .add
            .push((format!("{base}/change/add-concern"), "Add a concern".into()));
    }
    let mut problems = section(Section::Problems, "problems", "No problems recorded yet.");
    for (id, n) in plan.problems.iter().filter(|(_, n)| shown(&n.meta)) {
        let mut c = card(id, n.description.to_string(), &n.meta);
        if let Some(code) = &n.code {
            c.facts.push((
                "SNOMED CT".into(),
                format!("{} ({})", code.display, code.code),
            ));
        }
        if let Some(r) = &n.external_reference {
            c.facts.push((
                "Problem list entry".into(),
                format!("{} in {}", r.value, r.system),
            ));
        }
        if let Some(i) = n.importance {
            c.facts
                .push(("Importance".into(), format!("{} out of 10", i.get())));
        }
        c.related
            .push(("Goals that address it".into(), goals_for(id)));
        standard_commands(&mut c, id, "edit-problem", n.meta.is_active());
        problems.cards.push(c);
    }
    if can.edit {
        problems
            .add
            .push((format!("{base}/change/add-problem"), "Add a problem".into()));
    }

    // Actions (used both inside goals and in the actions section).
    let action_card = |id: &ItemId, a: &careplan_model::Action| -> Card {
        let mut c = card(id, a.description.to_string(), &a.meta);
        c.tags.push(capitalise(a.status.label()));
        c.facts.push(("Who".into(), a.performer.display()));
        c.facts.push((
            "When".into(),
            a.timing
                .as_ref()
                .map_or_else(|| "Not set".to_owned(), ToString::to_string),
        ));
        c.facts
            .push(("Status".into(), capitalise(a.status.label())));
        c.facts.push((
            "Confidence".into(),
            a.confidence.map_or_else(
                || "Not recorded".to_owned(),
                |v| format!("{} out of 10", v.get()),
            ),
        ));
        if let Some(g) = plan.goals.get(&a.goal) {
            c.related.push((
                "For goal".into(),
                vec![Link {
                    href: format!("#{}", a.goal),
                    text: g.description.to_string(),
                }],
            ));
        }
        let active = a.meta.is_active();
        standard_commands(&mut c, id, "edit-action", active);
        if active
            && can.edit
            && !matches!(
                a.status,
                careplan_model::ActionStatus::Completed | careplan_model::ActionStatus::Cancelled
            )
        {
            c.buttons.push((
                format!("{base}/change/complete-action"),
                "Mark as completed".into(),
                id.to_string(),
            ));
        }
        if active && can.suggest {
            c.commands.push((
                change("suggest", id),
                format!(
                    "Suggest a change<span class=\"nhsuk-u-visually-hidden\"> to {}</span>",
                    escape(&a.description.to_string())
                ),
            ));
        }
        c
    };

    let mut actions = section(Section::Actions, "actions", "No actions recorded yet.");
    for (id, a) in plan.actions.iter().filter(|(_, a)| shown(&a.meta)) {
        actions.cards.push(action_card(id, a));
    }
    let mut suggestions = Vec::new();
    if !withheld.contains(&Section::Actions) {
        for (id, s) in plan.suggestions.iter().filter(|(_, s)| s.meta.is_active()) {
            let action = plan
                .actions
                .get(&s.action)
                .map_or_else(|| s.action.to_string(), |a| a.description.to_string());
            let mut c = card(id, format!("Suggested change to “{action}”"), &s.meta);
            c.tags.push(capitalise(s.status.label()));
            let d = describe(careplan_model::ItemRef::Suggestion(s));
            for (k, v) in d.fields {
                if !v.is_empty() && k != "status" && k != "action" {
                    c.facts.push((capitalise(k), v));
                }
            }
            if let SuggestionStatus::Declined { reason: Some(r) } = &s.status {
                c.facts.push(("Reason declined".into(), r.to_string()));
            }
            c.related.push((
                "Action".into(),
                vec![Link {
                    href: format!("#{}", s.action),
                    text: action,
                }],
            ));
            if matches!(s.status, SuggestionStatus::Open) && can.edit {
                c.buttons.push((
                    format!("{base}/change/accept-suggestion"),
                    "Accept this change".into(),
                    id.to_string(),
                ));
                c.commands
                    .push((change("decline-suggestion", id), "Decline".into()));
            }
            suggestions.push(c);
        }
    }

    // Outcomes.
    let outcome_card = |id: &ItemId, o: &careplan_model::Outcome| -> Card {
        let mut c = card(id, o.description.to_string(), &o.meta);
        c.tags.push(capitalise(o.status.label()));
        c.facts
            .push(("Status".into(), capitalise(o.status.label())));
        c.facts.push(("Date".into(), format::date(o.date)));
        if let Some(g) = plan.goals.get(&o.goal) {
            c.related.push((
                "For goal".into(),
                vec![Link {
                    href: format!("#{}", o.goal),
                    text: g.description.to_string(),
                }],
            ));
        }
        if o.meta.is_active() && can.edit {
            c.commands.push((
                change("archive", id),
                format!(
                    "Archive<span class=\"nhsuk-u-visually-hidden\"> {}</span>",
                    escape(&o.description.to_string())
                ),
            ));
        }
        if o.meta.is_active() && can.comment {
            c.commands.push((change("comment", id), "Comment".into()));
        }
        c
    };
    let mut outcomes = section(Section::Outcomes, "outcomes", "No outcomes recorded yet.");
    for (id, o) in plan.outcomes.iter().filter(|(_, o)| shown(&o.meta)) {
        outcomes.cards.push(outcome_card(id, o));
    }

    // Goals, in the person's order (archived ones after, when shown).
    let mut goal_list: Vec<(&ItemId, &careplan_model::Goal)> = plan.goals_in_order();
    if show_archived {
        goal_list.extend(plan.goals.iter().filter(|(_, g)| !g.meta.is_active()));
    }
    let goals: Vec<GoalCard> = goal_list
        .into_iter()
        .map(|(id, g)| {
            let mut c = card(id, g.description.to_string(), &g.meta);
            c.tags.push(capitalise(g.label.label()));
            c.tags.push(capitalise(g.status.label()));
            c.facts.push((
                "Priority".into(),
                g.priority.map_or_else(
                    || "Not set".to_owned(),
                    |p| format!("{} out of 10", p.get()),
                ),
            ));
            if let Some(r) = g.rank {
                c.facts.push(("The person's order".into(), format!("{r}")));
            }
            c.facts
                .push(("Status".into(), capitalise(g.status.label())));
            if let Some(d) = g.target_date {
                c.facts.push(("Target date".into(), format::date(d)));
            }
            c.related.push((
                "Addresses".into(),
                g.addresses.iter().map(&title_of).collect(),
            ));
            if !g.strengths.is_empty() {
                c.related.push((
                    "Builds on strengths".into(),
                    g.strengths.iter().map(&title_of).collect(),
                ));
            }
            let active = g.meta.is_active();
            if active && can.edit {
                c.commands.push((
                    change("edit-goal", id),
                    format!(
                        "Change<span class=\"nhsuk-u-visually-hidden\"> {}</span>",
                        escape(&c.title)
                    ),
                ));
                c.commands.push((
                    change("add-action", id),
                    format!(
                        "Add an action<span class=\"nhsuk-u-visually-hidden\"> for {}</span>",
                        escape(&c.title)
                    ),
                ));
                c.commands.push((
                    change("record-outcome", id),
                    format!(
                        "Record an outcome<span class=\"nhsuk-u-visually-hidden\"> for {}</span>",
                        escape(&c.title)
                    ),
                ));
                c.commands.push((
                    change("archive-goal", id),
                    format!(
                        "Archive this goal<span class=\"nhsuk-u-visually-hidden\"> ({})</span>",
                        escape(&c.title)
                    ),
                ));
                c.commands.push((
                    change("add-link", id),
                    format!(
                        "Add a link<span class=\"nhsuk-u-visually-hidden\"> for {}</span>",
                        escape(&c.title)
                    ),
                ));
                c.commands.push((
                    format!("{base}/attach?on=item&item={id}"),
                    format!(
                        "Attach a file<span class=\"nhsuk-u-visually-hidden\"> for {}</span>",
                        escape(&c.title)
                    ),
                ));
                if g.review.is_some() {
                    c.commands
                        .push((change("review-goal", id), "Mark as reviewed".into()));
                }
            }
            if !active && can.edit {
                c.buttons.push((
                    format!("{base}/change/restore"),
                    "Restore".into(),
                    id.to_string(),
                ));
            }
            if active && can.comment {
                c.commands.push((
                    change("record-progress", id),
                    format!(
                        "Record progress<span class=\"nhsuk-u-visually-hidden\"> towards {}</span>",
                        escape(&c.title)
                    ),
                ));
                c.commands.push((
                    change("comment", id),
                    format!(
                        "Comment<span class=\"nhsuk-u-visually-hidden\"> on {}</span>",
                        escape(&c.title)
                    ),
                ));
            }
            let goal_actions = if withheld.contains(&Section::Actions) {
                Vec::new()
            } else {
                plan.actions
                    .iter()
                    .filter(|(_, a)| a.goal == *id && shown(&a.meta))
                    .map(|(aid, a)| action_card(aid, a))
                    .collect()
            };
            let goal_outcomes = if withheld.contains(&Section::Outcomes) {
                Vec::new()
            } else {
                plan.outcomes
                    .iter()
                    .filter(|(_, o)| o.goal == *id && shown(&o.meta))
                    .map(|(oid, o)| outcome_card(oid, o))
                    .collect()
            };
            let (chart, table, has_progress) = progress_of(plan, id, &g.description.to_string());
            GoalCard {
                why: g
                    .why_it_matters
                    .as_ref()
                    .map(|w| render_markdown(w.as_str()))
                    .unwrap_or_default(),
                review: g.review.as_ref().map(|r| r.reason.to_string()),
                card: c,
                actions: goal_actions,
                outcomes: goal_outcomes,
                chart,
                table,
                has_progress,
            }
        })
        .collect();
    let mut goals_add = Vec::new();
    if can.edit {
        goals_add.push((
            format!("{base}/change/add-goal"),
            "Add a goal or hope".into(),
        ));
        if goals.len() > 1 {
            goals_add.push((
                format!("{base}/change/rank-goals"),
                "Change the order of the goals".into(),
            ));
        }
    }
    if can.comment {
        goals_add.push((
            format!("{base}/change/comment?section=goals"),
            "Comment on the goals and hopes section".into(),
        ));
    }

    // Agreement.
    let mut agreement_section = section(
        Section::Agreement,
        "agreement",
        "Nobody has recorded agreement of this plan yet.",
    );
    let mut agreements: Vec<_> = plan
        .agreements
        .iter()
        .filter(|(_, a)| shown(&a.meta))
        .collect();
    agreements.sort_by_key(|(_, a)| std::cmp::Reverse(a.meta.added.version));
    for (id, a) in agreements {
        let mut c = card(id, capitalise(&a.outcome.describe()), &a.meta);
        c.facts
            .push(("For version".into(), a.agreed_version.to_string()));
        if a.agreed_version != plan.version {
            c.tags.push("For an earlier version".into());
            c.facts.push((
                "Now".into(),
                format!(
                    "The plan has changed since: it is now at version {}",
                    plan.version
                ),
            ));
        } else {
            c.tags.push("For this version".into());
        }
        if let AgreementOutcome::Agreed {
            by:
                careplan_model::AgreedBy::Representative {
                    authority_reference: Some(r),
                    ..
                },
        } = &a.outcome
        {
            c.facts.push(("Authority reference".into(), r.to_string()));
        }
        agreement_section.cards.push(c);
    }
    if can.comment {
        agreement_section.add.push((
            format!("{base}/change/agreement"),
            "Record agreement".into(),
        ));
    }

    // Capacity.
    let mut capacity = section(
        Section::Capacity,
        "capacity",
        "No capacity assessments or best-interest decisions recorded.",
    );
    if let Some(cs) = &plan.capacity_support {
        let id = ItemId::parse("capacity-support").expect("fixed id");
        let mut c = card(
            &id,
            "Steps to maximise capacity and promote rights".into(),
            &cs.meta,
        );
        c.facts.push((
            "Steps taken to maximise capacity".into(),
            cs.steps_to_maximise_capacity
                .as_ref()
                .map_or_else(|| "Not recorded".to_owned(), ToString::to_string),
        ));
        c.facts.push((
            "How the person's rights are promoted".into(),
            cs.rights_promotion
                .as_ref()
                .map_or_else(|| "Not recorded".to_owned(), ToString::to_string),
        ));
        capacity.cards.push(c);
    }
    for (id, a) in plan
        .capacity_assessments
        .iter()
        .filter(|(_, a)| shown(&a.meta))
    {
        let mut c = card(id, format!("Capacity assessment: {}", a.decision), &a.meta);
        c.facts
            .push(("Outcome".into(), capitalise(a.outcome.label())));
        c.facts
            .push(("Assessed by".into(), a.assessed_by.to_string()));
        c.facts
            .push(("Assessed on".into(), format::date(a.assessed_on)));
        if let Some(r) = &a.reasoning {
            c.facts.push(("Reasoning".into(), r.to_string()));
        }
        capacity.cards.push(c);
    }
    for (id, b) in plan
        .best_interest_decisions
        .iter()
        .filter(|(_, b)| shown(&b.meta))
    {
        let mut c = card(
            id,
            format!("Best-interest decision: {}", b.decision),
            &b.meta,
        );
        c.facts
            .push(("Decision maker".into(), b.decision_maker.to_string()));
        c.facts.push((
            "People consulted".into(),
            b.consulted
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        ));
        c.facts.push(("Rationale".into(), b.rationale.to_string()));
        c.facts
            .push(("Decided on".into(), format::date(b.decided_on)));
        c.related
            .push(("Based on".into(), vec![title_of(&b.assessment)]));
        capacity.cards.push(c);
    }
    if can.edit {
        capacity.add.push((
            format!("{base}/change/capacity-support"),
            "Record steps to maximise capacity".into(),
        ));
        capacity.add.push((
            format!("{base}/change/capacity-assessment"),
            "Record a capacity assessment".into(),
        ));
        capacity.add.push((
            format!("{base}/change/best-interest"),
            "Record a best-interest decision".into(),
        ));
    }

    // Funding.
    let mut funding = section(
        Section::Funding,
        "funding",
        "The care funding source is not recorded.",
    );
    if let Some(f) = &plan.funding {
        let id = ItemId::parse("funding").expect("fixed id");
        let mut c = card(&id, capitalise(f.source.label()), &f.meta);
        if let Some(w) = &f.details_held_at {
            c.facts.push(("Details are held at".into(), w.to_string()));
        }
        funding.cards.push(c);
    }
    if can.edit {
        funding.add.push((
            format!("{base}/change/funding"),
            "Set the care funding source".into(),
        ));
    }

    let mut plan_commands = Vec::new();
    if can.edit {
        plan_commands.push((
            format!("{base}/change/edit-person"),
            "Change personal details".into(),
        ));
        plan_commands.push((
            format!("{base}/change/review-date"),
            "Set the review date".into(),
        ));
        plan_commands.push((
            format!("{base}/change/plan-status"),
            "Change the plan's status".into(),
        ));
        plan_commands.push((
            format!("{base}/change/add-link"),
            "Add a link to guidance".into(),
        ));
        plan_commands.push((format!("{base}/attach"), "Attach a file".into()));
    }
    if can.comment {
        plan_commands.push((
            format!("{base}/change/comment"),
            "Comment on the plan".into(),
        ));
    }

    PlanView {
        base: base.to_owned(),
        summary,
        withheld: viewed
            .withheld
            .iter()
            .map(|s| s.title().to_owned())
            .collect(),
        released: !viewed.releases_used.is_empty(),
        care_team,
        strengths,
        needs,
        concerns,
        problems,
        goals_withheld: withheld.contains(&Section::Goals),
        goals,
        goals_add,
        actions,
        suggestions,
        outcomes,
        agreement: agreement_section,
        capacity,
        funding,
        plan_comments: notes_on(&Target::Plan),
        plan_links: links_on(&Target::Plan),
        plan_files: files_on(&Target::Plan),
        plan_commands,
        schedule: plan
            .schedule
            .as_ref()
            .filter(|s| shown(&s.meta) && !withheld.contains(&Section::Actions))
            .map(|s| {
                careplan_content::schedule_table(
                    &s.week,
                    "Weekly schedule: what happens when, and who helps",
                )
            }),
        schedule_edit: (can.edit && !withheld.contains(&Section::Actions))
            .then(|| format!("{base}/schedule")),
        csrf: csrf.to_owned(),
        version: plan.version.get(),
    }
}

/// A goal's progress: the chart (inline SVG), the same as a table, and whether there is any.
pub fn progress_of(plan: &Plan, goal: &ItemId, title: &str) -> (String, String, bool) {
    let mut records: Vec<_> = plan
        .progress
        .iter()
        .filter(|(_, r)| r.meta.is_active() && r.goal == *goal)
        .collect();
    if records.is_empty() {
        return (String::new(), String::new(), false);
    }
    records.sort_by_key(|(rid, r)| (r.date, r.meta.added.version, (*rid).clone()));
    let scale = records
        .last()
        .map_or(ProgressScale::GoalAttainment, |(_, r)| r.progress.scale());
    let Ok(series) = ProgressSeries::from_records(
        scale,
        records
            .iter()
            .map(|(_, r)| *r)
            .filter(|r| r.progress.scale() == scale),
    ) else {
        return (String::new(), String::new(), false);
    };
    let chart_title = format!("Progress towards “{title}”");
    let svg = progress_svg(&chart_title, &series);
    let svg = match svg.find("<svg") {
        Some(i) => svg[i..].to_owned(),
        None => svg,
    };
    let table = progress_table(&format!("Progress records for “{title}”"), &series).replacen(
        "<table class=\"progress-table\">",
        "<table class=\"nhsuk-table app-progress-table\">",
        1,
    );
    (svg, table, true)
}

fn human_size(bytes: u64) -> String {
    if bytes < 1024 {
        format!("{bytes} bytes")
    } else if bytes < 1024 * 1024 {
        format!("{:.0} KB", bytes as f64 / 1024.0)
    } else {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    }
}

pub fn capitalise(s: &str) -> String {
    crate::caseload::capitalise(s)
}

/// Escapes text for the few places a label is built as HTML (visually hidden context).
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

#[derive(Template)]
#[template(path = "plan.html")]
pub struct PlanPage {
    pub chrome: Chrome,
    pub v: PlanView,
    /// Set when showing an earlier version: (its number, the latest).
    pub old: Option<(u64, u64)>,
    pub saved: Option<u64>,
    pub show_archived: bool,
    pub print: bool,
    pub own_view: Option<String>,
}

#[derive(Debug, Deserialize)]
pub struct PlanQuery {
    #[serde(default)]
    saved: Option<u64>,
    #[serde(default)]
    archived: Option<String>,
}

/// `GET /people/{person}`: the plan now.
pub async fn plan_page(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    Query(q): Query<PlanQuery>,
) -> Result<Response, PageError> {
    let viewed = session.handle(&state).current_by_key(&person).await?;
    let person_id = viewed.value.details.person_id.to_string();
    let base = format!("/people/{person_id}");
    let show_archived = q.archived.is_some();
    let v = build(
        &viewed,
        &base,
        Abilities::for_role(session.role(), true),
        show_archived,
        &session.csrf,
    );
    let own_view = session.is_person_side().then(|| format!("{base}/my-plan"));
    let mut v = v;
    if matches!(session.role(), Role::DataController | Role::System) {
        v.plan_commands
            .push((format!("{base}/releases"), "Releases".into()));
        v.plan_commands
            .push((format!("{base}/audit"), "Audit trail".into()));
    }
    page(&PlanPage {
        chrome: Chrome::signed_in(
            &format!("Care and support plan for {}", v.summary.name),
            &session,
            "people",
        ),
        v,
        old: None,
        saved: q.saved,
        show_archived,
        print: false,
        own_view,
    })
}

/// `GET /people/{person}/print`: the plan laid out for paper.
pub async fn print_page(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
) -> Result<Response, PageError> {
    let viewed = session.handle(&state).current_by_key(&person).await?;
    let base = format!("/people/{}", viewed.value.details.person_id);
    let v = build(
        &viewed,
        &base,
        Abilities::for_role(Role::DataController, false),
        false,
        &session.csrf,
    );
    page(&PlanPage {
        chrome: Chrome::signed_in(
            &format!("Print: care and support plan for {}", v.summary.name),
            &session,
            "people",
        )
        .with_body_class("app-print"),
        v,
        old: None,
        saved: None,
        show_archived: false,
        print: true,
        own_view: None,
    })
}

/// The plan page for an earlier version (read-only).
pub fn old_version_page(
    session: &Session,
    viewed: &Viewed<std::sync::Arc<Plan>>,
    latest: u64,
) -> Result<Response, PageError> {
    let base = format!("/people/{}", viewed.value.details.person_id);
    let v = build(
        viewed,
        &base,
        Abilities::for_role(session.role(), false),
        false,
        &session.csrf,
    );
    page(&PlanPage {
        chrome: Chrome::signed_in(
            &format!("Version {} of the plan for {}", v.version, v.summary.name),
            session,
            "people",
        ),
        old: Some((v.version, latest)),
        v,
        saved: None,
        show_archived: false,
        print: false,
        own_view: None,
    })
}
