//! A FHIR Bundle as the commands that build the same plan through the model.
//!
//! The importer reads a Bundle (one this crate exported, or a plain R4 `transaction` or
//! `collection` Bundle with `urn:uuid:` fullUrls), resolves the references between its entries,
//! and turns it into the person and an ordered list of [`Command`]s: the caller starts a plan
//! with [`ImportPlan::create_command`] and applies the commands one by one, so every rule of
//! the model holds for imported plans exactly as for any other change.
//!
//! Anything the model cannot hold is refused with an issue naming it (see the crate docs).
//! Before returning, the commands are tried against a scratch plan with [`careplan_model::apply`],
//! so a Bundle that breaks a rule of the plan (a Goal that addresses no need…) is refused here,
//! with the entry that caused it, rather than half-way through a store's import.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use careplan_model::{ActionChanges, CapacityOutcome, Change, ConsentScope, IssueCode};
use careplan_model::{
    ActionStatus, Actor, AgreedBy, AgreementOutcome, Audience, Command, ConcernDomain, Confidence,
    ExternalReference, FundingSourceKind, GoalLabel, GoalStatus, Identifier, ItemId,
    LegalAuthority, NhsNumber, OutcomeStatus, Performer, PerformerKind, Person, PersonId, PlanId,
    PlanStatus, Priority, ProgressScale, ProgressValue, Purpose, RaisedBy, Role, SctId, Section,
    Sha256Hex, SnomedConcept, Stamp, Target, Text, Timestamp, VersionNumber, WebAddress, apply,
    parse_date, start,
};
use serde_json::Value;
use sha2::{Digest as _, Sha256};

use crate::export::{attachment_content_path, goal_priority_code};
use crate::issue::{FhirIssue, IssueType};
use crate::terminology::{
    self as t, CONDITION_CATEGORY, CONDITION_CLINICAL, CONSENT_SCOPE, GOAL_ACHIEVEMENT,
    GOAL_PRIORITY, NHS_NUMBER, PERTAINS_TO_GOAL, SCT_CARE_PLAN, SNOMED, cs, ext,
};

/// What a Bundle becomes: the person, the ids to keep, and the commands that rebuild the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportPlan {
    /// The CarePlan's id, when the Bundle has a CarePlan whose id is a valid plan id. A store
    /// may keep it (so ids survive a round trip) or give the plan a fresh one.
    pub plan_id: Option<PlanId>,
    /// The Patient's id, when it is a valid person id.
    pub person_id: Option<PersonId>,
    /// The person, from the Patient.
    pub person: Person,
    /// The changes after `create_plan`, in the order they must be applied.
    pub commands: Vec<Command>,
    /// Things worth knowing that are not errors (what an import does not carry over), each with
    /// severity `information`.
    pub notes: Vec<FhirIssue>,
    /// The files the Bundle carried inline (`content.attachment.data`), each already checked
    /// against its attachment's size and SHA-256. The caller keeps them in its file store
    /// before it commits the commands.
    pub files: Vec<ImportedFile>,
}

/// An attachment's file carried in the Bundle as base64 (`Attachment.data`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedFile {
    /// The attachment it belongs to.
    pub attachment: ItemId,
    /// The attachment's title, to name the file in messages.
    pub title: String,
    /// The media type the attachment record states.
    pub content_type: String,
    /// The SHA-256 of `bytes`, as the attachment record states it (checked).
    pub sha256: Sha256Hex,
    pub bytes: Vec<u8>,
}

impl ImportPlan {
    /// The command that starts the plan (version 1); `commands` follow it.
    pub fn create_command(&self) -> Command {
        Command::CreatePlan {
            person: self.person.clone(),
        }
    }
}

/// Turns a FHIR R4 Bundle into the commands that build the plan it describes, or every issue
/// that stops it (each with a FHIRPath location and a sentence).
pub fn commands_from_bundle(bundle: &Value) -> Result<ImportPlan, Vec<FhirIssue>> {
    let mut im = Importer::default();
    let entries = im.entries(bundle);
    im.entries = entries;
    im.index();
    im.read_all();
    if !im.issues.is_empty() {
        return Err(im.issues);
    }
    let Some(person) = im.person.take() else {
        return Err(im.issues);
    };
    let steps = im.assemble();
    let commands = im.simulate(&person, &steps)?;
    let mut notes = im.notes;
    notes.push(FhirIssue::information(
        "Bundle",
        "Who made each change and when is not imported: the imported plan's history starts with the import, so the author and time of comments, attachments, links and of archiving are those of the import.",
    ));
    if !im.without_data.is_empty() {
        notes.push(FhirIssue::information(
            "Bundle.entry.resource.ofType(DocumentReference).content.attachment",
            format!(
                "{} attachment(s) came without their file (no content.attachment.data): {}. Their records are imported, but their files cannot be downloaded here; export with the files inline (careplan export --fhir --with-files) to bring them across.",
                im.without_data.len(),
                im.without_data.join(", ")
            ),
        ));
    }
    Ok(ImportPlan {
        plan_id: im.plan_id,
        person_id: im.person_id,
        person,
        commands,
        notes,
        files: im.files,
    })
}

/// One entry of the Bundle.
#[derive(Debug, Clone)]
struct Entry {
    index: usize,
    kind: String,
    resource: Value,
    full_url: Option<String>,
}

impl Entry {
    fn path(&self) -> String {
        format!("Bundle.entry[{}].resource", self.index)
    }

    fn name(&self) -> String {
        match self.resource.get("id").and_then(Value::as_str) {
            Some(id) => format!("{} {id}", self.kind),
            None => format!("the {} in entry {}", self.kind, self.index),
        }
    }
}

/// A command and the place in the Bundle it came from.
#[derive(Debug, Clone)]
struct Sourced {
    command: Command,
    at: String,
}

/// A step of the import. Access preferences get ids from the version that creates them, so the
/// archive of an archived preference names it only once the step's position is known.
#[derive(Debug, Clone)]
enum Step {
    Do(Sourced),
    /// Archives the access preference the step just before created.
    ArchivePreviousPreference {
        reason: Option<Text>,
        at: String,
    },
}

/// Phases of the import, in the order their commands are applied.
#[derive(Debug, Default)]
struct Phases {
    plan: Vec<Sourced>,
    team: Vec<Sourced>,
    content: Vec<Sourced>,
    goals: Vec<(usize, Sourced, bool)>,
    actions: Vec<Sourced>,
    /// Suggested changes to actions, each with its acceptance or refusal when it has one.
    suggestions: Vec<(Sourced, Option<Sourced>)>,
    records: Vec<Sourced>,
    /// Mental capacity assessments, then the best-interest decisions that rest on them.
    capacity: Vec<Sourced>,
    best_interest: Vec<Sourced>,
    /// Attachments and hyperlinks (DocumentReference).
    documents: Vec<Sourced>,
    comments: Vec<Sourced>,
    funding: Vec<Sourced>,
    preferences: Vec<(Sourced, Option<Option<Text>>)>,
    /// Archives by rank: actions (0), goals (1), everything else (2).
    archives: Vec<(u8, Sourced)>,
    /// Agreements: (agreed version in the source, superseded, command, archive).
    agreements: Vec<(u64, bool, Sourced, Option<Sourced>)>,
}

#[derive(Debug, Default)]
struct Importer {
    entries: Vec<Entry>,
    by_key: HashMap<String, usize>,
    item_ids: HashMap<usize, ItemId>,
    patient: Option<usize>,
    care_plan: Option<usize>,
    goal_order: Vec<usize>,
    person: Option<Person>,
    plan_id: Option<PlanId>,
    person_id: Option<PersonId>,
    issues: Vec<FhirIssue>,
    notes: Vec<FhirIssue>,
    phases: Phases,
    generated: usize,
    /// Files carried inline, checked against their records.
    files: Vec<ImportedFile>,
    /// Titles of attachments whose file the Bundle does not carry.
    without_data: Vec<String>,
}

/// Our extensions read from one element, by name, with their value and location.
type Exts = BTreeMap<&'static str, (Value, String)>;

/// The name we use for HL7's pertainsToGoal extension among our own.
const PERTAINS: &str = "resource-pertainsToGoal";

/// Elements every resource may carry: `meta` and a generated narrative are derived, so
/// accepting them loses nothing.
const COMMON: &[&str] = &["resourceType", "id", "meta", "text"];

fn item_prefix(kind: &str) -> &'static str {
    match kind {
        "Condition" => "condition",
        "Goal" => "goal",
        "Task" => "action",
        "Observation" => "observation",
        "Consent" => "consent",
        "DocumentReference" => "document",
        _ => "item",
    }
}

impl Importer {
    fn err(&mut self, code: IssueType, at: impl Into<String>, message: impl Into<String>) {
        self.issues.push(FhirIssue::error(code, at, message));
    }

    // -----------------------------------------------------------------------------------------
    // The Bundle and its entries
    // -----------------------------------------------------------------------------------------

    fn entries(&mut self, bundle: &Value) -> Vec<Entry> {
        if bundle.get("resourceType").and_then(Value::as_str) != Some("Bundle") {
            self.err(
                IssueType::Structure,
                "",
                "This is not a FHIR Bundle: resourceType must be Bundle",
            );
            return Vec::new();
        }
        self.fields(
            bundle,
            "Bundle",
            "The Bundle",
            &[
                "resourceType",
                "id",
                "meta",
                "type",
                "timestamp",
                "total",
                "link",
                "entry",
                "identifier",
            ],
        );
        match bundle.get("type").and_then(Value::as_str) {
            Some("collection" | "transaction" | "searchset") => {}
            Some(other) => self.err(
                IssueType::NotSupported,
                "Bundle.type",
                format!(
                    "A Bundle of type “{other}” cannot be imported as a plan: use collection or transaction"
                ),
            ),
            None => self.err(IssueType::Required, "Bundle.type", "The Bundle has no type"),
        }
        let Some(list) = bundle.get("entry").and_then(Value::as_array) else {
            self.err(
                IssueType::Required,
                "Bundle.entry",
                "The Bundle has no entries: it needs at least a Patient",
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for (index, e) in list.iter().enumerate() {
            let at = format!("Bundle.entry[{index}]");
            if !self.fields(
                e,
                &at,
                &format!("Entry {index}"),
                &["fullUrl", "resource", "request", "search"],
            ) {
                continue;
            }
            if let Some(request) = e.get("request") {
                self.fields(
                    request,
                    &format!("{at}.request"),
                    "The request",
                    &["method", "url"],
                );
                match request.get("method").and_then(Value::as_str) {
                    Some("POST" | "PUT") => {}
                    other => self.err(
                        IssueType::NotSupported,
                        format!("{at}.request.method"),
                        format!(
                            "An import only creates resources (POST or PUT), not {}",
                            other.unwrap_or("a request without a method")
                        ),
                    ),
                }
            }
            let Some(resource) = e.get("resource").filter(|r| r.is_object()) else {
                self.err(
                    IssueType::Required,
                    format!("{at}.resource"),
                    format!("Entry {index} has no resource"),
                );
                continue;
            };
            let Some(kind) = resource.get("resourceType").and_then(Value::as_str) else {
                self.err(
                    IssueType::Structure,
                    format!("{at}.resource.resourceType"),
                    format!("The resource in entry {index} has no resourceType"),
                );
                continue;
            };
            out.push(Entry {
                index,
                kind: kind.to_owned(),
                resource: resource.clone(),
                full_url: e.get("fullUrl").and_then(Value::as_str).map(str::to_owned),
            });
        }
        out
    }

    /// Indexes entries by fullUrl and by `Type/id`, and gives every item its id.
    fn index(&mut self) {
        for pos in 0..self.entries.len() {
            let e = self.entries[pos].clone();
            if let Some(url) = &e.full_url
                && self.by_key.insert(url.clone(), pos).is_some()
            {
                self.err(
                    IssueType::Value,
                    format!("Bundle.entry[{}].fullUrl", e.index),
                    format!("Two entries have the fullUrl {url}"),
                );
            }
            let id = e.resource.get("id").and_then(Value::as_str);
            if let Some(id) = id {
                let key = format!("{}/{id}", e.kind);
                if self.by_key.insert(key.clone(), pos).is_some() {
                    self.err(
                        IssueType::Value,
                        format!("{}.id", e.path()),
                        format!("Two entries are {key}"),
                    );
                }
            }
            if matches!(
                e.kind.as_str(),
                "Condition" | "Goal" | "Task" | "Observation" | "Consent" | "DocumentReference"
            ) {
                let item = match id {
                    Some(id) => match ItemId::parse(id) {
                        Ok(i) => Some(i),
                        Err(err) => {
                            self.err(IssueType::Value, format!("{}.id", e.path()), err.0);
                            None
                        }
                    },
                    None => {
                        let uuid = e
                            .full_url
                            .as_deref()
                            .and_then(|u| u.strip_prefix("urn:uuid:"))
                            .map(str::to_owned);
                        let prefix = item_prefix(&e.kind);
                        let made = match uuid {
                            Some(u) => format!("{prefix}-{u}"),
                            None => format!("{prefix}-entry{}", e.index),
                        };
                        match ItemId::parse(&made) {
                            Ok(i) => Some(i),
                            Err(err) => {
                                self.err(
                                    IssueType::Value,
                                    format!("Bundle.entry[{}].fullUrl", e.index),
                                    err.0,
                                );
                                None
                            }
                        }
                    }
                };
                if let Some(item) = item {
                    self.item_ids.insert(pos, item);
                }
            }
        }
    }

    /// The entry a reference names: `Type/id`, a fullUrl (`urn:uuid:…` or absolute), or an
    /// absolute URL ending in `Type/id`; a `/_history/n` suffix is ignored.
    fn resolve(&self, reference: &str) -> Option<usize> {
        let plain = match reference.find("/_history/") {
            Some(i) => &reference[..i],
            None => reference,
        };
        if let Some(pos) = self.by_key.get(plain) {
            return Some(*pos);
        }
        let mut parts = plain.rsplitn(3, '/');
        let (id, kind) = (parts.next()?, parts.next()?);
        self.by_key.get(&format!("{kind}/{id}")).copied()
    }

    fn read_all(&mut self) {
        let patients: Vec<usize> = (0..self.entries.len())
            .filter(|p| self.entries[*p].kind == "Patient")
            .collect();
        match patients.as_slice() {
            [one] => self.patient = Some(*one),
            [] => self.err(
                IssueType::Required,
                "Bundle.entry",
                "The Bundle has no Patient: a plan is for one person",
            ),
            [_, second, ..] => {
                let at = self.entries[*second].path();
                self.err(
                    IssueType::NotSupported,
                    at,
                    "The Bundle has more than one Patient: a plan is for one person",
                );
            }
        }
        let plans: Vec<usize> = (0..self.entries.len())
            .filter(|p| self.entries[*p].kind == "CarePlan")
            .collect();
        if plans.len() > 1 {
            let at = self.entries[plans[1]].path();
            self.err(
                IssueType::NotSupported,
                at,
                "The Bundle has more than one CarePlan: a person has one plan",
            );
        }
        self.care_plan = plans.first().copied();
        let lists: Vec<usize> = (0..self.entries.len())
            .filter(|p| self.entries[*p].kind == "List")
            .collect();
        if lists.len() > 1 {
            let at = self.entries[lists[1]].path();
            self.err(
                IssueType::NotSupported,
                at,
                "The Bundle has more than one List: the only List a plan has is the order of its goals",
            );
        }
        // The goal order first: goals are added in it.
        if let Some(list) = lists.first() {
            self.goal_order_list(*list);
        }
        let mut provenance = 0;
        for pos in 0..self.entries.len() {
            let e = self.entries[pos].clone();
            match e.kind.as_str() {
                "Patient" => self.patient_entry(&e),
                "CarePlan" => self.care_plan_entry(&e),
                "CareTeam" => self.care_team(&e),
                "Condition" => self.condition(pos, &e),
                "Goal" => self.goal(pos, &e),
                "Task" => self.task(pos, &e),
                "Observation" => self.observation(pos, &e),
                "Consent" => self.consent(pos, &e),
                "DocumentReference" => self.document(pos, &e),
                "List" => {}
                "Provenance" => provenance += 1,
                other => self.err(
                    IssueType::NotSupported,
                    e.path(),
                    format!(
                        "A {other} cannot be imported into a care plan: the plan holds Patient, CarePlan, CareTeam, Condition, Goal, List, Task, Observation, Consent, DocumentReference and Provenance"
                    ),
                ),
            }
        }
        if provenance > 0 {
            self.notes.push(FhirIssue::information(
                "Bundle.entry.resource.ofType(Provenance)",
                format!(
                    "{provenance} Provenance record(s) describe the plan's history in the system it came from; that history is not imported, and the import makes a new version for each change"
                ),
            ));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Generic readers
    // -----------------------------------------------------------------------------------------

    /// Checks that `v` is an object with only `allowed` keys; every other key is refused by name.
    fn fields(&mut self, v: &Value, at: &str, what: &str, allowed: &[&str]) -> bool {
        let Some(o) = v.as_object() else {
            self.err(
                IssueType::Structure,
                at,
                format!("{what} must be a JSON object"),
            );
            return false;
        };
        for key in o.keys() {
            if !allowed.contains(&key.as_str()) {
                self.err(
                    IssueType::NotSupported,
                    format!("{at}.{key}"),
                    format!(
                        "{what} has “{key}”, which the care plan cannot hold: it is refused rather than dropped, so remove it to import the rest"
                    ),
                );
            }
        }
        true
    }

    /// A resource's own checks: allowed elements, `meta` and narrative.
    fn resource_fields(&mut self, e: &Entry, allowed: &[&str]) {
        let all: Vec<&str> = COMMON.iter().chain(allowed).copied().collect();
        let at = e.path();
        let name = e.name();
        self.fields(&e.resource, &at, &name, &all);
        if let Some(meta) = e.resource.get("meta") {
            self.fields(
                meta,
                &format!("{at}.meta"),
                &format!("The meta of {name}"),
                &["versionId", "lastUpdated", "profile", "source"],
            );
        }
        if let Some(text) = e.resource.get("text")
            && text.get("status").and_then(Value::as_str) != Some("generated")
        {
            self.err(
                IssueType::NotSupported,
                format!("{at}.text"),
                format!(
                    "{name} has a narrative that is not generated from its data; the care plan cannot keep it"
                ),
            );
        }
    }

    fn array<'v>(&mut self, v: Option<&'v Value>, at: &str) -> Vec<&'v Value> {
        match v {
            None => Vec::new(),
            Some(Value::Array(a)) => a.iter().collect(),
            Some(_) => {
                self.err(IssueType::Structure, at, "This must be a JSON array");
                Vec::new()
            }
        }
    }

    fn str_at<'v>(&mut self, v: Option<&'v Value>, at: &str) -> Option<&'v str> {
        match v {
            None => None,
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.err(IssueType::Structure, at, "This must be a JSON string");
                None
            }
        }
    }

    fn text(&mut self, v: Option<&Value>, at: &str) -> Option<Text> {
        let s = self.str_at(v, at)?;
        match Text::new(s) {
            Ok(t) => Some(t),
            Err(e) => {
                self.err(IssueType::Value, at, capitalise(&e.0));
                None
            }
        }
    }

    fn required_text(&mut self, v: Option<&Value>, at: &str, what: &str) -> Option<Text> {
        if v.is_none() {
            self.err(IssueType::Required, at, format!("{what} is required"));
            return None;
        }
        self.text(v, at)
    }

    fn date(&mut self, v: Option<&Value>, at: &str) -> Option<careplan_model::Date> {
        let s = self.str_at(v, at)?;
        match parse_date(s) {
            Ok(d) => Some(d),
            Err(e) => {
                self.err(IssueType::Value, at, capitalise(&e.0));
                None
            }
        }
    }

    /// Reads the extensions of an element: each must be one of `allowed` (our names, or
    /// [`PERTAINS`]); any other is refused by URL.
    fn extensions(&mut self, owner: &Value, at: &str, allowed: &[&'static str]) -> Exts {
        let mut out = Exts::new();
        let list = self.array(owner.get("extension"), &format!("{at}.extension"));
        for (i, x) in list.into_iter().enumerate() {
            let xat = format!("{at}.extension[{i}]");
            let Some(url) = x.get("url").and_then(Value::as_str) else {
                self.err(IssueType::Required, &xat, "An extension has no url");
                continue;
            };
            let found: Option<(&'static str, &'static str)> = if url == PERTAINS_TO_GOAL {
                Some((PERTAINS, "valueReference"))
            } else {
                url.strip_prefix(t::STRUCTURE_DEFINITION_BASE)
                    .and_then(t::extension)
                    .map(|d| (d.name, d.value.property()))
            };
            let Some((name, property)) = found.filter(|(n, _)| allowed.contains(n)) else {
                self.err(
                    IssueType::NotSupported,
                    &xat,
                    format!(
                        "The extension {url} is not one the care plan can hold here: it is refused rather than dropped"
                    ),
                );
                continue;
            };
            self.fields(x, &xat, &format!("The extension {url}"), &["url", property]);
            match x.get(property) {
                Some(v) => {
                    if out
                        .insert(name, (v.clone(), format!("{xat}.{property}")))
                        .is_some()
                        && !t::repeats(name)
                    {
                        self.err(
                            IssueType::NotSupported,
                            &xat,
                            format!("The extension {url} appears twice; the care plan holds one"),
                        );
                    }
                }
                None => self.err(
                    IssueType::Required,
                    &xat,
                    format!("The extension {url} needs a {property}"),
                ),
            }
        }
        out
    }

    fn ext_text(&mut self, exts: &Exts, name: &str) -> Option<Text> {
        let (v, at) = exts.get(name)?.clone();
        self.text(Some(&v), &at)
    }

    fn ext_one_to_ten(&mut self, exts: &Exts, name: &str) -> Option<i64> {
        let (v, at) = exts.get(name)?;
        match v.as_i64() {
            Some(n) if (1..=10).contains(&n) => Some(n),
            _ => {
                self.err(
                    IssueType::Value,
                    at.clone(),
                    format!("This must be a whole number from 1 to 10, not {v}"),
                );
                None
            }
        }
    }

    fn priority(&mut self, exts: &Exts) -> Option<Priority> {
        self.ext_one_to_ten(exts, ext::PRIORITY)
            .and_then(|n| Priority::new(n).ok())
    }

    /// The model value of a Coding in one of our code systems.
    fn our_coding<T: serde::de::DeserializeOwned>(
        &mut self,
        coding: &Value,
        at: &str,
        system: &str,
    ) -> Option<T> {
        self.fields(coding, at, "The coding", &["system", "code", "display"]);
        let url = t::code_system_url(system);
        if coding.get("system").and_then(Value::as_str) != Some(url.as_str()) {
            self.err(
                IssueType::Value,
                at,
                format!("This coding must be from {url}"),
            );
            return None;
        }
        let code = coding.get("code").and_then(Value::as_str).unwrap_or("");
        let value = t::parse_code::<T>(code);
        if value.is_none() {
            self.err(
                IssueType::Value,
                format!("{at}.code"),
                format!("“{code}” is not a code of {url}"),
            );
        }
        value
    }

    fn ext_coding<T: serde::de::DeserializeOwned>(
        &mut self,
        exts: &Exts,
        name: &str,
        system: &str,
    ) -> Option<T> {
        let (v, at) = exts.get(name)?.clone();
        self.our_coding(&v, &at, system)
    }

    /// The codes of a CodeableConcept: (system, code) of each coding. Keys other than
    /// `coding` and (when `text_ok`) `text` are refused.
    fn codings(&mut self, cc: &Value, at: &str, text_ok: bool) -> Vec<(String, String, usize)> {
        let allowed: &[&str] = if text_ok {
            &["coding", "text"]
        } else {
            &["coding"]
        };
        self.fields(cc, at, "The concept", allowed);
        let list = self.array(cc.get("coding"), &format!("{at}.coding"));
        let mut out = Vec::new();
        for (i, c) in list.into_iter().enumerate() {
            let cat = format!("{at}.coding[{i}]");
            self.fields(c, &cat, "The coding", &["system", "code", "display"]);
            let system = c.get("system").and_then(Value::as_str).unwrap_or("");
            let code = c.get("code").and_then(Value::as_str).unwrap_or("");
            out.push((system.to_owned(), code.to_owned(), i));
        }
        out
    }

    /// The code of a CodeableConcept that must have exactly one coding, from `system`.
    fn single_code(&mut self, cc: Option<&Value>, at: &str, system: &str) -> Option<String> {
        let cc = cc?;
        let codes = self.codings(cc, at, true);
        match codes.as_slice() {
            [(s, code, _)] if s == system => Some(code.clone()),
            _ => {
                self.err(
                    IssueType::NotSupported,
                    at,
                    format!("The care plan holds exactly one coding from {system} here"),
                );
                None
            }
        }
    }

    /// A Reference that must resolve to an entry of one of `kinds`.
    fn reference(&mut self, v: Option<&Value>, at: &str, kinds: &[&str]) -> Option<usize> {
        let v = v?;
        self.fields(v, at, "The reference", &["reference", "display", "type"]);
        let Some(r) = v.get("reference").and_then(Value::as_str) else {
            self.err(
                IssueType::Required,
                at,
                format!(
                    "This reference has no reference to a {} in the Bundle",
                    kinds.join(" or ")
                ),
            );
            return None;
        };
        match self.resolve(r) {
            Some(pos) if kinds.contains(&self.entries[pos].kind.as_str()) => Some(pos),
            Some(pos) => {
                let kind = self.entries[pos].kind.clone();
                self.err(
                    IssueType::Value,
                    at,
                    format!("{r} is a {kind}, not a {}", kinds.join(" or ")),
                );
                None
            }
            None => {
                self.err(
                    IssueType::NotFound,
                    at,
                    format!(
                        "{r} is not in the Bundle: every reference must name one of its entries"
                    ),
                );
                None
            }
        }
    }

    fn item_ref(&mut self, v: Option<&Value>, at: &str, kinds: &[&str]) -> Option<ItemId> {
        let pos = self.reference(v, at, kinds)?;
        self.item_ids.get(&pos).cloned()
    }

    /// The subject (or `for`, or `patient`) of a resource: the Bundle's Patient.
    fn subject(&mut self, e: &Entry, element: &str) {
        let at = format!("{}.{element}", e.path());
        match e.resource.get(element) {
            None => self.err(
                IssueType::Required,
                at,
                format!(
                    "{} has no {element}: it must be about the Patient",
                    e.name()
                ),
            ),
            Some(v) => {
                if let Some(pos) = self.reference(Some(v), &at, &["Patient"])
                    && Some(pos) != self.patient
                {
                    self.err(
                        IssueType::Value,
                        at,
                        "This must be the Bundle's Patient".to_owned(),
                    );
                }
            }
        }
    }

    fn status<'v>(&mut self, e: &'v Entry, element: &str) -> Option<&'v str> {
        let at = format!("{}.{element}", e.path());
        match e.resource.get(element).and_then(Value::as_str) {
            Some(s) => Some(s),
            None => {
                self.err(
                    IssueType::Required,
                    at,
                    format!("{} has no {element}", e.name()),
                );
                None
            }
        }
    }

    fn unsupported_status(&mut self, e: &Entry, element: &str, value: &str, use_instead: &str) {
        self.err(
            IssueType::NotSupported,
            format!("{}.{element}", e.path()),
            format!(
                "{} has {element} “{value}”, which the care plan has no counterpart for: use {use_instead}",
                e.name()
            ),
        );
    }

    /// Archiving from the `archived` extension (or a status that means it); adds the archive
    /// command with rank `rank` (actions 0, goals 1, others 2).
    fn archive_if(
        &mut self,
        exts: &Exts,
        archived_by_status: bool,
        id: &ItemId,
        rank: u8,
        at: &str,
    ) {
        if exts.contains_key(ext::ARCHIVED) || archived_by_status {
            let reason = self.ext_text(exts, ext::ARCHIVE_REASON);
            self.phases.archives.push((
                rank,
                Sourced {
                    command: Command::Archive {
                        id: id.clone(),
                        reason,
                    },
                    at: at.to_owned(),
                },
            ));
        } else if exts.contains_key(ext::ARCHIVE_REASON) {
            self.err(
                IssueType::Value,
                at,
                "An archive reason is given but the item is not archived",
            );
        }
    }

    /// The `note` of an item's resource, as comments on the item. `skip` leading notes are the
    /// resource's own text (a progress record's note, an outcome's description).
    fn notes(&mut self, owner: &Value, at: &str, target: Target, skip: usize) {
        let list = self.array(owner.get("note"), &format!("{at}.note"));
        for (i, note) in list.into_iter().enumerate().skip(skip) {
            self.comment(note, &format!("{at}.note[{i}]"), target.clone());
        }
    }

    fn comment(&mut self, note: &Value, at: &str, target: Target) {
        // Who wrote it and when are the import's (see `ImportPlan::notes`).
        self.fields(
            note,
            at,
            "The note",
            &["id", "extension", "authorString", "time", "text"],
        );
        let exts = self.extensions(
            note,
            at,
            &[
                ext::COMMENT_SECTION,
                ext::COMMENT_ON_ITEM,
                ext::ARCHIVED,
                ext::ARCHIVE_REASON,
            ],
        );
        let mut target = target;
        if matches!(target, Target::Plan) {
            if let Some(section) =
                self.ext_coding::<Section>(&exts, ext::COMMENT_SECTION, cs::PLAN_SECTION)
            {
                target = Target::Section { section };
            }
            if let Some(item) = self.ext_text(&exts, ext::COMMENT_ON_ITEM) {
                match ItemId::parse(item.as_str()) {
                    Ok(item) => target = Target::Item { item },
                    Err(e) => self.err(IssueType::Value, at, e.0),
                }
            }
        } else if exts.contains_key(ext::COMMENT_SECTION) || exts.contains_key(ext::COMMENT_ON_ITEM)
        {
            self.err(
                IssueType::NotSupported,
                at,
                "A note on an item is about that item: it cannot also name a section or another item",
            );
        }
        let text = self.required_text(note.get("text"), &format!("{at}.text"), "A note's text");
        let id = match note.get("id").and_then(Value::as_str) {
            Some(id) => match ItemId::parse(id) {
                Ok(i) => Some(i),
                Err(e) => {
                    self.err(IssueType::Value, format!("{at}.id"), e.0);
                    None
                }
            },
            None => {
                self.generated += 1;
                ItemId::parse(&format!("comment-import-{}", self.generated)).ok()
            }
        };
        let (Some(text), Some(id)) = (text, id) else {
            return;
        };
        self.archive_if(&exts, false, &id, 2, at);
        self.phases.comments.push(Sourced {
            command: Command::AddComment {
                id: Some(id),
                target,
                text,
            },
            at: at.to_owned(),
        });
    }

    // -----------------------------------------------------------------------------------------
    // Resources
    // -----------------------------------------------------------------------------------------

    fn patient_entry(&mut self, e: &Entry) {
        self.resource_fields(e, &["identifier", "name", "birthDate"]);
        let at = e.path();
        let r = &e.resource;
        if let Some(id) = r.get("id").and_then(Value::as_str) {
            match PersonId::parse(id) {
                Ok(p) => self.person_id = Some(p),
                Err(err) => self.err(IssueType::Value, format!("{at}.id"), err.0),
            }
        }
        let mut nhs_number = None;
        let mut other_identifiers = Vec::new();
        for (i, idf) in self
            .array(r.get("identifier"), &format!("{at}.identifier"))
            .into_iter()
            .enumerate()
        {
            let iat = format!("{at}.identifier[{i}]");
            self.fields(
                idf,
                &iat,
                "The identifier",
                &["system", "value", "assigner"],
            );
            let value = self.required_text(
                idf.get("value"),
                &format!("{iat}.value"),
                "An identifier's value",
            );
            let system = idf.get("system").and_then(Value::as_str);
            if system == Some(NHS_NUMBER) {
                if let Some(v) = value {
                    match NhsNumber::parse(v.as_str()) {
                        Ok(n) if nhs_number.is_none() => nhs_number = Some(n),
                        Ok(_) => self.err(
                            IssueType::NotSupported,
                            &iat,
                            "The Patient has two NHS numbers",
                        ),
                        Err(err) => self.err(IssueType::Value, format!("{iat}.value"), err.0),
                    }
                }
                continue;
            }
            let system = self.identifier_system(idf, &iat);
            if let (Some(system), Some(value)) = (system, value) {
                other_identifiers.push(Identifier { system, value });
            }
        }
        let mut official = None;
        let mut preferred = None;
        for (i, name) in self
            .array(r.get("name"), &format!("{at}.name"))
            .into_iter()
            .enumerate()
        {
            let nat = format!("{at}.name[{i}]");
            self.fields(name, &nat, "The name", &["use", "family", "given"]);
            let given: Vec<String> = self
                .array(name.get("given"), &format!("{nat}.given"))
                .into_iter()
                .filter_map(|g| g.as_str().map(str::to_owned))
                .collect();
            let given = self.text(
                Some(&Value::String(given.join(" "))),
                &format!("{nat}.given"),
            );
            match name.get("use").and_then(Value::as_str) {
                None | Some("official") if official.is_none() => {
                    let family = self.required_text(name.get("family"), &format!("{nat}.family"), "The family name");
                    official = Some((given, family));
                }
                Some("usual") if preferred.is_none() => preferred = given,
                other => self.err(
                    IssueType::NotSupported,
                    &nat,
                    format!(
                        "The care plan holds one official name and one preferred (usual) name; this {} name cannot be held",
                        other.unwrap_or("further")
                    ),
                ),
            }
        }
        let birth = match r.get("birthDate") {
            None => {
                self.err(
                    IssueType::Required,
                    format!("{at}.birthDate"),
                    "The Patient's date of birth is required",
                );
                None
            }
            v => self.date(v, &format!("{at}.birthDate")),
        };
        let Some((given, family)) = official else {
            self.err(
                IssueType::Required,
                format!("{at}.name"),
                "The Patient needs an official name with given and family names",
            );
            return;
        };
        if given.is_none() {
            self.err(
                IssueType::Required,
                format!("{at}.name"),
                "The Patient's given name is required",
            );
        }
        if let (Some(given_name), Some(family_name), Some(date_of_birth)) = (given, family, birth) {
            self.person = Some(Person {
                given_name,
                family_name,
                preferred_name: preferred,
                date_of_birth,
                nhs_number,
                other_identifiers,
            });
        }
    }

    /// An identifier's system: the URI, or the name of whoever assigned it.
    fn identifier_system(&mut self, idf: &Value, at: &str) -> Option<Text> {
        match (idf.get("system"), idf.get("assigner")) {
            (Some(s), None) => self.text(Some(s), &format!("{at}.system")),
            (None, Some(a)) => {
                self.fields(a, &format!("{at}.assigner"), "The assigner", &["display"]);
                self.required_text(
                    a.get("display"),
                    &format!("{at}.assigner.display"),
                    "The assigner's name",
                )
            }
            _ => {
                self.err(
                    IssueType::Required,
                    at,
                    "An identifier needs either a system or the name of its assigner (not both)",
                );
                None
            }
        }
    }

    fn care_plan_entry(&mut self, e: &Entry) {
        self.resource_fields(
            e,
            &[
                "extension",
                "status",
                "intent",
                "category",
                "subject",
                "careTeam",
                "addresses",
                "supportingInfo",
                "goal",
                "activity",
                "note",
            ],
        );
        let at = e.path();
        let r = &e.resource;
        if let Some(id) = r.get("id").and_then(Value::as_str) {
            match PlanId::parse(id) {
                Ok(p) => self.plan_id = Some(p),
                Err(err) => self.err(IssueType::Value, format!("{at}.id"), err.0),
            }
        }
        self.subject(e, "subject");
        let exts = self.extensions(
            r,
            &at,
            &[
                ext::FUNDING_SOURCE,
                ext::FUNDING_DETAILS_HELD_AT,
                ext::CAPACITY_STEPS,
                ext::RIGHTS_PROMOTION,
            ],
        );
        let steps = self.ext_text(&exts, ext::CAPACITY_STEPS);
        let rights = self.ext_text(&exts, ext::RIGHTS_PROMOTION);
        if steps.is_some() || rights.is_some() {
            self.phases.funding.push(Sourced {
                command: Command::SetCapacitySupport {
                    steps_to_maximise_capacity: steps,
                    rights_promotion: rights,
                },
                at: format!("{at}.extension"),
            });
        }
        let source: Option<FundingSourceKind> =
            self.ext_coding(&exts, ext::FUNDING_SOURCE, cs::FUNDING_SOURCE);
        let held_at = self.ext_text(&exts, ext::FUNDING_DETAILS_HELD_AT);
        match (source, held_at) {
            (Some(source), details_held_at) => self.phases.funding.push(Sourced {
                command: Command::SetFundingSource {
                    source,
                    details_held_at,
                },
                at: format!("{at}.extension"),
            }),
            (None, Some(_)) => self.err(
                IssueType::Required,
                format!("{at}.extension"),
                "Where funding details are held is given without the funding source",
            ),
            (None, None) => {}
        }
        if let Some(status) = self.status(e, "status") {
            let s = match status {
                "draft" => Some(PlanStatus::Draft),
                "active" => Some(PlanStatus::Active),
                "on-hold" => Some(PlanStatus::OnHold),
                "completed" => Some(PlanStatus::Completed),
                "revoked" => Some(PlanStatus::Revoked),
                other => {
                    self.unsupported_status(
                        e,
                        "status",
                        other,
                        "draft, active, on-hold, completed or revoked",
                    );
                    None
                }
            };
            if let Some(s) = s.filter(|s| *s != PlanStatus::Draft) {
                self.phases.plan.push(Sourced {
                    command: Command::SetPlanStatus { status: s },
                    at: format!("{at}.status"),
                });
            }
        }
        if r.get("intent").and_then(Value::as_str) != Some("plan") {
            self.err(
                IssueType::NotSupported,
                format!("{at}.intent"),
                "A care and support plan has intent “plan”",
            );
        }
        for (i, c) in self
            .array(r.get("category"), &format!("{at}.category"))
            .into_iter()
            .enumerate()
        {
            let cat = format!("{at}.category[{i}]");
            let codes = self.codings(c, &cat, true);
            if codes
                .iter()
                .any(|(s, code, _)| s != SNOMED || code != SCT_CARE_PLAN.0)
            {
                self.err(
                    IssueType::NotSupported,
                    cat,
                    "The care plan's only category is SNOMED CT 734163000 |Care plan|",
                );
            }
        }
        for (i, v) in self
            .array(r.get("careTeam"), &format!("{at}.careTeam"))
            .into_iter()
            .enumerate()
        {
            self.reference(Some(v), &format!("{at}.careTeam[{i}]"), &["CareTeam"]);
        }
        // These lists are derived from the items themselves; they must name entries of the Bundle.
        for (element, kinds) in [
            ("addresses", &["Condition"][..]),
            ("supportingInfo", &["Observation", "DocumentReference"][..]),
            ("goal", &["Goal"][..]),
        ] {
            for (i, v) in self
                .array(r.get(element), &format!("{at}.{element}"))
                .into_iter()
                .enumerate()
            {
                self.reference(Some(v), &format!("{at}.{element}[{i}]"), kinds);
            }
        }
        for (i, a) in self
            .array(r.get("activity"), &format!("{at}.activity"))
            .into_iter()
            .enumerate()
        {
            let aat = format!("{at}.activity[{i}]");
            self.fields(a, &aat, "The activity", &["id", "reference", "detail"]);
            match (a.get("reference"), a.get("detail")) {
                (Some(v), None) => {
                    self.reference(Some(v), &format!("{aat}.reference"), &["Task"]);
                }
                (None, Some(d)) => self.activity_detail(a, d, &aat, i),
                _ => self.err(
                    IssueType::Required,
                    aat,
                    "An activity has either a reference to a Task or a detail",
                ),
            }
        }
        self.notes(r, &at, Target::Plan, 0);
    }

    /// R4's inline `activity.detail`, accepted on input as an action.
    fn activity_detail(&mut self, activity: &Value, d: &Value, at: &str, i: usize) {
        let dat = format!("{at}.detail");
        self.fields(
            d,
            &dat,
            "The activity detail",
            &[
                "extension",
                "status",
                "description",
                "goal",
                "performer",
                "scheduledString",
            ],
        );
        let exts = self.extensions(d, &dat, &[ext::CONFIDENCE]);
        let confidence = self
            .ext_one_to_ten(&exts, ext::CONFIDENCE)
            .and_then(|n| Confidence::new(n).ok());
        let description = self.required_text(
            d.get("description"),
            &format!("{dat}.description"),
            "An activity's description",
        );
        let goals = self.array(d.get("goal"), &format!("{dat}.goal"));
        let goal = match goals.as_slice() {
            [one] => self.item_ref(Some(one), &format!("{dat}.goal[0]"), &["Goal"]),
            _ => {
                self.err(
                    IssueType::Required,
                    format!("{dat}.goal"),
                    "An activity pertains to exactly one goal in the care plan",
                );
                None
            }
        };
        let status = match d.get("status").and_then(Value::as_str) {
            Some("not-started" | "scheduled") => Some(ActionStatus::NotStarted),
            Some("in-progress") => Some(ActionStatus::InProgress),
            Some("on-hold") => Some(ActionStatus::OnHold),
            Some("completed") => Some(ActionStatus::Completed),
            Some("cancelled") => Some(ActionStatus::Cancelled),
            Some(other) => {
                self.err(IssueType::NotSupported, format!("{dat}.status"), format!("The activity status “{other}” has no counterpart in the care plan: use not-started, scheduled, in-progress, on-hold, completed or cancelled"));
                None
            }
            None => {
                self.err(
                    IssueType::Required,
                    format!("{dat}.status"),
                    "An activity's status is required",
                );
                None
            }
        };
        let performers = self.array(d.get("performer"), &format!("{dat}.performer"));
        let performer = match performers.as_slice() {
            [] => Some(Performer {
                kind: PerformerKind::Other,
                name: None,
                organisation: None,
            }),
            [p] => {
                let pat = format!("{dat}.performer[0]");
                self.fields(p, &pat, "The performer", &["type", "display"]);
                let ty = p.get("type").and_then(Value::as_str);
                let kind = kind_from_resource_type(ty);
                let display = self.text(p.get("display"), &format!("{pat}.display"));
                Some(if ty == Some("Organization") {
                    Performer {
                        kind,
                        name: None,
                        organisation: display,
                    }
                } else {
                    Performer {
                        kind,
                        name: display,
                        organisation: None,
                    }
                })
            }
            _ => {
                self.err(
                    IssueType::NotSupported,
                    format!("{dat}.performer"),
                    "The care plan holds one performer per action",
                );
                None
            }
        };
        let timing = self.text(d.get("scheduledString"), &format!("{dat}.scheduledString"));
        let id = match activity.get("id").and_then(Value::as_str) {
            Some(id) => ItemId::parse(id)
                .map_err(|e| self.err(IssueType::Value, format!("{at}.id"), e.0))
                .ok(),
            None => ItemId::parse(&format!("action-activity-{i}")).ok(),
        };
        if let (Some(id), Some(goal), Some(description), Some(status), Some(performer)) =
            (id, goal, description, status, performer)
        {
            self.phases.actions.push(Sourced {
                command: Command::AddAction {
                    id: Some(id),
                    goal,
                    description,
                    performer,
                    timing,
                    status: Some(status),
                    confidence,
                },
                at: at.to_owned(),
            });
        }
    }

    fn care_team(&mut self, e: &Entry) {
        self.resource_fields(e, &["status", "subject", "participant"]);
        self.subject(e, "subject");
        let at = e.path();
        if let Some(status) = e.resource.get("status").and_then(Value::as_str)
            && status != "active"
        {
            self.unsupported_status(e, "status", status, "active");
        }
        for (i, p) in self
            .array(e.resource.get("participant"), &format!("{at}.participant"))
            .into_iter()
            .enumerate()
        {
            let pat = format!("{at}.participant[{i}]");
            self.fields(
                p,
                &pat,
                "The participant",
                &["id", "extension", "role", "member", "onBehalfOf"],
            );
            let exts = self.extensions(p, &pat, &[ext::ARCHIVED, ext::ARCHIVE_REASON]);
            let roles = self.array(p.get("role"), &format!("{pat}.role"));
            let role = match roles.as_slice() {
                [r] => {
                    self.fields(r, &format!("{pat}.role[0]"), "The role", &["text"]);
                    self.required_text(
                        r.get("text"),
                        &format!("{pat}.role[0].text"),
                        "A care team member's role",
                    )
                }
                _ => {
                    self.err(
                        IssueType::Required,
                        format!("{pat}.role"),
                        "A care team member has one role, in words",
                    );
                    None
                }
            };
            let name = match p.get("member") {
                Some(m) => {
                    self.fields(m, &format!("{pat}.member"), "The member", &["display"]);
                    self.required_text(
                        m.get("display"),
                        &format!("{pat}.member.display"),
                        "A care team member's name",
                    )
                }
                None => {
                    self.err(
                        IssueType::Required,
                        format!("{pat}.member"),
                        "A care team member needs a name",
                    );
                    None
                }
            };
            let organisation = match p.get("onBehalfOf") {
                Some(o) => {
                    self.fields(
                        o,
                        &format!("{pat}.onBehalfOf"),
                        "The organisation",
                        &["display"],
                    );
                    self.text(o.get("display"), &format!("{pat}.onBehalfOf.display"))
                }
                None => None,
            };
            let id = match p.get("id").and_then(Value::as_str) {
                Some(id) => ItemId::parse(id)
                    .map_err(|err| self.err(IssueType::Value, format!("{pat}.id"), err.0))
                    .ok(),
                None => {
                    self.generated += 1;
                    ItemId::parse(&format!("member-import-{}", self.generated)).ok()
                }
            };
            if let (Some(id), Some(name), Some(role)) = (id, name, role) {
                self.archive_if(&exts, false, &id, 2, &pat);
                self.phases.team.push(Sourced {
                    command: Command::AddCareTeamMember {
                        id: Some(id),
                        name,
                        role,
                        organisation,
                        account: None,
                    },
                    at: pat,
                });
            }
        }
    }

    fn condition(&mut self, pos: usize, e: &Entry) {
        self.resource_fields(
            e,
            &[
                "extension",
                "clinicalStatus",
                "category",
                "code",
                "subject",
                "asserter",
                "identifier",
                "note",
            ],
        );
        self.subject(e, "subject");
        let at = e.path();
        let r = &e.resource;
        let Some(id) = self.item_ids.get(&pos).cloned() else {
            return;
        };
        let exts = self.extensions(r, &at, &[ext::PRIORITY, ext::ARCHIVED, ext::ARCHIVE_REASON]);
        let importance = self.priority(&exts);
        let archived = match self
            .single_code(
                r.get("clinicalStatus"),
                &format!("{at}.clinicalStatus"),
                CONDITION_CLINICAL,
            )
            .as_deref()
        {
            Some("active") => false,
            Some("inactive" | "resolved") => true,
            Some(other) => {
                self.unsupported_status(e, "clinicalStatus", other, "active, inactive or resolved");
                false
            }
            None => {
                if r.get("clinicalStatus").is_none() {
                    self.err(
                        IssueType::Required,
                        format!("{at}.clinicalStatus"),
                        format!("{} has no clinicalStatus", e.name()),
                    );
                }
                false
            }
        };
        // Which kind: from the categories.
        let mut kind = None;
        let mut domain = None;
        let need_system = t::code_system_url(cs::CONDITION_KIND);
        let domain_system = t::code_system_url(cs::CONCERN_DOMAIN);
        for (i, c) in self
            .array(r.get("category"), &format!("{at}.category"))
            .into_iter()
            .enumerate()
        {
            let cat = format!("{at}.category[{i}]");
            for (system, code, j) in self.codings(c, &cat, true) {
                let found = match (system.as_str(), code.as_str()) {
                    (CONDITION_CATEGORY, "problem-list-item") => Some("problem"),
                    (CONDITION_CATEGORY, "health-concern") => Some("concern"),
                    (s, "assessed-need") if s == need_system => Some("need"),
                    (s, code) if s == domain_system => {
                        domain = t::parse_code::<ConcernDomain>(code);
                        if domain.is_none() {
                            self.err(
                                IssueType::Value,
                                format!("{cat}.coding[{j}]"),
                                format!("“{code}” is not a concern domain"),
                            );
                        }
                        None
                    }
                    _ => {
                        self.err(IssueType::NotSupported, format!("{cat}.coding[{j}]"), format!("The category {system}|{code} has no counterpart in the care plan, which has needs, concerns and problems"));
                        None
                    }
                };
                if let Some(k) = found {
                    if kind.is_some() {
                        self.err(
                            IssueType::NotSupported,
                            &cat,
                            "A Condition is one of need, concern or problem, not several",
                        );
                    }
                    kind = Some(k);
                }
            }
        }
        let Some(kind) = kind else {
            self.err(IssueType::Required, format!("{at}.category"), format!("{} does not say whether it is a need ({need_system}|assessed-need), a concern (health-concern) or a problem (problem-list-item)", e.name()));
            return;
        };
        if domain.is_some() && kind != "concern" {
            self.err(
                IssueType::NotSupported,
                format!("{at}.category"),
                "Only a concern has a domain",
            );
        }
        // What: the code's text (or the SNOMED CT display of a problem with no text).
        let code = r.get("code");
        let mut snomed = None;
        let mut description = None;
        match code {
            None => self.err(
                IssueType::Required,
                format!("{at}.code"),
                format!(
                    "{} has no code: its description goes in code.text",
                    e.name()
                ),
            ),
            Some(cc) => {
                let cat = format!("{at}.code");
                for (system, c, j) in self.codings(cc, &cat, true) {
                    let coding = &cc["coding"][j];
                    if system == SNOMED && kind == "problem" && snomed.is_none() {
                        let display = self.required_text(
                            coding.get("display"),
                            &format!("{cat}.coding[{j}].display"),
                            "A SNOMED CT code's display",
                        );
                        match (SctId::parse(&c), display) {
                            (Ok(code), Some(display)) => {
                                snomed = Some(SnomedConcept { code, display })
                            }
                            (Err(err), _) => {
                                self.err(IssueType::Value, format!("{cat}.coding[{j}].code"), err.0)
                            }
                            _ => {}
                        }
                    } else {
                        self.err(IssueType::NotSupported, format!("{cat}.coding[{j}]"), format!("The care plan holds one SNOMED CT code, for a problem only; {system}|{c} cannot be held"));
                    }
                }
                description = match cc.get("text") {
                    Some(t) => self.text(Some(t), &format!("{cat}.text")),
                    None => snomed.as_ref().map(|s| s.display.clone()),
                };
                if description.is_none() && cc.get("text").is_none() {
                    self.err(
                        IssueType::Required,
                        format!("{cat}.text"),
                        format!("{} needs a description in code.text", e.name()),
                    );
                }
            }
        }
        let raised_by = match r.get("asserter") {
            None => None,
            Some(a) => {
                let aat = format!("{at}.asserter");
                self.fields(a, &aat, "The asserter", &["reference", "type", "display"]);
                let ty = match a.get("reference").and_then(Value::as_str) {
                    Some(_) => self
                        .reference(Some(a), &aat, &["Patient"])
                        .map(|_| "Patient"),
                    None => a.get("type").and_then(Value::as_str),
                };
                match ty {
                    Some("Patient") => Some(RaisedBy::Person),
                    Some("RelatedPerson") => Some(RaisedBy::Carer),
                    Some("Practitioner" | "PractitionerRole") => Some(RaisedBy::Professional),
                    _ => {
                        self.err(
                            IssueType::Value,
                            aat,
                            "The asserter's type must be Patient, RelatedPerson or Practitioner",
                        );
                        None
                    }
                }
            }
        };
        let identifiers = self.array(r.get("identifier"), &format!("{at}.identifier"));
        let external_reference = match identifiers.as_slice() {
            [] => None,
            [idf] if kind == "problem" => {
                let iat = format!("{at}.identifier[0]");
                self.fields(
                    idf,
                    &iat,
                    "The identifier",
                    &["system", "value", "assigner"],
                );
                let system = self.identifier_system(idf, &iat);
                let value = self.required_text(
                    idf.get("value"),
                    &format!("{iat}.value"),
                    "The identifier's value",
                );
                system
                    .zip(value)
                    .map(|(system, value)| ExternalReference { system, value })
            }
            _ => {
                self.err(IssueType::NotSupported, format!("{at}.identifier"), "Only a problem holds an identifier, and only one: the entry it links to in a problem list");
                None
            }
        };
        self.archive_if(&exts, archived, &id, 2, &at);
        self.notes(r, &at, Target::Item { item: id.clone() }, 0);
        let Some(description) = description else {
            return;
        };
        let command = match kind {
            "need" => Command::AddNeed {
                id: Some(id),
                description,
                identified_by: raised_by,
                importance,
            },
            "concern" => {
                let (Some(raised_by), Some(domain)) = (raised_by, domain) else {
                    self.err(IssueType::Required, &at, format!("{} is a concern: say whose concern it is (asserter) and its domain ({domain_system})", e.name()));
                    return;
                };
                Command::AddConcern {
                    id: Some(id),
                    description,
                    raised_by,
                    domain,
                    importance,
                }
            }
            _ => {
                if raised_by.is_some() {
                    self.err(
                        IssueType::NotSupported,
                        format!("{at}.asserter"),
                        "The care plan does not record who raised a problem",
                    );
                }
                Command::AddProblem {
                    id: Some(id),
                    description,
                    code: snomed,
                    external_reference,
                    importance,
                }
            }
        };
        self.phases.content.push(Sourced { command, at });
    }

    fn goal_order_list(&mut self, pos: usize) {
        let e = self.entries[pos].clone();
        self.resource_fields(
            &e,
            &["status", "mode", "title", "subject", "orderedBy", "entry"],
        );
        self.subject(&e, "subject");
        let at = e.path();
        let entries = self.array(e.resource.get("entry"), &format!("{at}.entry"));
        for (i, item) in entries.into_iter().enumerate() {
            let iat = format!("{at}.entry[{i}]");
            self.fields(item, &iat, "The list entry", &["item"]);
            if let Some(goal) = self.reference(item.get("item"), &format!("{iat}.item"), &["Goal"])
            {
                self.goal_order.push(goal);
            }
        }
    }

    fn goal(&mut self, pos: usize, e: &Entry) {
        self.resource_fields(
            e,
            &[
                "extension",
                "lifecycleStatus",
                "achievementStatus",
                "category",
                "priority",
                "description",
                "subject",
                "target",
                "addresses",
                "note",
                "outcomeReference",
            ],
        );
        self.subject(e, "subject");
        let at = e.path();
        let r = &e.resource;
        let Some(id) = self.item_ids.get(&pos).cloned() else {
            return;
        };
        let exts = self.extensions(
            r,
            &at,
            &[
                ext::PRIORITY,
                ext::WHY_IT_MATTERS,
                ext::ARCHIVED,
                ext::ARCHIVE_REASON,
            ],
        );
        let priority = self.priority(&exts);
        let why_it_matters = self.ext_text(&exts, ext::WHY_IT_MATTERS);
        // Goal.priority is derived from our 1–10 priority; alone it says too little to keep.
        let derived = self.single_code(r.get("priority"), &format!("{at}.priority"), GOAL_PRIORITY);
        match (&derived, priority) {
            (Some(code), Some(p)) if code != goal_priority_code(p.get()).0 => self.err(
                IssueType::Value,
                format!("{at}.priority"),
                format!("Goal.priority “{code}” does not match the priority {p} in the extension"),
            ),
            (Some(_), None) => self.err(
                IssueType::NotSupported,
                format!("{at}.priority"),
                format!("The care plan holds a goal's priority as a number from 1 to 10: give it with the extension {}", t::extension_url(ext::PRIORITY)),
            ),
            _ => {}
        }
        let achievement = self.single_code(
            r.get("achievementStatus"),
            &format!("{at}.achievementStatus"),
            GOAL_ACHIEVEMENT,
        );
        let status = match (self.status(e, "lifecycleStatus"), achievement.as_deref()) {
            (Some("proposed"), None) => Some(GoalStatus::Proposed),
            (Some("active"), None | Some("in-progress")) => Some(GoalStatus::Active),
            (Some("on-hold"), None | Some("in-progress")) => Some(GoalStatus::OnHold),
            (Some("completed"), Some("achieved" | "sustaining")) => Some(GoalStatus::Achieved),
            (Some("completed"), Some("not-achieved" | "not-attainable")) => {
                Some(GoalStatus::NotAchieved)
            }
            (Some("cancelled"), None) => Some(GoalStatus::Cancelled),
            (Some(life), ach) => {
                let value = match ach {
                    Some(a) => format!("{life} with achievementStatus {a}"),
                    None => life.to_owned(),
                };
                self.unsupported_status(e, "lifecycleStatus", &value, "proposed, active, on-hold, cancelled, or completed with achievementStatus achieved or not-achieved");
                None
            }
            (None, _) => None,
        };
        let mut label = GoalLabel::Goal;
        let categories = self.array(r.get("category"), &format!("{at}.category"));
        match categories.as_slice() {
            [] => {}
            [c] => {
                let cat = format!("{at}.category[0]");
                self.fields(c, &cat, "The category", &["coding", "text"]);
                let codings = self.array(c.get("coding"), &format!("{cat}.coding"));
                match codings.as_slice() {
                    [coding] => {
                        if let Some(l) =
                            self.our_coding(coding, &format!("{cat}.coding[0]"), cs::GOAL_LABEL)
                        {
                            label = l;
                        }
                    }
                    _ => self.err(
                        IssueType::NotSupported,
                        cat,
                        format!(
                            "A goal's category is one coding from {}",
                            t::code_system_url(cs::GOAL_LABEL)
                        ),
                    ),
                }
            }
            _ => self.err(
                IssueType::NotSupported,
                format!("{at}.category"),
                "A goal has one category: goal or hope",
            ),
        }
        let description = match r.get("description") {
            Some(d) => {
                self.fields(
                    d,
                    &format!("{at}.description"),
                    "The description",
                    &["text"],
                );
                self.required_text(
                    d.get("text"),
                    &format!("{at}.description.text"),
                    "A goal's description",
                )
            }
            None => {
                self.err(
                    IssueType::Required,
                    format!("{at}.description"),
                    format!("{} has no description", e.name()),
                );
                None
            }
        };
        let targets = self.array(r.get("target"), &format!("{at}.target"));
        let target_date = match targets.as_slice() {
            [] => None,
            [target] => {
                self.fields(
                    target,
                    &format!("{at}.target[0]"),
                    "The target",
                    &["dueDate"],
                );
                self.date(target.get("dueDate"), &format!("{at}.target[0].dueDate"))
            }
            _ => {
                self.err(
                    IssueType::NotSupported,
                    format!("{at}.target"),
                    "The care plan holds one target date per goal",
                );
                None
            }
        };
        let mut addresses = Vec::new();
        for (i, a) in self
            .array(r.get("addresses"), &format!("{at}.addresses"))
            .into_iter()
            .enumerate()
        {
            if let Some(n) = self.item_ref(Some(a), &format!("{at}.addresses[{i}]"), &["Condition"])
            {
                addresses.push(n);
            }
        }
        for (i, o) in self
            .array(r.get("outcomeReference"), &format!("{at}.outcomeReference"))
            .into_iter()
            .enumerate()
        {
            self.reference(
                Some(o),
                &format!("{at}.outcomeReference[{i}]"),
                &["Observation"],
            );
        }
        // The strengths a goal draws on are the strength Observations whose focus is this goal.
        let mut strengths = Vec::new();
        for (p, other) in self.entries.iter().enumerate() {
            if other.kind != "Observation" || !is_strength(&other.resource) {
                continue;
            }
            let focuses_here = other
                .resource
                .get("focus")
                .and_then(Value::as_array)
                .is_some_and(|f| {
                    f.iter()
                        .filter_map(|x| x.get("reference").and_then(Value::as_str))
                        .any(|x| self.resolve(x) == Some(pos))
                });
            if focuses_here && let Some(sid) = self.item_ids.get(&p) {
                strengths.push(sid.clone());
            }
        }
        self.archive_if(&exts, false, &id, 1, &at);
        let archived = exts.contains_key(ext::ARCHIVED);
        self.notes(r, &at, Target::Item { item: id.clone() }, 0);
        if let (Some(description), Some(status)) = (description, status) {
            self.phases.goals.push((
                pos,
                Sourced {
                    command: Command::AddGoal {
                        id: Some(id),
                        label,
                        description,
                        why_it_matters,
                        priority,
                        status: Some(status),
                        target_date,
                        addresses,
                        strengths,
                    },
                    at,
                },
                archived,
            ));
        }
    }

    fn task(&mut self, pos: usize, e: &Entry) {
        if e.resource.get("intent").and_then(Value::as_str) == Some("proposal") {
            return self.suggestion_task(pos, e);
        }
        let review = t::code_system_url(cs::TASK_KIND);
        let is_review = e
            .resource
            .pointer("/code/coding/0/system")
            .and_then(Value::as_str)
            == Some(review.as_str());
        if is_review {
            return self.review_task(e);
        }
        self.resource_fields(
            e,
            &[
                "extension",
                "basedOn",
                "status",
                "intent",
                "description",
                "for",
                "performerType",
                "owner",
                "note",
            ],
        );
        self.subject(e, "for");
        let at = e.path();
        let r = &e.resource;
        let Some(id) = self.item_ids.get(&pos).cloned() else {
            return;
        };
        let exts = self.extensions(
            r,
            &at,
            &[
                PERTAINS,
                ext::CONFIDENCE,
                ext::ACTION_TIMING,
                ext::PERFORMER_ORGANISATION,
                ext::ARCHIVED,
                ext::ARCHIVE_REASON,
            ],
        );
        for (i, b) in self
            .array(r.get("basedOn"), &format!("{at}.basedOn"))
            .into_iter()
            .enumerate()
        {
            self.reference(Some(b), &format!("{at}.basedOn[{i}]"), &["CarePlan"]);
        }
        let goal = match exts.get(PERTAINS).cloned() {
            Some((v, vat)) => self.item_ref(Some(&v), &vat, &["Goal"]),
            None => {
                self.err(IssueType::Required, format!("{at}.extension"), format!("{} does not say which goal it works towards: use the extension {PERTAINS_TO_GOAL}", e.name()));
                None
            }
        };
        let confidence = self
            .ext_one_to_ten(&exts, ext::CONFIDENCE)
            .and_then(|n| Confidence::new(n).ok());
        let timing = self.ext_text(&exts, ext::ACTION_TIMING);
        let status = match self.status(e, "status") {
            Some(s) if action_status(s).is_some() => action_status(s),
            Some(other) => {
                self.unsupported_status(e, "status", other, "ready, requested, received, accepted, in-progress, on-hold, completed or cancelled");
                None
            }
            None => None,
        };
        match r.get("intent").and_then(Value::as_str) {
            Some("plan" | "order") => {}
            other => self.err(
                IssueType::NotSupported,
                format!("{at}.intent"),
                format!("An action of the plan has intent “plan”, not “{}” (a suggested change to an action has intent “proposal”)", other.unwrap_or("")),
            ),
        }
        let description = self.required_text(
            r.get("description"),
            &format!("{at}.description"),
            "An action's description",
        );
        let owner = r.get("owner");
        let owner_type = owner.and_then(|o| o.get("type")).and_then(Value::as_str);
        let kinds = self.array(r.get("performerType"), &format!("{at}.performerType"));
        let kind = match kinds.as_slice() {
            [] => Some(kind_from_resource_type(owner_type)),
            [k] => {
                let kat = format!("{at}.performerType[0]");
                self.fields(k, &kat, "The performer type", &["coding", "text"]);
                let codings = self.array(k.get("coding"), &format!("{kat}.coding"));
                match codings.as_slice() {
                    [c] => self.our_coding::<PerformerKind>(
                        c,
                        &format!("{kat}.coding[0]"),
                        cs::PERFORMER_KIND,
                    ),
                    _ => {
                        self.err(
                            IssueType::NotSupported,
                            kat,
                            format!(
                                "The performer type is one coding from {}",
                                t::code_system_url(cs::PERFORMER_KIND)
                            ),
                        );
                        None
                    }
                }
            }
            _ => {
                self.err(
                    IssueType::NotSupported,
                    format!("{at}.performerType"),
                    "The care plan holds one performer type per action",
                );
                None
            }
        };
        let owner_name = match owner {
            Some(o) => {
                let oat = format!("{at}.owner");
                self.fields(o, &oat, "The owner", &["type", "display"]);
                self.required_text(
                    o.get("display"),
                    &format!("{oat}.display"),
                    "The owner's name",
                )
            }
            None => None,
        };
        let org_ext = self.ext_text(&exts, ext::PERFORMER_ORGANISATION);
        let (name, organisation) = match (owner_name, org_ext) {
            (Some(name), Some(org)) => (Some(name), Some(org)),
            (None, Some(_)) => {
                self.err(
                    IssueType::Required,
                    format!("{at}.owner"),
                    "The performer's organisation is given without the performer",
                );
                (None, None)
            }
            (Some(org), None) if owner_type == Some("Organization") => (None, Some(org)),
            (name, None) => (name, None),
        };
        self.archive_if(&exts, false, &id, 0, &at);
        self.notes(r, &at, Target::Item { item: id.clone() }, 0);
        if let (Some(goal), Some(description), Some(status), Some(kind)) =
            (goal, description, status, kind)
        {
            self.phases.actions.push(Sourced {
                command: Command::AddAction {
                    id: Some(id),
                    goal,
                    description,
                    performer: Performer {
                        kind,
                        name,
                        organisation,
                    },
                    timing,
                    status: Some(status),
                    confidence,
                },
                at,
            });
        }
    }

    /// CSP-8: a suggested change to an action (`Task` with intent `proposal`, `focus` → the
    /// action's Task, one `input` per proposed change). `requested` is open, `completed`
    /// accepted, `rejected` declined (with `statusReason` as the reason).
    fn suggestion_task(&mut self, pos: usize, e: &Entry) {
        self.resource_fields(
            e,
            &[
                "extension",
                "basedOn",
                "status",
                "statusReason",
                "intent",
                "code",
                "focus",
                "for",
                "input",
                "note",
            ],
        );
        self.subject(e, "for");
        let at = e.path();
        let r = &e.resource;
        let Some(id) = self.item_ids.get(&pos).cloned() else {
            return;
        };
        let exts = self.extensions(r, &at, &[ext::ARCHIVED, ext::ARCHIVE_REASON]);
        for (i, b) in self
            .array(r.get("basedOn"), &format!("{at}.basedOn"))
            .into_iter()
            .enumerate()
        {
            self.reference(Some(b), &format!("{at}.basedOn[{i}]"), &["CarePlan"]);
        }
        if let Some(code) = self.single_code(
            r.get("code"),
            &format!("{at}.code"),
            &t::code_system_url(cs::TASK_KIND),
        ) && code != "action-change"
        {
            self.err(
                IssueType::NotSupported,
                format!("{at}.code"),
                "A proposal Task of the plan suggests a change to an action (code action-change)",
            );
        }
        let action = match r.get("focus") {
            Some(f) => self.item_ref(Some(f), &format!("{at}.focus"), &["Task"]),
            None => {
                self.err(
                    IssueType::Required,
                    format!("{at}.focus"),
                    "A suggested change names the action it would change (focus)",
                );
                None
            }
        };
        let changes = self.action_changes(r, &at);
        let reason = match r.get("statusReason") {
            Some(v) => {
                let rat = format!("{at}.statusReason");
                self.fields(v, &rat, "The status reason", &["text"]);
                self.text(v.get("text"), &format!("{rat}.text"))
            }
            None => None,
        };
        let decided = match self.status(e, "status") {
            Some("requested") => None,
            Some("completed") => Some(Command::AcceptSuggestion { id: id.clone() }),
            Some("rejected") => Some(Command::DeclineSuggestion {
                id: id.clone(),
                reason: reason.clone(),
            }),
            Some(other) => {
                self.unsupported_status(
                    e,
                    "status",
                    other,
                    "requested (open), completed (accepted) or rejected (declined)",
                );
                None
            }
            None => None,
        };
        if reason.is_some() && !matches!(decided, Some(Command::DeclineSuggestion { .. })) {
            self.err(
                IssueType::NotSupported,
                format!("{at}.statusReason"),
                "Only a declined (rejected) suggestion has a reason",
            );
        }
        // The first note without an id is the suggester's own; the rest are comments.
        let (note, skip) = self.own_note(r, &at);
        self.archive_if(&exts, false, &id, 2, &at);
        self.notes(r, &at, Target::Item { item: id.clone() }, skip);
        if let (Some(action), Some(changes)) = (action, changes) {
            let suggest = Sourced {
                command: Command::SuggestActionChange {
                    id: Some(id),
                    action,
                    changes,
                    note,
                },
                at: at.clone(),
            };
            let decided = decided.map(|command| Sourced { command, at });
            self.phases.suggestions.push((suggest, decided));
        }
    }

    /// The changes a suggestion proposes, from its `input`s (each typed from our
    /// `action-change` CodeSystem, at most once).
    fn action_changes(&mut self, r: &Value, at: &str) -> Option<ActionChanges> {
        let mut c = ActionChanges::default();
        let mut performer: (Option<PerformerKind>, Option<Text>, Option<Text>) = (None, None, None);
        let mut seen: Vec<String> = Vec::new();
        let mut ok = true;
        let inputs = self.array(r.get("input"), &format!("{at}.input"));
        for (i, input) in inputs.iter().enumerate() {
            let iat = format!("{at}.input[{i}]");
            let Some(code) = self.single_code(
                input.get("type"),
                &format!("{iat}.type"),
                &t::code_system_url(cs::ACTION_CHANGE),
            ) else {
                if input.get("type").is_none() {
                    self.err(
                        IssueType::Required,
                        format!("{iat}.type"),
                        "Each input says what it changes (type)",
                    );
                }
                ok = false;
                continue;
            };
            if seen.contains(&code) {
                self.err(
                    IssueType::NotSupported,
                    &iat,
                    format!("The change “{code}” is given twice"),
                );
                ok = false;
                continue;
            }
            seen.push(code.clone());
            let property = match code.as_str() {
                "goal" => "valueReference",
                "performer-kind" => "valueCoding",
                "status" => "valueCode",
                "confidence" => "valueInteger",
                "timing-removed" | "confidence-removed" => "valueBoolean",
                _ => "valueString",
            };
            self.fields(input, &iat, "The input", &["type", property]);
            let vat = format!("{iat}.{property}");
            let Some(v) = input.get(property) else {
                self.err(
                    IssueType::Required,
                    &vat,
                    format!("The change “{code}” needs its {property}"),
                );
                ok = false;
                continue;
            };
            let before = self.issues.len();
            match code.as_str() {
                "goal" => c.goal = self.item_ref(Some(v), &vat, &["Goal"]),
                "description" => c.description = self.text(Some(v), &vat),
                "performer-kind" => performer.0 = self.our_coding::<PerformerKind>(v, &vat, cs::PERFORMER_KIND),
                "performer-name" => performer.1 = self.text(Some(v), &vat),
                "performer-organisation" => performer.2 = self.text(Some(v), &vat),
                "timing" => {
                    if let Some(t) = self.text(Some(v), &vat) {
                        c.timing = Change::Set(t);
                    }
                }
                "status" => match v.as_str() {
                    Some(s) => match action_status(s) {
                        Some(status) => c.status = Some(status),
                        None => self.err(IssueType::Value, &vat, format!("“{s}” is not the Task.status of an action: use ready, in-progress, on-hold, completed or cancelled")),
                    },
                    None => self.err(IssueType::Value, &vat, "A status is a code"),
                },
                "confidence" => match v.as_i64().map(Confidence::new) {
                    Some(Ok(n)) => c.confidence = Change::Set(n),
                    Some(Err(err)) => self.err(IssueType::Value, &vat, capitalise(&err.0)),
                    None => self.err(IssueType::Value, &vat, "Confidence is a whole number from 1 to 10"),
                },
                "timing-removed" | "confidence-removed" => {
                    if v.as_bool() != Some(true) {
                        self.err(IssueType::Value, &vat, format!("“{code}” is given as true, or left out"));
                    } else if code == "timing-removed" {
                        c.timing = Change::Clear;
                    } else {
                        c.confidence = Change::Clear;
                    }
                }
                _ => {}
            }
            ok &= self.issues.len() == before;
        }
        if seen.iter().any(|c| c == "timing") && seen.iter().any(|c| c == "timing-removed")
            || seen.iter().any(|c| c == "confidence")
                && seen.iter().any(|c| c == "confidence-removed")
        {
            self.err(
                IssueType::Value,
                format!("{at}.input"),
                "A suggestion cannot both set and remove the same thing",
            );
            ok = false;
        }
        match performer {
            (Some(kind), name, organisation) => {
                c.performer = Some(Performer {
                    kind,
                    name,
                    organisation,
                });
            }
            (None, None, None) => {}
            (None, ..) => {
                self.err(IssueType::Required, format!("{at}.input"), "A suggested performer needs its kind (performer-kind) as well as a name or organisation");
                ok = false;
            }
        }
        if ok && c.is_empty() {
            self.err(
                IssueType::Required,
                format!("{at}.input"),
                "A suggestion proposes at least one change (input)",
            );
            ok = false;
        }
        ok.then_some(c)
    }

    fn review_task(&mut self, e: &Entry) {
        self.resource_fields(
            e,
            &["status", "intent", "code", "focus", "for", "restriction"],
        );
        self.subject(e, "for");
        let at = e.path();
        let r = &e.resource;
        self.single_code(
            r.get("code"),
            &format!("{at}.code"),
            &t::code_system_url(cs::TASK_KIND),
        );
        self.reference(r.get("focus"), &format!("{at}.focus"), &["CarePlan"]);
        let date = match r.get("restriction") {
            Some(restriction) => {
                self.fields(
                    restriction,
                    &format!("{at}.restriction"),
                    "The restriction",
                    &["period"],
                );
                match restriction.get("period") {
                    Some(p) => {
                        self.fields(
                            p,
                            &format!("{at}.restriction.period"),
                            "The period",
                            &["end"],
                        );
                        self.date(p.get("end"), &format!("{at}.restriction.period.end"))
                    }
                    None => None,
                }
            }
            None => None,
        };
        match date {
            Some(d) => self.phases.plan.push(Sourced {
                command: Command::SetReviewDate {
                    review_date: Some(d),
                },
                at,
            }),
            None => self.err(
                IssueType::Required,
                format!("{at}.restriction.period.end"),
                "The plan review task needs the review date in restriction.period.end",
            ),
        }
    }

    fn observation(&mut self, pos: usize, e: &Entry) {
        let at = e.path();
        let r = &e.resource;
        let system = t::code_system_url(cs::OBSERVATION_KIND);
        let code = self.single_code(r.get("code"), &format!("{at}.code"), &system);
        let Some(code) = code else {
            if r.get("code").is_none() {
                self.err(
                    IssueType::Required,
                    format!("{at}.code"),
                    format!("{} has no code", e.name()),
                );
            }
            return;
        };
        self.subject(e, "subject");
        let Some(id) = self.item_ids.get(&pos).cloned() else {
            return;
        };
        match r.get("status").and_then(Value::as_str) {
            Some("final" | "amended") => {}
            Some(other) => self.unsupported_status(e, "status", other, "final or amended"),
            None => self.err(
                IssueType::Required,
                format!("{at}.status"),
                format!("{} has no status", e.name()),
            ),
        }
        match code.as_str() {
            "strength" => {
                self.resource_fields(e, &["extension", "status", "code", "subject", "focus", "valueString", "note"]);
                let exts = self.extensions(r, &at, &[ext::PRIORITY, ext::ARCHIVED, ext::ARCHIVE_REASON]);
                let importance = self.priority(&exts);
                for (i, f) in self.array(r.get("focus"), &format!("{at}.focus")).into_iter().enumerate() {
                    self.reference(Some(f), &format!("{at}.focus[{i}]"), &["Goal"]);
                }
                let description = self.required_text(r.get("valueString"), &format!("{at}.valueString"), "A strength's description (valueString)");
                self.archive_if(&exts, false, &id, 2, &at);
                self.notes(r, &at, Target::Item { item: id.clone() }, 0);
                if let Some(description) = description {
                    self.phases.content.push(Sourced { command: Command::AddStrength { id: Some(id), description, importance }, at });
                }
            }
            "goal-progress" => {
                self.resource_fields(e, &["extension", "status", "code", "subject", "focus", "effectiveDateTime", "valueInteger", "method", "note"]);
                let exts = self.extensions(r, &at, &[ext::ARCHIVED, ext::ARCHIVE_REASON]);
                let goal = self.one_goal_focus(r, &at);
                let date = self.required_date(r.get("effectiveDateTime"), &format!("{at}.effectiveDateTime"));
                let scale = match r.get("method") {
                    Some(m) => {
                        let mat = format!("{at}.method");
                        self.fields(m, &mat, "The method", &["coding", "text"]);
                        let codings = self.array(m.get("coding"), &format!("{mat}.coding"));
                        match codings.as_slice() {
                            [c] => self.our_coding::<ProgressScale>(c, &format!("{mat}.coding[0]"), cs::PROGRESS_SCALE),
                            _ => None,
                        }
                    }
                    None => None,
                };
                if scale.is_none() && r.get("method").is_none() {
                    self.err(IssueType::Required, format!("{at}.method"), format!("A progress record says its scale in method, from {}", t::code_system_url(cs::PROGRESS_SCALE)));
                }
                let value = r.get("valueInteger").and_then(Value::as_i64);
                if value.is_none() {
                    self.err(IssueType::Required, format!("{at}.valueInteger"), "A progress record needs its value as valueInteger");
                }
                let progress = match (scale, value) {
                    (Some(s), Some(v)) => ProgressValue::new(s, v).map_err(|err| self.err(IssueType::Value, format!("{at}.valueInteger"), capitalise(&err.0))).ok(),
                    _ => None,
                };
                // The first note without an id is the record's own note; the rest are comments.
                let (note, skip) = self.own_note(r, &at);
                self.archive_if(&exts, false, &id, 2, &at);
                self.notes(r, &at, Target::Item { item: id.clone() }, skip);
                if let (Some(goal), Some(date), Some(progress)) = (goal, date, progress) {
                    self.phases.records.push(Sourced { command: Command::RecordProgress { id: Some(id), goal, date, progress, note }, at });
                }
            }
            "goal-outcome" => {
                self.resource_fields(e, &["extension", "status", "code", "subject", "focus", "effectiveDateTime", "valueCodeableConcept", "note"]);
                let exts = self.extensions(r, &at, &[ext::ARCHIVED, ext::ARCHIVE_REASON]);
                let goal = self.one_goal_focus(r, &at);
                let date = self.required_date(r.get("effectiveDateTime"), &format!("{at}.effectiveDateTime"));
                let status: Option<OutcomeStatus> = self.coded_value(r, &at, cs::OUTCOME_STATUS, "An outcome's status");
                let (description, skip) = self.own_note(r, &at);
                if description.is_none() {
                    self.err(IssueType::Required, format!("{at}.note"), "An outcome's description is its first note (with no id)");
                }
                self.archive_if(&exts, false, &id, 2, &at);
                self.notes(r, &at, Target::Item { item: id.clone() }, skip);
                if let (Some(goal), Some(date), Some(status), Some(description)) = (goal, date, status, description) {
                    self.phases.records.push(Sourced { command: Command::RecordOutcome { id: Some(id), goal, description, status, date }, at });
                }
            }
            "capacity-assessment" => {
                self.resource_fields(e, &["extension", "status", "code", "subject", "effectiveDateTime", "performer", "valueCodeableConcept", "note"]);
                let exts = self.extensions(r, &at, &[ext::MCA_DECISION, ext::ARCHIVED, ext::ARCHIVE_REASON]);
                let decision = self.mca_decision(&exts, &at);
                let assessed_on = self.required_date(r.get("effectiveDateTime"), &format!("{at}.effectiveDateTime"));
                let assessed_by = self.one_performer(r, &at, "A capacity assessment names who assessed (one performer with a display)");
                let outcome: Option<CapacityOutcome> = self.coded_value(r, &at, cs::CAPACITY_OUTCOME, "A capacity assessment's outcome");
                // The first note without an id is the reasoning; the rest are comments.
                let (reasoning, skip) = self.own_note(r, &at);
                self.archive_if(&exts, false, &id, 2, &at);
                self.notes(r, &at, Target::Item { item: id.clone() }, skip);
                if let (Some(decision), Some(assessed_on), Some(assessed_by), Some(outcome)) = (decision, assessed_on, assessed_by, outcome) {
                    self.phases.capacity.push(Sourced { command: Command::RecordCapacityAssessment { id: Some(id), decision, outcome, assessed_by, assessed_on, reasoning }, at });
                }
            }
            "best-interest-decision" => {
                self.resource_fields(e, &["extension", "status", "code", "subject", "effectiveDateTime", "performer", "valueString", "derivedFrom", "note"]);
                let exts = self.extensions(r, &at, &[ext::MCA_DECISION, ext::BEST_INTEREST_CONSULTED, ext::ARCHIVED, ext::ARCHIVE_REASON]);
                let decision = self.mca_decision(&exts, &at);
                let consulted = self.repeated_texts(r, &at, ext::BEST_INTEREST_CONSULTED);
                let decided_on = self.required_date(r.get("effectiveDateTime"), &format!("{at}.effectiveDateTime"));
                let decision_maker = self.one_performer(r, &at, "A best-interest decision names its decision maker (one performer with a display)");
                let rationale = self.required_text(r.get("valueString"), &format!("{at}.valueString"), "A best-interest decision's rationale (valueString)");
                let derived = self.array(r.get("derivedFrom"), &format!("{at}.derivedFrom"));
                let assessment = match derived.as_slice() {
                    [d] => self.item_ref(Some(d), &format!("{at}.derivedFrom[0]"), &["Observation"]),
                    _ => {
                        self.err(IssueType::Required, format!("{at}.derivedFrom"), "A best-interest decision rests on exactly one capacity assessment (derivedFrom)");
                        None
                    }
                };
                self.archive_if(&exts, false, &id, 2, &at);
                self.notes(r, &at, Target::Item { item: id.clone() }, 0);
                if let (Some(decision), Some(decided_on), Some(decision_maker), Some(rationale), Some(assessment)) = (decision, decided_on, decision_maker, rationale, assessment) {
                    self.phases.best_interest.push(Sourced { command: Command::RecordBestInterestDecision { id: Some(id), decision, assessment, decision_maker, consulted, rationale, decided_on }, at });
                }
            }
            other => self.err(
                IssueType::NotSupported,
                format!("{at}.code"),
                format!("An Observation “{other}” cannot be held by the care plan, which records strengths, progress, outcomes, mental capacity assessments and best-interest decisions"),
            ),
        }
    }

    /// An Observation's `valueCodeableConcept`, which holds `what` as exactly one coding from
    /// our code system `system`.
    fn coded_value<T: serde::de::DeserializeOwned>(
        &mut self,
        r: &Value,
        at: &str,
        system: &str,
        what: &str,
    ) -> Option<T> {
        let vat = format!("{at}.valueCodeableConcept");
        let Some(v) = r.get("valueCodeableConcept") else {
            self.err(
                IssueType::Required,
                vat,
                format!("{what} is required, as valueCodeableConcept"),
            );
            return None;
        };
        self.fields(v, &vat, what, &["coding", "text"]);
        let codings = self.array(v.get("coding"), &format!("{vat}.coding"));
        match codings.as_slice() {
            [c] => self.our_coding::<T>(c, &format!("{vat}.coding[0]"), system),
            _ => {
                self.err(
                    IssueType::NotSupported,
                    vat,
                    format!("{what} is one coding from {}", t::code_system_url(system)),
                );
                None
            }
        }
    }

    /// The one decision a capacity record is about (the `mca-decision` extension).
    fn mca_decision(&mut self, exts: &Exts, at: &str) -> Option<Text> {
        if !exts.contains_key(ext::MCA_DECISION) {
            self.err(
                IssueType::Required,
                format!("{at}.extension"),
                format!(
                    "A capacity assessment or best-interest decision names its one decision in the {} extension",
                    t::extension_url(ext::MCA_DECISION)
                ),
            );
        }
        self.ext_text(exts, ext::MCA_DECISION)
    }

    /// Who assessed or decided: exactly one `performer`, given by its `display`.
    fn one_performer(&mut self, r: &Value, at: &str, what: &str) -> Option<Text> {
        let performers = self.array(r.get("performer"), &format!("{at}.performer"));
        match performers.as_slice() {
            [p] => {
                let pat = format!("{at}.performer[0]");
                self.fields(p, &pat, "The performer", &["display"]);
                self.required_text(p.get("display"), &format!("{pat}.display"), what)
            }
            _ => {
                self.err(IssueType::Required, format!("{at}.performer"), what);
                None
            }
        }
    }

    /// Every value of an extension that may repeat (its `valueString`s), each checked where it
    /// stands.
    fn repeated_texts(&mut self, r: &Value, at: &str, name: &str) -> Vec<Text> {
        let url = t::extension_url(name);
        let list: Vec<(usize, Value)> = r
            .get("extension")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
            .filter(|(_, x)| x.get("url").and_then(Value::as_str) == Some(url.as_str()))
            .map(|(i, x)| (i, x.clone()))
            .collect();
        list.into_iter()
            .filter_map(|(i, x)| {
                self.text(
                    x.get("valueString"),
                    &format!("{at}.extension[{i}].valueString"),
                )
            })
            .collect()
    }

    fn required_date(&mut self, v: Option<&Value>, at: &str) -> Option<careplan_model::Date> {
        if v.is_none() {
            self.err(IssueType::Required, at, "A date is required here");
        }
        self.date(v, at)
    }

    /// The record's own note: the first Annotation, when it has no id (comments have ids).
    fn own_note(&mut self, r: &Value, at: &str) -> (Option<Text>, usize) {
        match r
            .get("note")
            .and_then(Value::as_array)
            .and_then(|n| n.first())
        {
            Some(first) if first.get("id").is_none() => {
                self.fields(first, &format!("{at}.note[0]"), "The note", &["text"]);
                (
                    self.text(first.get("text"), &format!("{at}.note[0].text")),
                    1,
                )
            }
            _ => (None, 0),
        }
    }

    fn one_goal_focus(&mut self, r: &Value, at: &str) -> Option<ItemId> {
        let focus = self.array(r.get("focus"), &format!("{at}.focus"));
        match focus.as_slice() {
            [f] => self.item_ref(Some(f), &format!("{at}.focus[0]"), &["Goal"]),
            _ => {
                self.err(
                    IssueType::Required,
                    format!("{at}.focus"),
                    "A progress record or outcome is about exactly one Goal (focus)",
                );
                None
            }
        }
    }

    /// CSP-2: a DocumentReference as an attachment (its `content.attachment` has the
    /// `attachment-sha256` extension) or a hyperlink (it has none). `date` and `author` are when
    /// and by whom it was added: the import's version stamps them (see [`ImportPlan::notes`]).
    fn document(&mut self, pos: usize, e: &Entry) {
        self.resource_fields(
            e,
            &[
                "extension",
                "status",
                "category",
                "subject",
                "date",
                "author",
                "description",
                "content",
                "context",
            ],
        );
        self.subject(e, "subject");
        let at = e.path();
        let r = &e.resource;
        let Some(id) = self.item_ids.get(&pos).cloned() else {
            return;
        };
        match self.status(e, "status") {
            Some("current") | None => {}
            Some(other) => self.unsupported_status(
                e,
                "status",
                other,
                "current (and the archived extension for an archived attachment or link)",
            ),
        }
        if let Some(date) = self.str_at(r.get("date"), &format!("{at}.date"))
            && Timestamp::parse(date).is_err()
        {
            self.err(
                IssueType::Value,
                format!("{at}.date"),
                format!("“{date}” is not a FHIR instant"),
            );
        }
        for (i, a) in self
            .array(r.get("author"), &format!("{at}.author"))
            .into_iter()
            .enumerate()
        {
            self.fields(a, &format!("{at}.author[{i}]"), "The author", &["display"]);
        }
        let exts = self.extensions(
            r,
            &at,
            &[
                ext::DOCUMENT_SECTION,
                ext::DOCUMENT_ON_ITEM,
                ext::ARCHIVED,
                ext::ARCHIVE_REASON,
            ],
        );
        let purpose = {
            let cats = self.array(r.get("category"), &format!("{at}.category"));
            match cats.as_slice() {
                [c] => {
                    let cat = format!("{at}.category[0]");
                    self.fields(c, &cat, "The category", &["coding", "text"]);
                    let codings = self.array(c.get("coding"), &format!("{cat}.coding"));
                    match codings.as_slice() {
                        [coding] => self.our_coding::<Purpose>(
                            coding,
                            &format!("{cat}.coding[0]"),
                            cs::ATTACHMENT_PURPOSE,
                        ),
                        _ => None,
                    }
                }
                _ => None,
            }
        };
        let category_at = format!("{at}.category");
        if purpose.is_none()
            && !self
                .issues
                .iter()
                .any(|i| i.expression.starts_with(&category_at))
        {
            self.err(
                IssueType::Required,
                format!("{at}.category"),
                format!(
                    "An attachment or link has one category: its purpose, one coding from {}",
                    t::code_system_url(cs::ATTACHMENT_PURPOSE)
                ),
            );
        }
        let target = self.document_target(r, &at, &exts);
        let attachment = {
            let contents = self.array(r.get("content"), &format!("{at}.content"));
            match contents.as_slice() {
                [c] => {
                    let cat = format!("{at}.content[0]");
                    self.fields(c, &cat, "The content", &["attachment"]);
                    c.get("attachment").cloned()
                }
                _ => None,
            }
        };
        let Some(attachment) = attachment else {
            self.err(
                IssueType::Required,
                format!("{at}.content"),
                "An attachment or link has exactly one content with an attachment",
            );
            return;
        };
        let aat = format!("{at}.content[0].attachment");
        let title = self.required_text(
            attachment.get("title"),
            &format!("{aat}.title"),
            "The title of an attachment or link",
        );
        let a_exts = self.extensions(&attachment, &aat, &[ext::ATTACHMENT_SHA256]);
        let command = if a_exts.contains_key(ext::ATTACHMENT_SHA256) {
            self.fields(
                &attachment,
                &aat,
                "The attachment",
                &["extension", "contentType", "url", "size", "title", "data"],
            );
            let sha256 = self
                .ext_text(&a_exts, ext::ATTACHMENT_SHA256)
                .and_then(|h| {
                    let (_, hat) = a_exts[ext::ATTACHMENT_SHA256].clone();
                    Sha256Hex::parse(h.as_str())
                        .map_err(|err| self.err(IssueType::Value, hat, capitalise(&err.0)))
                        .ok()
                });
            let content_type = self.required_text(
                attachment.get("contentType"),
                &format!("{aat}.contentType"),
                "An attachment's contentType",
            );
            let size = attachment.get("size").and_then(Value::as_u64);
            if size.is_none() {
                self.err(
                    IssueType::Required,
                    format!("{aat}.size"),
                    "An attachment's size in bytes (a whole number) is required",
                );
            }
            // The address of the bytes is derived from the person and the attachment's id.
            if let Some(url) = self.str_at(attachment.get("url"), &format!("{aat}.url")) {
                let person = self
                    .patient
                    .and_then(|p| self.entries[p].resource.get("id"))
                    .and_then(Value::as_str)
                    .unwrap_or_default();
                let expected = attachment_content_path(person, id.as_str());
                if url != expected {
                    self.err(
                        IssueType::NotSupported,
                        format!("{aat}.url"),
                        format!(
                            "The care plan serves an attachment's bytes at {expected}; it cannot keep another address ({url})"
                        ),
                    );
                }
            }
            let description = self.text(r.get("description"), &format!("{at}.description"));
            let data = self.inline_data(&attachment, &aat, size, sha256.as_ref());
            match (&data, &title) {
                (Some(bytes), Some(t)) => {
                    if let (Some(content_type), Some(sha256)) = (&content_type, &sha256) {
                        self.files.push(ImportedFile {
                            attachment: id.clone(),
                            title: t.as_str().to_owned(),
                            content_type: content_type.as_str().to_owned(),
                            sha256: sha256.clone(),
                            bytes: bytes.clone(),
                        });
                    }
                }
                (None, Some(t)) if attachment.get("data").is_none() => {
                    self.without_data.push(format!("“{}”", t.as_str()));
                }
                _ => {}
            }
            match (title, purpose, target, content_type, size, sha256) {
                (
                    Some(title),
                    Some(purpose),
                    Some(target),
                    Some(content_type),
                    Some(size_bytes),
                    Some(sha256),
                ) => Some(Command::AddAttachment {
                    id: Some(id.clone()),
                    target,
                    title,
                    purpose,
                    content_type,
                    size_bytes,
                    sha256,
                    description,
                }),
                _ => None,
            }
        } else {
            self.fields(&attachment, &aat, "The link", &["url", "title"]);
            if r.get("description").is_some() {
                self.err(
                    IssueType::NotSupported,
                    format!("{at}.description"),
                    "A hyperlink has no description in the care plan (an attachment has: give its content the attachment-sha256 extension)",
                );
            }
            let url_at = format!("{aat}.url");
            let url = match self.str_at(attachment.get("url"), &url_at) {
                Some(u) => WebAddress::parse(u)
                    .map_err(|err| self.err(IssueType::Value, &url_at, capitalise(&err.0)))
                    .ok(),
                None => {
                    self.err(
                        IssueType::Required,
                        &url_at,
                        "A link needs its url (an attached file needs the attachment-sha256 extension)",
                    );
                    None
                }
            };
            match (title, purpose, target, url) {
                (Some(title), Some(purpose), Some(target), Some(url)) => {
                    Some(Command::AddHyperlink {
                        id: Some(id.clone()),
                        target,
                        title,
                        url,
                        purpose,
                    })
                }
                _ => None,
            }
        };
        self.archive_if(&exts, false, &id, 2, &at);
        if let Some(command) = command {
            self.phases.documents.push(Sourced { command, at });
        }
    }

    /// The file an attachment carries inline (`data`, base64), checked against the record's
    /// `size` and SHA-256: a Bundle whose file and record disagree is refused, so a file is
    /// never kept under a digest it does not have.
    fn inline_data(
        &mut self,
        attachment: &Value,
        aat: &str,
        size: Option<u64>,
        sha256: Option<&Sha256Hex>,
    ) -> Option<Vec<u8>> {
        let data_at = format!("{aat}.data");
        let text = self.str_at(attachment.get("data"), &data_at)?;
        // base64Binary may be wrapped; the alphabet is the standard one, with padding.
        let compact: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
        let bytes = match base64::engine::general_purpose::STANDARD.decode(compact.as_bytes()) {
            Ok(b) => b,
            Err(e) => {
                self.err(
                    IssueType::Value,
                    data_at,
                    format!("The attachment's data is not base64: {e}"),
                );
                return None;
            }
        };
        if let Some(size) = size
            && bytes.len() as u64 != size
        {
            self.err(
                IssueType::Value,
                data_at,
                format!(
                    "The attachment's data is {} bytes long, but its size says {size}",
                    bytes.len()
                ),
            );
            return None;
        }
        let digest: String = Sha256::digest(&bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        if let Some(expected) = sha256
            && digest != expected.as_str()
        {
            self.err(
                IssueType::Value,
                data_at,
                format!(
                    "The attachment's data has SHA-256 {digest}, but its attachment-sha256 extension says {}: the file and its record do not match",
                    expected.as_str()
                ),
            );
            return None;
        }
        Some(bytes)
    }

    /// What an attachment or link is about: `context.related` (the CarePlan or an item's
    /// resource), or the `document-section` or `document-on-item` extension; exactly one.
    fn document_target(&mut self, r: &Value, at: &str, exts: &Exts) -> Option<Target> {
        let mut found: Vec<Option<Target>> = Vec::new();
        if let Some(context) = r.get("context") {
            let cat = format!("{at}.context");
            self.fields(context, &cat, "The context", &["related"]);
            let related = self.array(context.get("related"), &format!("{cat}.related"));
            for (i, v) in related.into_iter().enumerate() {
                let rat = format!("{cat}.related[{i}]");
                let kinds = [
                    "CarePlan",
                    "Condition",
                    "Goal",
                    "Task",
                    "Observation",
                    "Consent",
                    "DocumentReference",
                ];
                let target = self.reference(Some(v), &rat, &kinds).and_then(|pos| {
                    if self.entries[pos].kind == "CarePlan" {
                        Some(Target::Plan)
                    } else {
                        let item = self.item_ids.get(&pos)?.clone();
                        Some(Target::Item { item })
                    }
                });
                found.push(target);
            }
        }
        if exts.contains_key(ext::DOCUMENT_SECTION) {
            found.push(
                self.ext_coding::<Section>(exts, ext::DOCUMENT_SECTION, cs::PLAN_SECTION)
                    .map(|section| Target::Section { section }),
            );
        }
        if let Some(item) = self.ext_text(exts, ext::DOCUMENT_ON_ITEM) {
            let (_, iat) = exts[ext::DOCUMENT_ON_ITEM].clone();
            found.push(
                ItemId::parse(item.as_str())
                    .map_err(|err| self.err(IssueType::Value, iat, err.0))
                    .ok()
                    .map(|item| Target::Item { item }),
            );
        }
        match found.len() {
            1 => found.pop().flatten(),
            0 => {
                self.err(
                    IssueType::Required,
                    at,
                    "An attachment or link is about the plan, a section or an item: give context.related (the CarePlan or the item's resource) or the document-section or document-on-item extension",
                );
                None
            }
            _ => {
                self.err(
                    IssueType::NotSupported,
                    at,
                    "An attachment or link is about one thing: the plan, one section or one item",
                );
                None
            }
        }
    }

    fn consent(&mut self, pos: usize, e: &Entry) {
        self.resource_fields(
            e,
            &[
                "extension",
                "status",
                "scope",
                "category",
                "patient",
                "policy",
                "performer",
                "contained",
                "provision",
            ],
        );
        self.subject(e, "patient");
        let at = e.path();
        let r = &e.resource;
        let Some(id) = self.item_ids.get(&pos).cloned() else {
            return;
        };
        let scope = self.single_code(r.get("scope"), &format!("{at}.scope"), CONSENT_SCOPE);
        for (i, c) in self
            .array(r.get("category"), &format!("{at}.category"))
            .into_iter()
            .enumerate()
        {
            let cat = format!("{at}.category[{i}]");
            let codes = self.codings(c, &cat, true);
            if codes
                .iter()
                .any(|(s, code, _)| s != t::LOINC || code != "59284-0")
            {
                self.err(
                    IssueType::NotSupported,
                    cat,
                    "A care plan consent's category is LOINC 59284-0",
                );
            }
        }
        for (i, p) in self
            .array(r.get("policy"), &format!("{at}.policy"))
            .into_iter()
            .enumerate()
        {
            let pat = format!("{at}.policy[{i}]");
            self.fields(p, &pat, "The policy", &["uri"]);
            if p.get("uri").and_then(Value::as_str) != Some(t::PRSB_POLICY) {
                self.err(
                    IssueType::NotSupported,
                    pat,
                    format!(
                        "The care plan records agreements and access preferences under {} only",
                        t::PRSB_POLICY
                    ),
                );
            }
        }
        let status = r.get("status").and_then(Value::as_str).unwrap_or("");
        match scope.as_deref() {
            Some("treatment") => self.agreement(e, &id, status),
            Some("patient-privacy") => self.preference(e, status),
            Some(other) => self.err(IssueType::NotSupported, format!("{at}.scope"), format!("A Consent of scope “{other}” has no counterpart in the care plan: agreements are “treatment” and access preferences “patient-privacy”")),
            None => {
                if r.get("scope").is_none() {
                    self.err(IssueType::Required, format!("{at}.scope"), format!("{} has no scope", e.name()));
                }
            }
        }
    }

    fn agreement(&mut self, e: &Entry, id: &ItemId, status: &str) {
        let at = e.path();
        let r = &e.resource;
        let exts = self.extensions(
            r,
            &at,
            &[
                ext::AGREEMENT_NOT_OBTAINED_REASON,
                ext::ARCHIVED,
                ext::ARCHIVE_REASON,
            ],
        );
        let superseded = match status {
            "active" => false,
            "inactive" => true,
            other => {
                self.unsupported_status(e, "status", other, "active (the agreement is for the current version) or inactive (for an earlier version)");
                false
            }
        };
        let Some(provision) = r.get("provision") else {
            self.err(
                IssueType::Required,
                format!("{at}.provision"),
                "An agreement names the version of the plan it is for in provision.data",
            );
            return;
        };
        let pat = format!("{at}.provision");
        self.fields(provision, &pat, "The provision", &["type", "data"]);
        let data = self.array(provision.get("data"), &format!("{pat}.data"));
        let mut version = 0;
        match data.as_slice() {
            [d] => {
                let dat = format!("{pat}.data[0]");
                self.fields(d, &dat, "The data", &["meaning", "reference"]);
                let reference = d
                    .pointer("/reference/reference")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                self.reference(
                    d.get("reference"),
                    &format!("{dat}.reference"),
                    &["CarePlan"],
                );
                version = reference
                    .split_once("/_history/")
                    .and_then(|(_, v)| v.parse::<u64>().ok())
                    .unwrap_or(0);
            }
            _ => self.err(
                IssueType::Required,
                format!("{pat}.data"),
                "An agreement is for one version of the CarePlan (provision.data)",
            ),
        }
        let reason = self.ext_text(&exts, ext::AGREEMENT_NOT_OBTAINED_REASON);
        let outcome = match (provision.get("type").and_then(Value::as_str), reason) {
            (Some("permit"), None) => self.agreed_by(e).map(|by| AgreementOutcome::Agreed { by }),
            (None, Some(reason)) => {
                if r.get("performer").is_some() || r.get("contained").is_some() {
                    self.err(
                        IssueType::NotSupported,
                        format!("{at}.performer"),
                        "An agreement that was not obtained has no performer",
                    );
                }
                Some(AgreementOutcome::NotObtained { reason })
            }
            _ => {
                self.err(IssueType::Value, &pat, format!("An agreement either permits (provision.type “permit”, with a performer) or was not obtained (no provision.type, with the extension {})", t::extension_url(ext::AGREEMENT_NOT_OBTAINED_REASON)));
                None
            }
        };
        let archive = if exts.contains_key(ext::ARCHIVED) {
            let reason = self.ext_text(&exts, ext::ARCHIVE_REASON);
            Some(Sourced {
                command: Command::Archive {
                    id: id.clone(),
                    reason,
                },
                at: at.clone(),
            })
        } else {
            None
        };
        if let Some(outcome) = outcome {
            self.phases.agreements.push((
                version,
                superseded,
                Sourced {
                    command: Command::RecordAgreement {
                        id: Some(id.clone()),
                        outcome,
                    },
                    at,
                },
                archive,
            ));
        }
    }

    fn agreed_by(&mut self, e: &Entry) -> Option<AgreedBy> {
        let at = e.path();
        let r = &e.resource;
        let performers = self.array(r.get("performer"), &format!("{at}.performer"));
        let [p] = performers.as_slice() else {
            self.err(
                IssueType::Required,
                format!("{at}.performer"),
                "An agreement is by one person: the Patient or their representative",
            );
            return None;
        };
        let pat = format!("{at}.performer[0]");
        let reference = p.get("reference").and_then(Value::as_str).unwrap_or("");
        if let Some(local) = reference.strip_prefix('#') {
            self.fields(p, &pat, "The performer", &["reference", "display"]);
            let contained = self.array(r.get("contained"), &format!("{at}.contained"));
            let found = contained
                .iter()
                .position(|c| c.get("id").and_then(Value::as_str) == Some(local));
            let Some(i) = found else {
                self.err(
                    IssueType::NotFound,
                    pat,
                    format!("#{local} is not contained in the Consent"),
                );
                return None;
            };
            if contained.len() > 1 {
                self.err(
                    IssueType::NotSupported,
                    format!("{at}.contained"),
                    "An agreement contains only its representative",
                );
            }
            let rp = contained[i];
            let rat = format!("{at}.contained[{i}]");
            if rp.get("resourceType").and_then(Value::as_str) != Some("RelatedPerson") {
                self.err(
                    IssueType::NotSupported,
                    rat,
                    "A representative is a RelatedPerson",
                );
                return None;
            }
            self.fields(
                rp,
                &rat,
                "The representative",
                &[
                    "resourceType",
                    "id",
                    "extension",
                    "patient",
                    "relationship",
                    "name",
                ],
            );
            let exts = self.extensions(
                rp,
                &rat,
                &[ext::LEGAL_AUTHORITY, ext::LEGAL_AUTHORITY_REFERENCE],
            );
            let legal_authority: Option<LegalAuthority> =
                self.ext_coding(&exts, ext::LEGAL_AUTHORITY, cs::LEGAL_AUTHORITY);
            if legal_authority.is_none() && !exts.contains_key(ext::LEGAL_AUTHORITY) {
                self.err(
                    IssueType::Required,
                    format!("{rat}.extension"),
                    format!(
                        "A representative's legal authority is required: use the extension {}",
                        t::extension_url(ext::LEGAL_AUTHORITY)
                    ),
                );
            }
            let authority_reference = self.ext_text(&exts, ext::LEGAL_AUTHORITY_REFERENCE);
            let names = self.array(rp.get("name"), &format!("{rat}.name"));
            let name = match names.as_slice() {
                [n] => {
                    self.fields(n, &format!("{rat}.name[0]"), "The name", &["text"]);
                    self.required_text(
                        n.get("text"),
                        &format!("{rat}.name[0].text"),
                        "The representative's name",
                    )
                }
                _ => {
                    self.err(
                        IssueType::Required,
                        format!("{rat}.name"),
                        "A representative has one name, as text",
                    );
                    None
                }
            };
            let mut relationship = None;
            for (j, rel) in self
                .array(rp.get("relationship"), &format!("{rat}.relationship"))
                .into_iter()
                .enumerate()
            {
                let relat = format!("{rat}.relationship[{j}]");
                // The v3 role coding (power of attorney, guardian) is derived from the legal
                // authority; the relationship in words is the one with text.
                for (system, _, k) in self.codings(rel, &relat, true) {
                    if system != t::V3_ROLE_CODE {
                        self.err(
                            IssueType::NotSupported,
                            format!("{relat}.coding[{k}]"),
                            "A representative's relationship is given in words (text)",
                        );
                    }
                }
                if rel.get("text").is_some() {
                    if relationship.is_some() {
                        self.err(
                            IssueType::NotSupported,
                            &relat,
                            "A representative has one relationship to the person",
                        );
                    }
                    relationship = self.text(rel.get("text"), &format!("{relat}.text"));
                }
            }
            if relationship.is_none() {
                self.err(
                    IssueType::Required,
                    format!("{rat}.relationship"),
                    "A representative's relationship to the person is required, in words",
                );
            }
            return Some(AgreedBy::Representative {
                name: name?,
                relationship: relationship?,
                legal_authority: legal_authority?,
                authority_reference,
            });
        }
        if let Some(pos) = self.reference(Some(p), &pat, &["Patient"])
            && Some(pos) == self.patient
        {
            return Some(AgreedBy::Person);
        }
        None
    }

    /// An access preference. Its id is made by the model from the version that creates it, so
    /// the Bundle's id for it is not kept (see the crate docs).
    fn preference(&mut self, e: &Entry, status: &str) {
        let at = e.path();
        let r = &e.resource;
        if r.get("performer").is_some() || r.get("contained").is_some() {
            self.err(
                IssueType::NotSupported,
                format!("{at}.performer"),
                "An access preference is the person's: it has no performer",
            );
        }
        let exts = self.extensions(r, &at, &[ext::ARCHIVED, ext::ARCHIVE_REASON]);
        let archived = match status {
            "active" => exts.contains_key(ext::ARCHIVED),
            "inactive" => true,
            other => {
                self.unsupported_status(e, "status", other, "active or inactive");
                false
            }
        };
        let Some(provision) = r.get("provision") else {
            self.err(
                IssueType::Required,
                format!("{at}.provision"),
                "An access preference needs a provision: permit or deny, and for whom",
            );
            return;
        };
        let pat = format!("{at}.provision");
        self.fields(provision, &pat, "The provision", &["type", "actor", "code"]);
        let visible = match provision.get("type").and_then(Value::as_str) {
            Some("permit") => Some(true),
            Some("deny") => Some(false),
            _ => {
                self.err(
                    IssueType::Required,
                    format!("{pat}.type"),
                    "An access preference either permits or denies",
                );
                None
            }
        };
        let codes = self.array(provision.get("code"), &format!("{pat}.code"));
        let scope = match codes.as_slice() {
            [] => Some(ConsentScope::WholePlan),
            [c] => {
                let cat = format!("{pat}.code[0]");
                self.fields(c, &cat, "The section", &["coding", "text"]);
                let codings = self.array(c.get("coding"), &format!("{cat}.coding"));
                match codings.as_slice() {
                    [coding] => self
                        .our_coding::<Section>(
                            coding,
                            &format!("{cat}.coding[0]"),
                            cs::PLAN_SECTION,
                        )
                        .map(ConsentScope::Section),
                    _ => None,
                }
            }
            _ => {
                self.err(
                    IssueType::NotSupported,
                    format!("{pat}.code"),
                    "An access preference covers the whole plan or one section",
                );
                None
            }
        };
        let actors = self.array(provision.get("actor"), &format!("{pat}.actor"));
        let audience = match actors.as_slice() {
            [a] => {
                let aat = format!("{pat}.actor[0]");
                self.fields(a, &aat, "The actor", &["extension", "role", "reference"]);
                let exts = self.extensions(a, &aat, &[ext::AUDIENCE_ROLE]);
                let reference = a.get("reference");
                if let Some(role) = a.get("role") {
                    let codes = self.codings(role, &format!("{aat}.role"), true);
                    if codes
                        .iter()
                        .any(|(s, c, _)| s != t::V3_PARTICIPATION_TYPE || c != "IRCP")
                    {
                        self.err(IssueType::NotSupported, format!("{aat}.role"), "An access preference is about who may see the plan: the actor's role is IRCP (information recipient)");
                    }
                }
                match (
                    self.ext_coding::<Role>(&exts, ext::AUDIENCE_ROLE, cs::ROLE),
                    reference,
                ) {
                    (Some(role), _) => Some(Audience::Role(role)),
                    (None, Some(rf))
                        if rf.get("type").and_then(Value::as_str) == Some("Organization") =>
                    {
                        self.fields(
                            rf,
                            &format!("{aat}.reference"),
                            "The organisation",
                            &["type", "display"],
                        );
                        self.required_text(
                            rf.get("display"),
                            &format!("{aat}.reference.display"),
                            "The organisation's name",
                        )
                        .map(Audience::Organisation)
                    }
                    _ => {
                        self.err(IssueType::Required, &aat, format!("An access preference is about a role (extension {}) or an organisation (reference of type Organization with its name)", t::extension_url(ext::AUDIENCE_ROLE)));
                        None
                    }
                }
            }
            _ => {
                self.err(
                    IssueType::Required,
                    format!("{pat}.actor"),
                    "An access preference is about one audience",
                );
                None
            }
        };
        if let (Some(scope), Some(audience), Some(visible)) = (scope, audience, visible) {
            let archive = archived.then(|| self.ext_text(&exts, ext::ARCHIVE_REASON));
            self.phases.preferences.push((
                Sourced {
                    command: Command::SetConsentPreference {
                        scope,
                        audience,
                        visible,
                    },
                    at,
                },
                archive,
            ));
        }
    }

    // -----------------------------------------------------------------------------------------
    // Order and check
    // -----------------------------------------------------------------------------------------

    /// The commands in the order that rebuilds the plan: plan details, care team, strengths and
    /// needs, goals (in the person's order), actions, progress and outcomes, comments, funding,
    /// access preferences, archives (actions, then goals, then the rest), then agreements —
    /// those for an earlier version just before the last change to the content (or before the
    /// first comment on them, if earlier), the current ones after everything — and archived
    /// agreements last.
    fn assemble(&mut self) -> Vec<Step> {
        let p = std::mem::take(&mut self.phases);
        let mut goals = p.goals;
        let order = &self.goal_order;
        goals.sort_by_key(|(pos, _, archived)| {
            (
                *archived,
                order.iter().position(|o| o == pos).unwrap_or(usize::MAX),
                *pos,
            )
        });
        // Comments on comments follow the comments they are on.
        let comment_ids: Vec<ItemId> = p
            .comments
            .iter()
            .filter_map(|s| match &s.command {
                Command::AddComment { id, .. } => id.clone(),
                _ => None,
            })
            .collect();
        let mut comments = p.comments;
        comments.sort_by_key(|s| {
            matches!(&s.command, Command::AddComment { target: Target::Item { item }, .. } if comment_ids.contains(item))
        });
        // An attachment or link on another one, or on a comment, follows what it is on.
        let document_ids: Vec<ItemId> = p
            .documents
            .iter()
            .filter_map(|s| match &s.command {
                Command::AddAttachment { id, .. } | Command::AddHyperlink { id, .. } => id.clone(),
                _ => None,
            })
            .collect();
        let on = |s: &Sourced, ids: &[ItemId]| match &s.command {
            Command::AddAttachment {
                target: Target::Item { item },
                ..
            }
            | Command::AddHyperlink {
                target: Target::Item { item },
                ..
            } => ids.contains(item),
            _ => false,
        };
        let (on_comments, mut documents): (Vec<Sourced>, Vec<Sourced>) =
            p.documents.into_iter().partition(|s| on(s, &comment_ids));
        documents.sort_by_key(|s| on(s, &document_ids));
        let mut archives = p.archives;
        archives.sort_by_key(|(rank, _)| *rank);
        let mut content: Vec<Sourced> = Vec::new();
        content.extend(p.plan);
        content.extend(p.team);
        content.extend(p.content);
        content.extend(goals.into_iter().map(|(_, s, _)| s));
        // Suggestions, then their acceptances and refusals, then whatever edits bring each
        // action back to the state the Bundle gives it (an acceptance applies its edit, and the
        // action may have changed again after it).
        let restores = restore_actions(&p.actions, &p.suggestions);
        content.extend(p.actions);
        let (suggested, decided): (Vec<Sourced>, Vec<Option<Sourced>>) =
            p.suggestions.into_iter().unzip();
        content.extend(suggested);
        content.extend(decided.into_iter().flatten());
        content.extend(restores);
        content.extend(p.records);
        content.extend(p.capacity);
        content.extend(p.best_interest);
        content.extend(documents);
        content.extend(comments);
        content.extend(on_comments);
        content.extend(p.funding);
        let mut steps: Vec<Step> = content.into_iter().map(Step::Do).collect();
        let mut preferences = p.preferences;
        // Archived preferences first, each archived at once, so an active one for the same
        // audience can follow.
        preferences.sort_by_key(|(_, archive)| archive.is_none());
        for (s, archive) in preferences {
            let at = s.at.clone();
            steps.push(Step::Do(s));
            if let Some(reason) = archive {
                steps.push(Step::ArchivePreviousPreference { reason, at });
            }
        }
        let last_content = archives.len();
        steps.extend(archives.into_iter().map(|(_, s)| Step::Do(s)));
        let mut agreements = p.agreements;
        agreements.sort_by_key(|(version, ..)| *version);
        let mut archived_agreements = Vec::new();
        let mut superseded = Vec::new();
        let mut current = Vec::new();
        for (_, was_superseded, s, archive) in agreements {
            if was_superseded {
                superseded.push(Step::Do(s));
            } else {
                current.push(Step::Do(s));
            }
            archived_agreements.extend(archive.map(Step::Do));
        }
        if !superseded.is_empty() {
            // The last change to the content: the last archive, or the last content step
            // before the access preferences.
            let position = if last_content > 0 {
                steps.len() - 1
            } else {
                steps.iter().rposition(|s| {
                    matches!(s, Step::Do(Sourced { command, .. }) if !matches!(command, Command::SetConsentPreference { .. }))
                }).unwrap_or(steps.len())
            };
            // Comments on these agreements must follow them.
            let ids: Vec<ItemId> = superseded
                .iter()
                .filter_map(|s| match s {
                    Step::Do(Sourced {
                        command: Command::RecordAgreement { id, .. },
                        ..
                    }) => id.clone(),
                    _ => None,
                })
                .collect();
            let first_comment = steps.iter().position(|s| {
                matches!(s, Step::Do(Sourced { command: Command::AddComment { target: Target::Item { item }, .. }, .. }) if ids.contains(item))
            });
            let position = first_comment.map_or(position, |c| c.min(position));
            if position >= steps.len() {
                self.err(
                    IssueType::BusinessRule,
                    "Bundle",
                    "An agreement is for an earlier version of the plan, but the Bundle has no content that changed after it",
                );
            }
            let tail = steps.split_off(position.min(steps.len()));
            steps.extend(superseded);
            steps.extend(tail);
        }
        steps.extend(current);
        steps.extend(archived_agreements);
        steps
    }

    /// Tries the commands on a scratch plan, so a rule of the plan that the Bundle breaks is
    /// reported with the entry that broke it. Returns the commands, with the ids of archived
    /// access preferences filled in.
    fn simulate(
        &mut self,
        person: &Person,
        steps: &[Step],
    ) -> Result<Vec<Command>, Vec<FhirIssue>> {
        if !self.issues.is_empty() {
            return Err(std::mem::take(&mut self.issues));
        }
        let stamp = |v: u64| Stamp {
            version: VersionNumber::new(v).expect("versions start at 1"),
            at: Timestamp::parse("2000-01-01T00:00:00Z").expect("a valid time"),
            by: Actor {
                id: Text::new("system:fhir-import").expect("text"),
                name: Text::new("FHIR import").expect("text"),
                role: Role::System,
            },
        };
        let plan_id = self
            .plan_id
            .clone()
            .unwrap_or_else(|| PlanId::parse("import").expect("id"));
        let person_id = self
            .person_id
            .clone()
            .unwrap_or_else(|| PersonId::parse("import").expect("id"));
        let create = Command::CreatePlan {
            person: person.clone(),
        };
        let mut plan = match start(plan_id, person_id, &create, &stamp(1)) {
            Ok(a) => a.plan,
            Err(issues) => {
                return Err(model_issues(
                    &issues,
                    "Bundle.entry.resource.ofType(Patient)",
                ));
            }
        };
        let mut commands = Vec::new();
        for step in steps {
            let (command, at) = match step {
                Step::Do(s) => (s.command.clone(), s.at.clone()),
                Step::ArchivePreviousPreference { reason, at } => {
                    let id = ItemId::parse(&format!("consent-v{}", plan.version)).expect("id");
                    (
                        Command::Archive {
                            id,
                            reason: reason.clone(),
                        },
                        at.clone(),
                    )
                }
            };
            match apply(&plan, &command, &stamp(plan.version.get() + 1)) {
                Ok(applied) => plan = applied.plan,
                Err(issues) => return Err(model_issues(&issues, &at)),
            }
            commands.push(command);
        }
        Ok(commands)
    }
}

fn model_issues(issues: &[careplan_model::Issue], at: &str) -> Vec<FhirIssue> {
    issues
        .iter()
        .map(|i| {
            let code = match i.code {
                IssueCode::NotFound | IssueCode::BrokenLink => IssueType::NotFound,
                IssueCode::Invalid => IssueType::Value,
                _ => IssueType::BusinessRule,
            };
            FhirIssue::error(code, at, i.message.clone())
        })
        .collect()
}

/// The action status a `Task.status` stands for.
fn action_status(code: &str) -> Option<ActionStatus> {
    Some(match code {
        "ready" | "requested" | "received" | "accepted" => ActionStatus::NotStarted,
        "in-progress" => ActionStatus::InProgress,
        "on-hold" => ActionStatus::OnHold,
        "completed" => ActionStatus::Completed,
        "cancelled" => ActionStatus::Cancelled,
        _ => return None,
    })
}

/// The edits that bring each action back to what the Bundle says after its accepted
/// suggestions are replayed: an acceptance applies the suggested edit, and the source system's
/// action may have changed again since. Only fields that differ are set, so an action whose
/// last accepted change is still its state needs no edit.
fn restore_actions(
    actions: &[Sourced],
    suggestions: &[(Sourced, Option<Sourced>)],
) -> Vec<Sourced> {
    let mut out = Vec::new();
    for a in actions {
        let Command::AddAction {
            id: Some(id),
            goal,
            description,
            performer,
            timing,
            status,
            confidence,
        } = &a.command
        else {
            continue;
        };
        let status = status.unwrap_or_default();
        let (mut g, mut d, mut p, mut t, mut s, mut c) = (
            goal.clone(),
            description.clone(),
            performer.clone(),
            timing.clone(),
            status,
            *confidence,
        );
        let accepted = suggestions.iter().filter_map(|(suggest, decided)| {
            match (&suggest.command, decided.as_ref().map(|d| &d.command)) {
                (
                    Command::SuggestActionChange {
                        action, changes, ..
                    },
                    Some(Command::AcceptSuggestion { .. }),
                ) if action == id => Some(changes),
                _ => None,
            }
        });
        let mut any = false;
        for ch in accepted {
            any = true;
            if let Some(x) = &ch.goal {
                g = x.clone();
            }
            if let Some(x) = &ch.description {
                d = x.clone();
            }
            if let Some(x) = &ch.performer {
                p = x.clone();
            }
            ch.timing.clone().apply_to(&mut t);
            if let Some(x) = ch.status {
                s = x;
            }
            ch.confidence.clone().apply_to(&mut c);
        }
        if !any {
            continue;
        }
        let edit = Command::EditAction {
            id: id.clone(),
            goal: (g != *goal).then(|| goal.clone()),
            description: (d != *description).then(|| description.clone()),
            performer: (p != *performer).then(|| performer.clone()),
            timing: if t != *timing {
                timing.clone().map_or(Change::Clear, Change::Set)
            } else {
                Change::Keep
            },
            status: (s != status).then_some(status),
            confidence: if c != *confidence {
                confidence.map_or(Change::Clear, Change::Set)
            } else {
                Change::Keep
            },
        };
        let changes_something = !matches!(
            &edit,
            Command::EditAction {
                goal: None,
                description: None,
                performer: None,
                timing: Change::Keep,
                status: None,
                confidence: Change::Keep,
                ..
            }
        );
        if changes_something {
            out.push(Sourced {
                command: edit,
                at: a.at.clone(),
            });
        }
    }
    out
}

fn is_strength(r: &Value) -> bool {
    r.pointer("/code/coding/0/code").and_then(Value::as_str) == Some("strength")
        && r.pointer("/code/coding/0/system").and_then(Value::as_str)
            == Some(t::code_system_url(cs::OBSERVATION_KIND).as_str())
}

fn kind_from_resource_type(ty: Option<&str>) -> PerformerKind {
    match ty {
        Some("Patient") => PerformerKind::Person,
        Some("RelatedPerson") => PerformerKind::Carer,
        Some("Practitioner" | "PractitionerRole") => PerformerKind::Practitioner,
        Some("Organization") => PerformerKind::Organisation,
        _ => PerformerKind::Other,
    }
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}
