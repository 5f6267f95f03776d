//! Our extensions and code systems, with the canonical URL of each, and the conformance
//! resources (`StructureDefinition`, `CodeSystem`) that define them.
//!
//! Every extension lives at `https://careplan.example/fhir/StructureDefinition/<name>` and every
//! code system at `https://careplan.example/fhir/CodeSystem/<name>`. The names are stable: data
//! exchanged once must still mean the same thing later, so a name is never reused for another
//! meaning. HL7 and SNOMED CT terminology is used wherever it has the concept; these code systems
//! hold only what no published system has (the UK's care funding sources, goal versus hope…).

use careplan_model::{
    CapacityOutcome, ConcernDomain, FundingSourceKind, GoalLabel, LegalAuthority, OutcomeStatus,
    PerformerKind, ProgressScale, Purpose, RaisedBy, Role, Section,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

/// Where our extensions' StructureDefinitions live.
pub const STRUCTURE_DEFINITION_BASE: &str = "https://careplan.example/fhir/StructureDefinition/";
/// Where our code systems live.
pub const CODE_SYSTEM_BASE: &str = "https://careplan.example/fhir/CodeSystem/";
/// The version of our conformance resources.
pub const CONFORMANCE_VERSION: &str = "1.0.0";

/// SNOMED CT.
pub const SNOMED: &str = "http://snomed.info/sct";
/// The NHS number identifier system.
pub const NHS_NUMBER: &str = "https://fhir.nhs.uk/Id/nhs-number";
/// HL7's Condition category (`problem-list-item`, `health-concern`).
pub const CONDITION_CATEGORY: &str = "http://terminology.hl7.org/CodeSystem/condition-category";
/// HL7's Condition clinical status.
pub const CONDITION_CLINICAL: &str = "http://terminology.hl7.org/CodeSystem/condition-clinical";
/// HL7's Goal priority (high / medium / low).
pub const GOAL_PRIORITY: &str = "http://terminology.hl7.org/CodeSystem/goal-priority";
/// HL7's Goal achievement status.
pub const GOAL_ACHIEVEMENT: &str = "http://terminology.hl7.org/CodeSystem/goal-achievement";
/// HL7's consent scope (`treatment`, `patient-privacy`).
pub const CONSENT_SCOPE: &str = "http://terminology.hl7.org/CodeSystem/consentscope";
/// LOINC.
pub const LOINC: &str = "http://loinc.org";
/// HL7 v3 ActCode (the `SUBSETTED` tag lives in ObservationValue, below).
pub const V3_ROLE_CODE: &str = "http://terminology.hl7.org/CodeSystem/v3-RoleCode";
/// HL7 v3 ParticipationType (`IRCP`, information recipient).
pub const V3_PARTICIPATION_TYPE: &str =
    "http://terminology.hl7.org/CodeSystem/v3-ParticipationType";
/// HL7 v3 ObservationValue (`SUBSETTED`).
pub const V3_OBSERVATION_VALUE: &str = "http://terminology.hl7.org/CodeSystem/v3-ObservationValue";
/// HL7 v3 DataOperation (`CREATE`, `UPDATE`) for Provenance activities.
pub const V3_DATA_OPERATION: &str = "http://terminology.hl7.org/CodeSystem/v3-DataOperation";
/// HL7's Provenance participant type (`author`).
pub const PROVENANCE_PARTICIPANT: &str =
    "http://terminology.hl7.org/CodeSystem/provenance-participant-type";
/// HL7's list order (`priority`).
pub const LIST_ORDER: &str = "http://terminology.hl7.org/CodeSystem/list-order";
/// The HL7 core extension that links an activity to the goal it pertains to.
pub const PERTAINS_TO_GOAL: &str =
    "http://hl7.org/fhir/StructureDefinition/resource-pertainsToGoal";
/// The PRSB standard under which agreements and access preferences are recorded.
pub const PRSB_POLICY: &str = "https://theprsb.org/standards/careandsupportplan/";
/// SNOMED CT 734163000 |Care plan (record artifact)|.
pub const SCT_CARE_PLAN: (&str, &str) = ("734163000", "Care plan");

/// The FHIR type of an extension's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueType {
    Integer1To10,
    String,
    Coding(&'static str),
    DateTime,
}

impl ValueType {
    /// The JSON property an extension of this type carries (`valueInteger`).
    pub fn property(self) -> &'static str {
        match self {
            ValueType::Integer1To10 => "valueInteger",
            ValueType::String => "valueString",
            ValueType::Coding(_) => "valueCoding",
            ValueType::DateTime => "valueDateTime",
        }
    }

    fn fhir_type(self) -> &'static str {
        match self {
            ValueType::Integer1To10 => "integer",
            ValueType::String => "string",
            ValueType::Coding(_) => "Coding",
            ValueType::DateTime => "dateTime",
        }
    }
}

/// One of our extensions: its name (the last part of its URL), value type, where it may appear,
/// and what it means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExtensionDef {
    pub name: &'static str,
    pub title: &'static str,
    pub value: ValueType,
    /// FHIRPath element contexts (`Goal`, `Consent.provision.actor`).
    pub contexts: &'static [&'static str],
    pub description: &'static str,
}

impl ExtensionDef {
    /// The canonical URL.
    pub fn url(&self) -> String {
        format!("{STRUCTURE_DEFINITION_BASE}{}", self.name)
    }
}

/// Names of our extensions, so code does not repeat strings.
pub mod ext {
    pub const PRIORITY: &str = "priority";
    pub const CONFIDENCE: &str = "confidence";
    pub const WHY_IT_MATTERS: &str = "why-it-matters";
    pub const FUNDING_SOURCE: &str = "funding-source";
    pub const FUNDING_DETAILS_HELD_AT: &str = "funding-details-held-at";
    pub const AGREEMENT_NOT_OBTAINED_REASON: &str = "agreement-not-obtained-reason";
    pub const LEGAL_AUTHORITY: &str = "legal-authority";
    pub const LEGAL_AUTHORITY_REFERENCE: &str = "legal-authority-reference";
    pub const ARCHIVED: &str = "archived";
    pub const ARCHIVE_REASON: &str = "archive-reason";
    pub const PERFORMER_ORGANISATION: &str = "performer-organisation";
    pub const ACTION_TIMING: &str = "action-timing";
    pub const AUDIENCE_ROLE: &str = "audience-role";
    pub const COMMENT_SECTION: &str = "comment-section";
    pub const COMMENT_ON_ITEM: &str = "comment-on-item";
    pub const ATTACHMENT_SHA256: &str = "attachment-sha256";
    pub const DOCUMENT_SECTION: &str = "document-section";
    pub const DOCUMENT_ON_ITEM: &str = "document-on-item";
    pub const CAPACITY_STEPS: &str = "capacity-steps";
    pub const RIGHTS_PROMOTION: &str = "rights-promotion";
    pub const MCA_DECISION: &str = "mca-decision";
    pub const BEST_INTEREST_CONSULTED: &str = "best-interest-consulted";
}

/// Extensions that may appear more than once on one element.
const REPEATING: &[&str] = &[ext::BEST_INTEREST_CONSULTED];

/// Whether the extension may appear more than once on one element.
pub fn repeats(name: &str) -> bool {
    REPEATING.contains(&name)
}

/// Names of our code systems.
pub mod cs {
    pub const FUNDING_SOURCE: &str = "funding-source";
    pub const GOAL_LABEL: &str = "goal-label";
    pub const PERFORMER_KIND: &str = "performer-kind";
    pub const LEGAL_AUTHORITY: &str = "legal-authority";
    pub const CONDITION_KIND: &str = "condition-kind";
    pub const CONCERN_DOMAIN: &str = "concern-domain";
    pub const RAISED_BY: &str = "raised-by";
    pub const OBSERVATION_KIND: &str = "observation-kind";
    pub const PROGRESS_SCALE: &str = "progress-scale";
    pub const OUTCOME_STATUS: &str = "outcome-status";
    pub const PLAN_SECTION: &str = "plan-section";
    pub const ROLE: &str = "role";
    pub const TASK_KIND: &str = "task-kind";
    pub const ATTACHMENT_PURPOSE: &str = "attachment-purpose";
    pub const CAPACITY_OUTCOME: &str = "capacity-outcome";
    pub const ACTION_CHANGE: &str = "action-change";
    pub const AUDIT_ACTION: &str = "audit-action";
}

/// Every place an item that can be archived is exported.
const ARCHIVABLE: &[&str] = &[
    "Condition",
    "Goal",
    "Task",
    "Observation",
    "Consent",
    "CareTeam.participant",
    "Annotation",
    "DocumentReference",
];

/// Every extension we define.
pub const EXTENSIONS: &[ExtensionDef] = &[
    ExtensionDef {
        name: ext::PRIORITY,
        title: "Priority or importance, 1 to 10",
        value: ValueType::Integer1To10,
        contexts: &["Goal", "Condition", "Observation"],
        description: "How important a goal, need, concern, problem or strength is to the person, as a whole number from 1 (least) to 10 (most). For a Goal, Goal.priority (high/medium/low) is derived from it: 8-10 high, 4-7 medium, 1-3 low.",
    },
    ExtensionDef {
        name: ext::CONFIDENCE,
        title: "Confidence to carry out an action, 1 to 10",
        value: ValueType::Integer1To10,
        contexts: &["Task"],
        description: "How confident the person is to carry out the action, from 1 (not at all) to 10 (completely).",
    },
    ExtensionDef {
        name: ext::WHY_IT_MATTERS,
        title: "Why the goal matters to the person",
        value: ValueType::String,
        contexts: &["Goal"],
        description: "In the person's words, why this goal or hope matters to them.",
    },
    ExtensionDef {
        name: ext::FUNDING_SOURCE,
        title: "Care funding source",
        value: ValueType::Coding(cs::FUNDING_SOURCE),
        contexts: &["CarePlan"],
        description: "The source of funding for the person's care (the source only: never amounts or funding details).",
    },
    ExtensionDef {
        name: ext::FUNDING_DETAILS_HELD_AT,
        title: "Where the funding details are held",
        value: ValueType::String,
        contexts: &["CarePlan"],
        description: "A reference to the document or system that holds the funding details; never the details or amounts themselves.",
    },
    ExtensionDef {
        name: ext::AGREEMENT_NOT_OBTAINED_REASON,
        title: "Why agreement of the plan could not be obtained",
        value: ValueType::String,
        contexts: &["Consent"],
        description: "When neither the person nor a legitimate representative agreed this version of the plan, the reason.",
    },
    ExtensionDef {
        name: ext::LEGAL_AUTHORITY,
        title: "Legal authority of a representative",
        value: ValueType::Coding(cs::LEGAL_AUTHORITY),
        contexts: &["RelatedPerson"],
        description: "The legal authority under which a representative acts for the person (Mental Capacity Act 2005): lasting power of attorney for health and welfare, a court-appointed deputy, or another authority.",
    },
    ExtensionDef {
        name: ext::LEGAL_AUTHORITY_REFERENCE,
        title: "Reference of the legal authority",
        value: ValueType::String,
        contexts: &["RelatedPerson"],
        description: "A reference that evidences the representative's authority, such as the Office of the Public Guardian registration reference.",
    },
    ExtensionDef {
        name: ext::ARCHIVED,
        title: "Archived from the current plan",
        value: ValueType::DateTime,
        contexts: ARCHIVABLE,
        description: "The item was archived at this time: it is no longer part of the current plan, and earlier versions still show it. FHIR has no archived state of its own.",
    },
    ExtensionDef {
        name: ext::ARCHIVE_REASON,
        title: "Why the item was archived",
        value: ValueType::String,
        contexts: ARCHIVABLE,
        description: "The reason given when the item was archived.",
    },
    ExtensionDef {
        name: ext::PERFORMER_ORGANISATION,
        title: "Organisation of the performer of an action",
        value: ValueType::String,
        contexts: &["Task"],
        description: "The organisation of the named person who carries out the action (Task.owner holds the person), so that the organisation's own system can find its actions.",
    },
    ExtensionDef {
        name: ext::ACTION_TIMING,
        title: "When or how often an action happens",
        value: ValueType::String,
        contexts: &["Task"],
        description: "When or how often the action is carried out, in words, such as 'every Tuesday morning'.",
    },
    ExtensionDef {
        name: ext::AUDIENCE_ROLE,
        title: "The role an access preference is about",
        value: ValueType::Coding(cs::ROLE),
        contexts: &["Consent.provision.actor"],
        description: "The access preference applies to everyone acting in this role.",
    },
    ExtensionDef {
        name: ext::COMMENT_SECTION,
        title: "The section a comment is about",
        value: ValueType::Coding(cs::PLAN_SECTION),
        contexts: &["Annotation"],
        description: "A comment on a whole section of the plan rather than on the plan or one item.",
    },
    ExtensionDef {
        name: ext::COMMENT_ON_ITEM,
        title: "The plan item a comment is about",
        value: ValueType::String,
        contexts: &["Annotation"],
        description: "The id of the plan item a comment is about, for items whose FHIR resource has no note element of its own (agreements, access preferences, care team members).",
    },
    ExtensionDef {
        name: ext::ATTACHMENT_SHA256,
        title: "SHA-256 digest of an attached file",
        value: ValueType::String,
        contexts: &["Attachment"],
        description: "The SHA-256 digest of the attached file's bytes, as 64 lower-case hexadecimal characters. Attachment.hash is SHA-1 in FHIR R4, so the SHA-256 that addresses the file travels here instead.",
    },
    ExtensionDef {
        name: ext::DOCUMENT_SECTION,
        title: "The section an attachment or link is about",
        value: ValueType::Coding(cs::PLAN_SECTION),
        contexts: &["DocumentReference"],
        description: "An attachment or hyperlink added to a whole section of the plan rather than to the plan or one item.",
    },
    ExtensionDef {
        name: ext::DOCUMENT_ON_ITEM,
        title: "The plan item an attachment or link is about",
        value: ValueType::String,
        contexts: &["DocumentReference"],
        description: "The id of the plan item an attachment or hyperlink is about, for items that have no FHIR resource of their own (care team members, comments); items with a resource are named in DocumentReference.context.related instead.",
    },
    ExtensionDef {
        name: ext::CAPACITY_STEPS,
        title: "Steps taken to maximise the person's capacity",
        value: ValueType::String,
        contexts: &["CarePlan"],
        description: "What has been done to help the person make their own decisions about the plan (Mental Capacity Act 2005, s1(3)): information in a form they understand, the right time and place, the people they want present.",
    },
    ExtensionDef {
        name: ext::RIGHTS_PROMOTION,
        title: "How the person's rights are promoted",
        value: ValueType::String,
        contexts: &["CarePlan"],
        description: "How the person's rights, choice and control are promoted in the plan, in words.",
    },
    ExtensionDef {
        name: ext::MCA_DECISION,
        title: "The specific decision (Mental Capacity Act 2005)",
        value: ValueType::String,
        contexts: &["Observation"],
        description: "The one decision a mental capacity assessment or a best-interest decision is about: capacity is assessed decision by decision, never in general.",
    },
    ExtensionDef {
        name: ext::BEST_INTEREST_CONSULTED,
        title: "Someone consulted on a best-interest decision",
        value: ValueType::String,
        contexts: &["Observation"],
        description: "A person consulted before a best-interest decision (Mental Capacity Act 2005, s4(7)): family, carers, an attorney, an independent mental capacity advocate. Repeats, one per person.",
    },
];

/// The definition of one of our extensions by name.
pub fn extension(name: &str) -> Option<&'static ExtensionDef> {
    EXTENSIONS.iter().find(|e| e.name == name)
}

/// The canonical URL of one of our extensions. Panics on a name we do not define (a bug).
pub fn extension_url(name: &str) -> String {
    extension(name)
        .unwrap_or_else(|| panic!("no extension named {name}"))
        .url()
}

/// The canonical URL of one of our code systems.
pub fn code_system_url(name: &str) -> String {
    format!("{CODE_SYSTEM_BASE}{name}")
}

/// The R4 StructureDefinition of one of our extensions, as served at its URL.
pub fn structure_definition(name: &str) -> Option<Value> {
    let def = extension(name)?;
    let url = def.url();
    let mut value = json!({
        "id": "Extension.value[x]",
        "path": "Extension.value[x]",
        "short": def.title,
        "min": 1,
        "type": [{"code": def.value.fhir_type()}],
    });
    match def.value {
        ValueType::Integer1To10 => {
            value["minValueInteger"] = json!(1);
            value["maxValueInteger"] = json!(10);
        }
        ValueType::Coding(system) => {
            value["patternCoding"] = json!({"system": code_system_url(system)});
        }
        ValueType::String | ValueType::DateTime => {}
    }
    let contexts: Vec<Value> = def
        .contexts
        .iter()
        .map(|c| json!({"type": "element", "expression": c}))
        .collect();
    Some(json!({
        "resourceType": "StructureDefinition",
        "id": def.name,
        "url": url,
        "version": CONFORMANCE_VERSION,
        "name": pascal_case(def.name),
        "title": def.title,
        "status": "active",
        "publisher": "careplan",
        "description": def.description,
        "fhirVersion": "4.0.1",
        "kind": "complex-type",
        "abstract": false,
        "context": contexts,
        "type": "Extension",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Extension",
        "derivation": "constraint",
        "differential": {"element": [
            {
                "id": "Extension",
                "path": "Extension",
                "short": def.title,
                "definition": def.description,
                "min": 0,
                "max": if REPEATING.contains(&def.name) { "*" } else { "1" },
            },
            {"id": "Extension.extension", "path": "Extension.extension", "max": "0"},
            {"id": "Extension.url", "path": "Extension.url", "fixedUri": url},
            value,
        ]},
    }))
}

/// Every StructureDefinition we publish.
pub fn structure_definitions() -> Vec<Value> {
    EXTENSIONS
        .iter()
        .filter_map(|e| structure_definition(e.name))
        .collect()
}

/// One concept of a code system.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Concept {
    pub code: String,
    pub display: String,
}

/// One of our code systems: name, title, description and concepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeSystemDef {
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
    pub concepts: Vec<Concept>,
}

fn concepts<T: Serialize + Copy>(values: &[T], label: impl Fn(T) -> String) -> Vec<Concept> {
    values
        .iter()
        .map(|v| Concept {
            code: code_of(v),
            display: label(*v),
        })
        .collect()
}

fn fixed(pairs: &[(&str, &str)]) -> Vec<Concept> {
    pairs
        .iter()
        .map(|(code, display)| Concept {
            code: (*code).to_owned(),
            display: (*display).to_owned(),
        })
        .collect()
}

/// Every code system we define.
pub fn code_system_defs() -> Vec<CodeSystemDef> {
    vec![
        CodeSystemDef {
            name: cs::FUNDING_SOURCE,
            title: "Care funding sources in the UK",
            description: "Where the money for a person's care and support comes from, as UK health and social care name the sources (UKCore-FundingCategory lacks them).",
            concepts: concepts(&FUNDING_SOURCES, |k| capitalise(k.label())),
        },
        CodeSystemDef {
            name: cs::GOAL_LABEL,
            title: "Goal or hope",
            description: "Whether a goal is called a goal (health) or a hope (social care); both are the same record.",
            concepts: concepts(&[GoalLabel::Goal, GoalLabel::Hope], |l| {
                capitalise(l.label())
            }),
        },
        CodeSystemDef {
            name: cs::PERFORMER_KIND,
            title: "Who carries out an action",
            description: "The kind of participant who carries out an action of the plan.",
            concepts: concepts(&PERFORMER_KINDS, |k| capitalise(k.label())),
        },
        CodeSystemDef {
            name: cs::LEGAL_AUTHORITY,
            title: "Legal authority of a representative",
            description: "The authority under which a legal representative acts for a person (Mental Capacity Act 2005).",
            concepts: concepts(&LEGAL_AUTHORITIES, |a| capitalise(a.label())),
        },
        CodeSystemDef {
            name: cs::CONDITION_KIND,
            title: "Kinds of need",
            description: "Condition categories that HL7's condition-category lacks: an assessed need (eLTSS style), a health or care deficit that motivates care activity.",
            concepts: fixed(&[("assessed-need", "Assessed need")]),
        },
        CodeSystemDef {
            name: cs::CONCERN_DOMAIN,
            title: "Domain of a concern",
            description: "The domain a concern belongs to, as the PRSB standard names them.",
            concepts: concepts(&CONCERN_DOMAINS, |d| capitalise(d.label())),
        },
        CodeSystemDef {
            name: cs::RAISED_BY,
            title: "Who raised a need or concern",
            description: "Whose need or concern it is: the person, a carer or a professional.",
            concepts: concepts(&RAISED_BYS, |r| capitalise(r.label())),
        },
        CodeSystemDef {
            name: cs::OBSERVATION_KIND,
            title: "Kinds of care plan observation",
            description: "What an Observation of the care plan records.",
            concepts: fixed(&[
                ("strength", "Strength"),
                ("goal-progress", "Progress towards a goal"),
                ("goal-outcome", "Outcome of a goal"),
                (
                    "capacity-assessment",
                    "Decision-specific mental capacity assessment (Mental Capacity Act 2005, s2-3)",
                ),
                (
                    "best-interest-decision",
                    "Best-interest decision (Mental Capacity Act 2005, s4)",
                ),
            ]),
        },
        CodeSystemDef {
            name: cs::PROGRESS_SCALE,
            title: "Progress scales",
            description: "The scale a progress record is on: goal attainment scaling (-2 to +2) or 0 to 10.",
            concepts: concepts(
                &[ProgressScale::GoalAttainment, ProgressScale::ZeroToTen],
                |s| capitalise(s.label()),
            ),
        },
        CodeSystemDef {
            name: cs::OUTCOME_STATUS,
            title: "Outcome of a goal",
            description: "Whether the outcome of a goal was achieved, partly achieved or not achieved.",
            concepts: concepts(&OUTCOME_STATUSES, |s| capitalise(s.label())),
        },
        CodeSystemDef {
            name: cs::PLAN_SECTION,
            title: "Sections of a care and support plan",
            description: "The sections of a PRSB care and support plan, for comments and access preferences.",
            concepts: concepts(&Section::ALL, |s| s.title().to_owned()),
        },
        CodeSystemDef {
            name: cs::ROLE,
            title: "Roles people act in",
            description: "The roles in which people and systems read and change a care and support plan.",
            concepts: concepts(&Role::ALL, |r| capitalise(r.label())),
        },
        CodeSystemDef {
            name: cs::TASK_KIND,
            title: "Kinds of care plan task",
            description: "Tasks about the plan itself rather than an action of it.",
            concepts: fixed(&[
                ("plan-review", "Review of the care and support plan"),
                ("action-change", "Suggested change to an action"),
            ]),
        },
        CodeSystemDef {
            name: cs::ACTION_CHANGE,
            title: "What a suggested change to an action changes",
            description: "The parts of an action a suggestion proposes to change, one Task.input each: the goal it works towards, its description, who carries it out (kind, name, organisation), when or how often, its status and the person's confidence; timing-removed and confidence-removed propose to clear those.",
            concepts: fixed(&[
                ("goal", "The goal the action works towards"),
                ("description", "The action's description"),
                (
                    "performer-kind",
                    "Who carries out the action: the kind of participant",
                ),
                ("performer-name", "Who carries out the action: their name"),
                (
                    "performer-organisation",
                    "Who carries out the action: their organisation",
                ),
                ("timing", "When or how often the action happens"),
                ("timing-removed", "No longer says when or how often"),
                ("status", "The action's status (as Task.status)"),
                ("confidence", "The person's confidence, 1 to 10"),
                (
                    "confidence-removed",
                    "No longer records the person's confidence",
                ),
            ]),
        },
        CodeSystemDef {
            name: cs::AUDIT_ACTION,
            title: "What an audited access to a care plan did",
            description: "The audit trail's own names for what was done (AuditEvent.subtype beside the DICOM and HL7 codes): every read and write of plan data, and a data controller's release (an override of the person's consent preferences) and its use.",
            concepts: fixed(&[
                ("read_plan", "Read the current plan"),
                ("read_version", "Read an earlier version of the plan"),
                ("read_history", "Read the list of the plan's versions"),
                ("read_versions", "Read several versions of the plan at once"),
                ("read_diff", "Compared two versions of the plan"),
                ("create_plan", "Started a plan"),
                ("write", "Changed the plan (a new version)"),
                (
                    "release_created",
                    "Released a restricted plan or section (override)",
                ),
                (
                    "release_used",
                    "Read under a data controller's release (override)",
                ),
            ]),
        },
        CodeSystemDef {
            name: cs::CAPACITY_OUTCOME,
            title: "Outcome of a mental capacity assessment",
            description: "Whether the person has or lacks capacity for the one decision assessed (Mental Capacity Act 2005, s2-3).",
            concepts: concepts(
                &[CapacityOutcome::HasCapacity, CapacityOutcome::LacksCapacity],
                |o| capitalise(o.label()),
            ),
        },
        CodeSystemDef {
            name: cs::ATTACHMENT_PURPOSE,
            title: "Why something is attached to a plan",
            description: "The purpose of an attachment or hyperlink of a care and support plan, in the PRSB standard's words.",
            concepts: concepts(&PURPOSES, |p| capitalise(p.label())),
        },
    ]
}

/// The R4 CodeSystem resource of one of our code systems.
pub fn code_system(name: &str) -> Option<Value> {
    let def = code_system_defs().into_iter().find(|d| d.name == name)?;
    let concept: Vec<Value> = def
        .concepts
        .iter()
        .map(|c| json!({"code": c.code, "display": c.display}))
        .collect();
    Some(json!({
        "resourceType": "CodeSystem",
        "id": def.name,
        "url": code_system_url(def.name),
        "version": CONFORMANCE_VERSION,
        "name": pascal_case(def.name),
        "title": def.title,
        "status": "active",
        "publisher": "careplan",
        "description": def.description,
        "caseSensitive": true,
        "content": "complete",
        "count": concept.len(),
        "concept": concept,
    }))
}

/// Every CodeSystem we publish.
pub fn code_systems() -> Vec<Value> {
    code_system_defs()
        .iter()
        .filter_map(|d| code_system(d.name))
        .collect()
}

/// The display of a code in one of our code systems.
pub fn display(system: &str, code: &str) -> Option<String> {
    code_system_defs()
        .into_iter()
        .find(|d| d.name == system)?
        .concepts
        .into_iter()
        .find(|c| c.code == code)
        .map(|c| c.display)
}

/// A Coding in one of our code systems for a model value.
pub fn coding<T: Serialize>(system: &str, value: &T) -> Value {
    let code = code_of(value);
    let display = display(system, &code).unwrap_or_else(|| code.clone());
    json!({"system": code_system_url(system), "code": code, "display": display})
}

/// A Coding of a fixed code in one of our code systems. Panics on a code the system lacks (a bug).
pub fn coding_fixed(system: &str, code: &str) -> Value {
    let display = display(system, code).unwrap_or_else(|| panic!("{system} has no code {code}"));
    json!({"system": code_system_url(system), "code": code, "display": display})
}

/// The code of a model enum value: its serde name with hyphens (`nhs-continuing-healthcare`).
pub fn code_of<T: Serialize>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(Value::String(s)) => s.replace('_', "-"),
        // Every enum passed here is a unit-variant enum that serialises as a string.
        other => panic!("not a code: {other:?}"),
    }
}

/// The model enum value of a code, if the code is one of its values.
pub fn parse_code<T: DeserializeOwned>(code: &str) -> Option<T> {
    if code.contains('_') {
        return None;
    }
    serde_json::from_value(Value::String(code.replace('-', "_"))).ok()
}

fn pascal_case(name: &str) -> String {
    name.split('-').map(capitalise).collect()
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

// The value lists of the model's enums. Each `match` below has no wildcard, so adding a variant
// to the model fails to compile here until the list (and so the code system) has it too.

const FUNDING_SOURCES: [FundingSourceKind; 8] = [
    FundingSourceKind::PersonalBudget,
    FundingSourceKind::PersonalHealthBudget,
    FundingSourceKind::DirectPayment,
    FundingSourceKind::NhsContinuingHealthcare,
    FundingSourceKind::LocalAuthority,
    FundingSourceKind::SelfFunded,
    FundingSourceKind::Joint,
    FundingSourceKind::Other,
];
const PERFORMER_KINDS: [PerformerKind; 6] = [
    PerformerKind::Person,
    PerformerKind::Carer,
    PerformerKind::Representative,
    PerformerKind::Practitioner,
    PerformerKind::Organisation,
    PerformerKind::Other,
];
const LEGAL_AUTHORITIES: [LegalAuthority; 3] = [
    LegalAuthority::LastingPowerOfAttorneyHealthAndWelfare,
    LegalAuthority::CourtAppointedDeputy,
    LegalAuthority::Other,
];
const CONCERN_DOMAINS: [ConcernDomain; 3] = [
    ConcernDomain::Biological,
    ConcernDomain::Psychological,
    ConcernDomain::Social,
];
const PURPOSES: [Purpose; 8] = [
    Purpose::Guidance,
    Purpose::LearningMaterial,
    Purpose::ExplanatoryNote,
    Purpose::ProgressPicture,
    Purpose::Diagram,
    Purpose::Recording,
    Purpose::Document,
    Purpose::Other,
];
const RAISED_BYS: [RaisedBy; 3] = [RaisedBy::Person, RaisedBy::Carer, RaisedBy::Professional];
const OUTCOME_STATUSES: [OutcomeStatus; 3] = [
    OutcomeStatus::Achieved,
    OutcomeStatus::PartlyAchieved,
    OutcomeStatus::NotAchieved,
];

/// Fails to compile when the model gains a value that a list above lacks.
#[allow(dead_code)]
mod completeness {
    use super::*;

    fn funding(f: FundingSourceKind) {
        use FundingSourceKind as F;
        match f {
            F::PersonalBudget
            | F::PersonalHealthBudget
            | F::DirectPayment
            | F::NhsContinuingHealthcare
            | F::LocalAuthority
            | F::SelfFunded
            | F::Joint
            | F::Other => {}
        }
    }

    fn performer(p: PerformerKind) {
        use PerformerKind as P;
        match p {
            P::Person
            | P::Carer
            | P::Representative
            | P::Practitioner
            | P::Organisation
            | P::Other => {}
        }
    }

    fn authority(l: LegalAuthority) {
        use LegalAuthority as L;
        match l {
            L::LastingPowerOfAttorneyHealthAndWelfare | L::CourtAppointedDeputy | L::Other => {}
        }
    }

    fn domain(d: ConcernDomain) {
        match d {
            ConcernDomain::Biological | ConcernDomain::Psychological | ConcernDomain::Social => {}
        }
    }

    fn purpose(p: Purpose) {
        use Purpose as P;
        match p {
            P::Guidance
            | P::LearningMaterial
            | P::ExplanatoryNote
            | P::ProgressPicture
            | P::Diagram
            | P::Recording
            | P::Document
            | P::Other => {}
        }
    }

    fn raised(r: RaisedBy) {
        match r {
            RaisedBy::Person | RaisedBy::Carer | RaisedBy::Professional => {}
        }
    }

    fn outcome(o: OutcomeStatus) {
        match o {
            OutcomeStatus::Achieved
            | OutcomeStatus::PartlyAchieved
            | OutcomeStatus::NotAchieved => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp13_funding_source_code_system_has_the_uk_sources() {
        let cs = code_system("funding-source").unwrap();
        assert_eq!(
            cs["url"],
            "https://careplan.example/fhir/CodeSystem/funding-source"
        );
        let codes: Vec<&str> = cs["concept"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["code"].as_str().unwrap())
            .collect();
        for wanted in [
            "personal-budget",
            "personal-health-budget",
            "direct-payment",
            "nhs-continuing-healthcare",
            "local-authority",
            "self-funded",
            "joint",
        ] {
            assert!(codes.contains(&wanted), "{wanted} missing from {codes:?}");
        }
        assert_eq!(cs["count"], codes.len());
    }

    #[test]
    fn codes_round_trip_through_model_enums() {
        let code = code_of(&FundingSourceKind::NhsContinuingHealthcare);
        assert_eq!(code, "nhs-continuing-healthcare");
        assert_eq!(
            parse_code::<FundingSourceKind>(&code),
            Some(FundingSourceKind::NhsContinuingHealthcare)
        );
        assert_eq!(
            parse_code::<FundingSourceKind>("nhs_continuing_healthcare"),
            None
        );
        assert_eq!(parse_code::<FundingSourceKind>("lottery"), None);
    }

    #[test]
    fn every_extension_has_a_structure_definition_at_its_url() {
        for e in EXTENSIONS {
            let sd = structure_definition(e.name).unwrap();
            assert_eq!(sd["url"], e.url());
            assert_eq!(sd["type"], "Extension");
            assert_eq!(sd["derivation"], "constraint");
            assert_eq!(sd["kind"], "complex-type");
            let elements = sd["differential"]["element"].as_array().unwrap();
            assert!(elements.iter().any(|el| el["path"] == "Extension.value[x]"));
        }
        assert!(structure_definition("colour").is_none());
        let names: std::collections::BTreeSet<_> = EXTENSIONS.iter().map(|e| e.name).collect();
        assert_eq!(names.len(), EXTENSIONS.len(), "extension names are unique");
    }

    #[test]
    fn priority_extension_is_an_integer_from_one_to_ten() {
        let sd = structure_definition("priority").unwrap();
        let value = &sd["differential"]["element"][3];
        assert_eq!(value["type"][0]["code"], "integer");
        assert_eq!(value["minValueInteger"], 1);
        assert_eq!(value["maxValueInteger"], 10);
        assert_eq!(
            sd["url"],
            "https://careplan.example/fhir/StructureDefinition/priority"
        );
    }
}
