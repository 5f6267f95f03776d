//! CSP-7 the weekly schedule from the browser: the week as it is (an accessible table), a form
//! to add a time slot (start, end, a name, and for each day what happens and who helps), and a
//! button per slot to remove it. Each change sets the whole week (`set_weekly_schedule`), so the
//! schedule's own rules (slots in order, no overlaps, something on at least one day) are checked
//! on the week that would result.

use std::collections::BTreeMap;

use askama::Template;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use careplan_content::{Cell, ClockTime, Day, TimeSlot, WeeklySchedule, schedule_table};
use careplan_model::{Command, Plan, Section, Text, VersionNumber};
use careplan_store::StoreError;

use crate::WebState;
use crate::caseload::capitalise;
use crate::error::{PageError, page_with, redirect};
use crate::layout::Chrome;
use crate::session::{FormData, Session};

#[derive(Template)]
#[template(path = "schedule.html")]
struct SchedulePage {
    chrome: Chrome,
    back_href: String,
    action: String,
    person: String,
    csrf: String,
    base_version: u64,
    /// The week as it is now (safe HTML), if there is one.
    table: Option<String>,
    /// (index, "08:00 to 09:00 (Getting up)") for each slot, to remove.
    slots: Vec<(usize, String)>,
    start: String,
    end: String,
    label: String,
    /// (key, name, what, who) for Monday to Sunday.
    days: Vec<(&'static str, &'static str, String, String)>,
    errors: Vec<(String, String)>,
    stale: Option<String>,
}

impl SchedulePage {
    fn error(&self, field: &str) -> Option<&str> {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
    }
}

fn current_slots(plan: &Plan) -> Vec<TimeSlot> {
    plan.schedule
        .as_ref()
        .filter(|s| s.meta.is_active())
        .map(|s| s.week.slots().to_vec())
        .unwrap_or_default()
}

struct Ctx<'a> {
    session: &'a Session,
    plan: &'a Plan,
    base: String,
}

impl Ctx<'_> {
    fn render(
        &self,
        status: StatusCode,
        form: &FormData,
        version: VersionNumber,
        errors: Vec<(String, String)>,
        stale: Option<String>,
    ) -> Result<Response, PageError> {
        let slots = current_slots(self.plan);
        let heading = "Weekly schedule";
        let title = if errors.is_empty() && stale.is_none() {
            heading.to_owned()
        } else {
            format!("Error: {heading}")
        };
        let table = WeeklySchedule::new(slots.clone())
            .ok()
            .map(|w| schedule_table(&w, "The week as it is now"));
        page_with(
            status,
            &SchedulePage {
                chrome: Chrome::signed_in(&title, self.session, "people"),
                back_href: format!("{}#schedule", self.base),
                action: format!("{}/schedule", self.base),
                person: self.plan.person.person.display_name(),
                csrf: self.session.csrf.clone(),
                base_version: version.get(),
                table,
                slots: slots
                    .iter()
                    .enumerate()
                    .map(|(i, s)| {
                        let label = s
                            .label
                            .as_ref()
                            .map(|l| format!(" ({l})"))
                            .unwrap_or_default();
                        (i, format!("{}{label}", s.time_range()))
                    })
                    .collect(),
                start: form.text("start"),
                end: form.text("end"),
                label: form.text("label"),
                days: Day::ALL
                    .iter()
                    .map(|d| {
                        (
                            d.key(),
                            d.name(),
                            form.text(&format!("{}-what", d.key())),
                            form.text(&format!("{}-who", d.key())),
                        )
                    })
                    .collect(),
                errors,
                stale,
            },
        )
    }
}

async fn open(
    state: &WebState,
    session: &Session,
    person: &str,
) -> Result<careplan_store::handle::Viewed<std::sync::Arc<Plan>>, PageError> {
    let viewed = session.handle(state).current_by_key(person).await?;
    if viewed.withheld.contains(&Section::Actions) {
        return Err(PageError::Forbidden(
            "The person has not shared their actions and weekly schedule with you".into(),
        ));
    }
    Ok(viewed)
}

/// `GET /people/{person}/schedule`.
pub async fn schedule_page(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
) -> Result<Response, PageError> {
    let viewed = open(&state, &session, &person).await?;
    let plan = &viewed.value;
    let ctx = Ctx {
        session: &session,
        plan,
        base: format!("/people/{}", plan.details.person_id),
    };
    ctx.render(
        StatusCode::OK,
        &FormData::default(),
        plan.version,
        Vec::new(),
        None,
    )
}

/// The slot the form describes, or the errors against its fields.
fn slot_from(form: &FormData) -> Result<TimeSlot, Vec<(String, String)>> {
    let mut errors = Vec::new();
    let start = match ClockTime::parse(&form.text("start")) {
        Ok(t) => Some(t),
        Err(_) if form.text("start").is_empty() => {
            errors.push((
                "start".to_owned(),
                "Enter the time it starts, for example 08:30".to_owned(),
            ));
            None
        }
        Err(e) => {
            errors.push(("start".to_owned(), capitalise(&e.to_string())));
            None
        }
    };
    let end = match form.text("end") {
        e if e.is_empty() => None,
        e => match ClockTime::parse(&e) {
            Ok(t) => Some(t),
            Err(err) => {
                errors.push(("end".to_owned(), capitalise(&err.to_string())));
                None
            }
        },
    };
    let text = |name: &str, errors: &mut Vec<(String, String)>| match form.text(name) {
        v if v.is_empty() => None,
        v => match Text::new(&v) {
            Ok(t) => Some(t),
            Err(e) => {
                errors.push((name.to_owned(), capitalise(&e.to_string())));
                None
            }
        },
    };
    let label = text("label", &mut errors);
    let mut days = BTreeMap::new();
    for day in Day::ALL {
        let what = text(&format!("{}-what", day.key()), &mut errors);
        let who = text(&format!("{}-who", day.key()), &mut errors);
        match (what, who) {
            (Some(what), who) => {
                days.insert(day, Cell { what, who });
            }
            (None, Some(_)) => errors.push((
                format!("{}-what", day.key()),
                format!(
                    "Say what happens on {}, or leave who helps empty",
                    day.name()
                ),
            )),
            (None, None) => {}
        }
    }
    if days.is_empty() && errors.is_empty() {
        errors.push((
            "monday-what".to_owned(),
            "Say what happens on at least one day".to_owned(),
        ));
    }
    match start {
        Some(start) if errors.is_empty() => Ok(TimeSlot {
            start,
            end,
            label,
            days,
        }),
        _ => Err(errors),
    }
}

/// `POST /people/{person}/schedule`: adds a time.
pub async fn schedule_add(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    change(state, session, person, body, false).await
}

/// `POST /people/{person}/schedule/remove` with `remove=<index>`: removes a time.
pub async fn schedule_remove(
    State(state): State<WebState>,
    session: Session,
    Path(person): Path<String>,
    body: Bytes,
) -> Result<Response, PageError> {
    change(state, session, person, body, true).await
}

async fn change(
    state: WebState,
    session: Session,
    person: String,
    body: Bytes,
    remove: bool,
) -> Result<Response, PageError> {
    let form = FormData::parse(&body);
    session.check_csrf(&form)?;
    let viewed = open(&state, &session, &person).await?;
    let plan = &viewed.value;
    let ctx = Ctx {
        session: &session,
        plan,
        base: format!("/people/{}", plan.details.person_id),
    };
    let base = form
        .get("base_version")
        .and_then(|v| v.parse::<u64>().ok())
        .and_then(|v| VersionNumber::new(v).ok())
        .unwrap_or(plan.version);
    let mut slots = current_slots(plan);
    let command = if remove {
        let index = form
            .get("remove")
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < slots.len())
            .ok_or_else(|| {
                PageError::BadRequest(
                    "That time is no longer in the schedule: go back and reload the page".into(),
                )
            })?;
        slots.remove(index);
        if slots.is_empty() {
            Command::Archive {
                id: careplan_model::ItemKind::Schedule
                    .fixed_id()
                    .expect("the schedule has a fixed id"),
                reason: None,
            }
        } else {
            Command::SetWeeklySchedule {
                schedule: WeeklySchedule::new(slots)
                    .map_err(|e| PageError::BadRequest(capitalise(&e.to_string())))?,
            }
        }
    } else {
        let slot = match slot_from(&form) {
            Ok(slot) => slot,
            Err(errors) => {
                return ctx.render(StatusCode::UNPROCESSABLE_ENTITY, &form, base, errors, None);
            }
        };
        slots.push(slot);
        slots.sort_by_key(|s| s.start);
        match WeeklySchedule::new(slots) {
            Ok(week) => Command::SetWeeklySchedule { schedule: week },
            Err(e) => {
                return ctx.render(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    &form,
                    base,
                    vec![("start".to_owned(), capitalise(&e.to_string()))],
                    None,
                );
            }
        }
    };
    match session
        .handle(&state)
        .apply(&plan.id, base, vec![command], None)
        .await
    {
        Ok(done) => {
            let v = done.last().map_or(plan.version, |c| c.version());
            Ok(redirect(&format!("{}?saved={v}#schedule", ctx.base)))
        }
        Err(StoreError::Conflict { current, .. }) => ctx.render(
            StatusCode::CONFLICT,
            &form,
            current,
            Vec::new(),
            Some(format!(
                "Someone changed the plan (it is now at version {current}) while you were working. \
                 Nothing was saved; what you entered is below. Check the week, then save again."
            )),
        ),
        Err(StoreError::Rejected(issues)) => ctx.render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &form,
            base,
            vec![(
                "start".to_owned(),
                careplan_model::issue::sentences(&issues),
            )],
            None,
        ),
        Err(e) => Err(e.into()),
    }
}
