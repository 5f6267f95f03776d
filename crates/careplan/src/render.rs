//! Plans, histories and differences as text for people at a terminal, and as JSON for machines.

use std::fmt::Write;

use careplan_model::{
    ChangeKind, ConsentScope, Goal, HasMeta, ItemId, ItemKind, Items, Plan, PlanDiff, Target,
    VersionNumber, describe,
};
use careplan_store::handle::HistoryEntry;
use careplan_store::{PersonSummary, VersionInfo};
use serde_json::Value;

/// `2026-11-25T19:40:12.345Z` as `2026-11-25 19:40 UTC`.
fn when(t: &careplan_model::Timestamp) -> String {
    let dt = t.datetime();
    format!("{} {:02}:{:02} UTC", dt.date(), dt.hour(), dt.minute())
}

/// The title of any item, by id, for following links.
fn title_of(plan: &Plan, id: &ItemId) -> String {
    plan.kind_of(id)
        .and_then(|kind| plan.get(&careplan_model::ItemKey::new(kind, id.clone())))
        .map_or_else(
            || format!("(unknown item {id})"),
            |item| describe(item).title,
        )
}

fn kind_word(kind: ItemKind) -> &'static str {
    match kind {
        ItemKind::Details => "plan details",
        ItemKind::Person => "person",
        ItemKind::CapacitySupport => "capacity support",
        ItemKind::Funding => "funding source",
        ItemKind::Schedule => "weekly schedule",
        ItemKind::CareTeamMember => "care team member",
        ItemKind::Strength => "strength",
        ItemKind::Need => "need",
        ItemKind::Concern => "concern",
        ItemKind::Problem => "problem",
        ItemKind::Goal => "goal",
        ItemKind::Action => "action",
        ItemKind::Outcome => "outcome",
        ItemKind::Progress => "progress record",
        ItemKind::Suggestion => "suggested change",
        ItemKind::Comment => "comment",
        ItemKind::Attachment => "attachment",
        ItemKind::Hyperlink => "link",
        ItemKind::Agreement => "agreement",
        ItemKind::CapacityAssessment => "capacity assessment",
        ItemKind::BestInterestDecision => "best-interest decision",
        ItemKind::ConsentPreference => "access preference",
    }
}

fn link(plan: &Plan, id: &ItemId) -> String {
    let kind = plan.kind_of(id).map_or("item", kind_word);
    format!("{kind} “{}” [{id}]", title_of(plan, id))
}

/// The active items of one kind, in the order they were added.
fn active<T: HasMeta>(map: &Items<T>) -> Vec<(&ItemId, &T)> {
    let mut items: Vec<_> = map.iter().filter(|(_, v)| v.meta().is_active()).collect();
    items.sort_by_key(|(id, v)| (v.meta().added.version, (*id).clone()));
    items
}

fn heading(out: &mut String, title: &str) {
    let _ = writeln!(out, "\n{title}\n{}", "─".repeat(title.chars().count()));
}

fn comments_on(out: &mut String, plan: &Plan, target: &Target, indent: &str) {
    for c in plan
        .comments
        .values()
        .filter(|c| c.meta.is_active() && &c.target == target)
    {
        let _ = writeln!(
            out,
            "{indent}“{}” — {}, {}",
            c.text,
            c.meta.added.by.name,
            when(&c.meta.added.at)
        );
    }
}

fn agreement_line(plan: &Plan) -> String {
    match plan.current_agreement() {
        None => "not yet recorded".into(),
        Some((_, a)) => {
            let what = a.outcome.describe();
            match a.superseded_in {
                None => format!("{what}, for this version ({})", a.agreed_version),
                Some(v) => format!(
                    "{what}, for an earlier version ({}); the plan has changed since, in version {v}",
                    a.agreed_version
                ),
            }
        }
    }
}

/// The whole plan for reading at a terminal.
pub fn plan(plan: &Plan, info: &VersionInfo, latest: VersionNumber, show_archived: bool) -> String {
    let mut out = String::new();
    let person = &plan.person.person;
    let _ = writeln!(out, "Care and support plan — {}", person.display_name());
    let mut facts = vec![format!("born {}", person.date_of_birth)];
    if let Some(n) = &person.nhs_number {
        facts.insert(0, format!("NHS number {n}"));
    }
    let _ = writeln!(out, "{}", facts.join(" · "));
    let _ = writeln!(out, "Plan {} · person {}", plan.id, plan.details.person_id);
    if plan.version == latest {
        let _ = writeln!(
            out,
            "Version {} (current) · last updated {} by {}",
            plan.version,
            when(&plan.last_updated),
            info.by.name
        );
    } else {
        let _ = writeln!(
            out,
            "Version {} of {latest}, as it was on {} (changed by {}) — this is not the current plan",
            plan.version,
            when(&plan.last_updated),
            info.by.name
        );
    }
    let d = &plan.details;
    let review = d
        .review_date
        .map_or_else(|| "none set".to_owned(), |r| r.to_string());
    let _ = writeln!(out, "Status: {} · review date: {review}", d.status.label());
    let _ = writeln!(out, "Agreement: {}", agreement_line(plan));
    match &plan.funding {
        Some(f) if f.meta.is_active() => {
            let held = f
                .details_held_at
                .as_ref()
                .map_or_else(String::new, |h| format!(" (details held at: {h})"));
            let _ = writeln!(out, "Care funding source: {}{held}", f.source.label());
        }
        _ => {
            let _ = writeln!(out, "Care funding source: not recorded");
        }
    }
    if let Some(s) = plan.schedule.as_ref().filter(|s| s.meta.is_active()) {
        let _ = writeln!(out, "Weekly schedule:");
        for slot in s.week.slots() {
            let label = slot
                .label
                .as_ref()
                .map(|l| format!(" ({l})"))
                .unwrap_or_default();
            let _ = writeln!(out, "  {}{label}", slot.time_range());
            for (day, cell) in &slot.days {
                let who = cell
                    .who
                    .as_ref()
                    .map(|w| format!(" — with {w}"))
                    .unwrap_or_default();
                let _ = writeln!(out, "    {day}: {}{who}", cell.what);
            }
        }
    }
    comments_on(&mut out, plan, &Target::Plan, "  Comment: ");

    let active_team: Vec<_> = active(&plan.care_team);
    if !active_team.is_empty() {
        heading(&mut out, "Care team");
        for (id, m) in active_team {
            let org = m
                .organisation
                .as_ref()
                .map_or_else(String::new, |o| format!(", {o}"));
            let _ = writeln!(out, "  • {} — {}{org}  [{id}]", m.name, m.role);
        }
    }

    heading(&mut out, "Strengths");
    for (id, s) in active(&plan.strengths) {
        let imp = s
            .importance
            .map_or_else(String::new, |i| format!(" (importance {i})"));
        let _ = writeln!(out, "  • {}{imp}  [{id}]", s.description);
    }

    heading(&mut out, "Needs");
    for (id, n) in active(&plan.needs) {
        let mut notes = Vec::new();
        if let Some(i) = n.importance {
            notes.push(format!("importance {i}"));
        }
        if let Some(by) = n.identified_by {
            notes.push(format!("identified by {}", by.label()));
        }
        let notes = if notes.is_empty() {
            String::new()
        } else {
            format!(" ({})", notes.join("; "))
        };
        let _ = writeln!(out, "  • {}{notes}  [{id}]", n.description);
    }
    heading(&mut out, "Concerns");
    for (id, c) in active(&plan.concerns) {
        let imp = c
            .importance
            .map_or_else(String::new, |i| format!("; importance {i}"));
        let _ = writeln!(
            out,
            "  • {} ({} concern, raised by {}{imp})  [{id}]",
            c.description,
            c.domain.label(),
            c.raised_by.label()
        );
    }
    heading(&mut out, "Problems");
    for (id, p) in active(&plan.problems) {
        let _ = writeln!(out, "  • {}  [{id}]", p.description);
        if let Some(code) = &p.code {
            let _ = writeln!(out, "      SNOMED CT {} |{}|", code.code, code.display);
        }
        if let Some(r) = &p.external_reference {
            let _ = writeln!(out, "      Problem list entry: {} {}", r.system, r.value);
        }
    }

    heading(&mut out, "Goals and hopes, in the person's order");
    for (position, (id, g)) in plan.goals_in_order().into_iter().enumerate() {
        goal(&mut out, plan, position + 1, id, g);
    }

    let outcomes: Vec<_> = active(&plan.outcomes);
    if !outcomes.is_empty() {
        heading(&mut out, "Outcomes");
        for (id, o) in outcomes {
            let _ = writeln!(
                out,
                "  • {}: {} — {} (for {})  [{id}]",
                o.date,
                o.description,
                o.status.label(),
                link(plan, &o.goal)
            );
        }
    }

    let has_capacity = plan.capacity_support.is_some()
        || !plan.capacity_assessments.is_empty()
        || !plan.best_interest_decisions.is_empty();
    if has_capacity {
        heading(&mut out, "Mental capacity");
        if let Some(c) = &plan.capacity_support {
            if let Some(s) = &c.steps_to_maximise_capacity {
                let _ = writeln!(out, "  Steps taken to maximise capacity: {s}");
            }
            if let Some(r) = &c.rights_promotion {
                let _ = writeln!(out, "  How the person's rights are promoted: {r}");
            }
        }
        for (id, a) in active(&plan.capacity_assessments) {
            let _ = writeln!(
                out,
                "  • Assessment, {}: “{}” — {} (by {})  [{id}]",
                a.assessed_on,
                a.decision,
                a.outcome.label(),
                a.assessed_by
            );
        }
        for (id, b) in active(&plan.best_interest_decisions) {
            let consulted: Vec<&str> = b.consulted.iter().map(|c| c.as_str()).collect();
            let _ = writeln!(
                out,
                "  • Best-interest decision, {}: “{}” by {}  [{id}]",
                b.decided_on, b.decision, b.decision_maker
            );
            let _ = writeln!(out, "      Consulted: {}", consulted.join("; "));
            let _ = writeln!(out, "      Rationale: {}", b.rationale);
        }
    }

    let sections: Vec<_> = careplan_model::Section::ALL
        .iter()
        .map(|s| Target::Section { section: *s })
        .collect();
    let section_comments: Vec<_> = plan
        .comments
        .values()
        .filter(|c| c.meta.is_active() && sections.contains(&c.target))
        .collect();
    if !section_comments.is_empty() {
        heading(&mut out, "Comments on sections");
        for c in section_comments {
            let on = match &c.target {
                Target::Section { section } => section.title(),
                _ => "",
            };
            let _ = writeln!(
                out,
                "  • {on}: “{}” — {}, {}",
                c.text,
                c.meta.added.by.name,
                when(&c.meta.added.at)
            );
        }
    }

    let links: Vec<_> = active(&plan.hyperlinks);
    let files: Vec<_> = active(&plan.attachments);
    if !links.is_empty() || !files.is_empty() {
        heading(&mut out, "Links and attachments");
        for (id, h) in links {
            let _ = writeln!(
                out,
                "  • {} — {} ({}; added {} by {})  [{id}]",
                h.title,
                h.url,
                h.purpose.label(),
                when(&h.meta.added.at),
                h.meta.added.by.name
            );
        }
        for (id, a) in files {
            let _ = writeln!(
                out,
                "  • {} — {}, {} bytes ({}; added {} by {})  [{id}]",
                a.title,
                a.content_type,
                a.size_bytes,
                a.purpose.label(),
                when(&a.meta.added.at),
                a.meta.added.by.name
            );
        }
    }

    let prefs: Vec<_> = plan
        .consent
        .values()
        .filter(|p| p.meta.is_active())
        .collect();
    if !prefs.is_empty() {
        heading(&mut out, "Who may see this plan");
        for p in prefs {
            let scope = match p.scope {
                ConsentScope::WholePlan => "The whole plan".to_owned(),
                ConsentScope::Section(s) => format!("The {} section", s.title()),
            };
            let verb = if p.visible {
                "is shared with"
            } else {
                "is withheld from"
            };
            let _ = writeln!(out, "  • {scope} {verb} {}", p.audience.describe());
        }
    }

    if show_archived {
        heading(&mut out, "Archived items (not part of the current view)");
        let mut any = false;
        for key in plan.item_keys() {
            let item = plan.get(&key).expect("listed");
            if let Some(a) = &item.item_meta().archived {
                any = true;
                let why = a
                    .reason
                    .as_ref()
                    .map_or_else(String::new, |r| format!(": {r}"));
                let _ = writeln!(
                    out,
                    "  • {} “{}” — archived in version {}{why}  [{}]",
                    kind_word(key.kind),
                    describe(item).title,
                    a.stamp.version,
                    key.id
                );
            }
        }
        if !any {
            let _ = writeln!(out, "  (none)");
        }
    } else {
        let archived = plan
            .item_keys()
            .iter()
            .filter(|k| plan.get(k).is_some_and(|i| !i.item_meta().is_active()))
            .count();
        if archived > 0 {
            let _ = writeln!(
                out,
                "\n{archived} archived item(s) are not shown; add --archived to list them."
            );
        }
    }
    out
}

fn goal(out: &mut String, plan: &Plan, position: usize, id: &ItemId, g: &Goal) {
    let mut facts = vec![g.label.label().to_owned()];
    if let Some(p) = g.priority {
        facts.push(format!("priority {p}"));
    }
    facts.push(g.status.label().to_owned());
    if let Some(t) = g.target_date {
        facts.push(format!("target {t}"));
    }
    let _ = writeln!(
        out,
        "  {position}. {} ({})  [{id}]",
        g.description,
        facts.join(", ")
    );
    if let Some(w) = &g.why_it_matters {
        let _ = writeln!(out, "     Why it matters: {w}");
    }
    for n in &g.addresses {
        let _ = writeln!(out, "     Addresses {}", link(plan, n));
    }
    for s in &g.strengths {
        let _ = writeln!(out, "     Draws on {}", link(plan, s));
    }
    if let Some(r) = &g.review {
        let _ = writeln!(
            out,
            "     ⚑ Needs review: {} (since version {})",
            r.reason, r.raised_in
        );
    }
    let actions: Vec<_> = active(&plan.actions)
        .into_iter()
        .filter(|(_, a)| a.goal == *id)
        .collect();
    if actions.is_empty() {
        let _ = writeln!(out, "     No actions yet.");
    }
    for (aid, a) in actions {
        let mut facts = vec![a.performer.display()];
        if let Some(t) = &a.timing {
            facts.push(t.to_string());
        }
        facts.push(a.status.label().to_owned());
        if let Some(c) = a.confidence {
            facts.push(format!("confidence {c}"));
        }
        let _ = writeln!(
            out,
            "     – Action: {} ({})  [{aid}]",
            a.description,
            facts.join("; ")
        );
        comments_on(
            out,
            plan,
            &Target::Item { item: aid.clone() },
            "         Comment: ",
        );
    }
    for (oid, o) in active(&plan.outcomes)
        .into_iter()
        .filter(|(_, o)| o.goal == *id)
    {
        let _ = writeln!(
            out,
            "     Outcome {}: {} ({})  [{oid}]",
            o.date,
            o.description,
            o.status.label()
        );
    }
    for (_, p) in active(&plan.progress)
        .into_iter()
        .filter(|(_, p)| p.goal == *id)
    {
        let note = p
            .note
            .as_ref()
            .map_or_else(String::new, |n| format!(" — {n}"));
        let _ = writeln!(
            out,
            "     Progress {}: {} on the {} scale{note}",
            p.date,
            p.progress.value(),
            p.progress.scale().label()
        );
    }
    comments_on(
        out,
        plan,
        &Target::Item { item: id.clone() },
        "     Comment: ",
    );
}

/// A plan for machines: the API's shape, plus who made this version.
pub fn plan_json(plan: &Plan, info: &VersionInfo, latest: VersionNumber) -> Value {
    let mut value = careplan_server::json::plan(plan, latest, &[], &[]);
    if let Value::Object(map) = &mut value {
        map.insert(
            "updated_by".into(),
            serde_json::to_value(&info.by).unwrap_or(Value::Null),
        );
    }
    value
}

pub fn people(people: &[PersonSummary]) -> String {
    let mut out = String::new();
    if people.is_empty() {
        out.push_str("No people yet. Run `careplan demo` to load a fictional person, or `careplan person add`.\n");
        return out;
    }
    let _ = writeln!(
        out,
        "{:<28} {:<14} {:<12} {:>7}  Plan id",
        "Name", "NHS number", "Born", "Version"
    );
    for p in people {
        let nhs = p
            .nhs_number
            .as_deref()
            .and_then(|n| careplan_model::NhsNumber::parse(n).ok())
            .map_or_else(|| "—".to_owned(), |n| n.to_string());
        let name = format!("{}, {}", p.family_name, p.given_name);
        let _ = writeln!(
            out,
            "{name:<28} {nhs:<14} {:<12} {:>7}  {}",
            p.date_of_birth, p.version, p.plan_id
        );
    }
    out
}

pub fn history(plan: &Plan, versions: &[HistoryEntry]) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "History of {}'s plan ({} versions)\n",
        plan.person.person.display_name(),
        versions.len()
    );
    let _ = writeln!(out, "{:>4}  {:<20}  {:<44}  What", "#", "When", "Who");
    for v in versions {
        let who = format!("{} ({})", v.by.name, v.by.role.label());
        let reason = v
            .reason
            .as_ref()
            .map_or_else(String::new, |r| format!(" — because: {r}"));
        let _ = writeln!(
            out,
            "{:>4}  {:<20}  {:<44}  {}{reason}",
            v.number,
            when(&v.at),
            who,
            v.summary
        );
    }
    out
}

pub fn diff(plan: &Plan, diff: &PlanDiff) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Changes to {}'s plan from version {} to version {}",
        plan.person.person.display_name(),
        diff.from,
        diff.to
    );
    if diff.changes.is_empty() {
        let _ = writeln!(out, "\nNo differences.");
        return out;
    }
    for c in &diff.changes {
        let (mark, verb) = match c.change {
            ChangeKind::Added => ("+", "added"),
            ChangeKind::Changed => ("~", "changed"),
            ChangeKind::Archived => ("−", "archived"),
            ChangeKind::Restored => ("↺", "restored"),
        };
        let _ = writeln!(
            out,
            "\n{mark} {verb} {} “{}”  [{}]",
            kind_word(c.key.kind),
            c.title,
            c.key.id
        );
        for f in &c.fields {
            if f.field == "archived" {
                continue;
            }
            match (f.before.is_empty(), f.after.is_empty()) {
                (true, _) => {
                    let _ = writeln!(out, "    {}: {}", f.field, f.after);
                }
                (false, true) => {
                    let _ = writeln!(out, "    {}: {} → (removed)", f.field, f.before);
                }
                (false, false) => {
                    let _ = writeln!(out, "    {}: {} → {}", f.field, f.before, f.after);
                }
            }
        }
    }
    out
}
