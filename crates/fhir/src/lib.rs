//! The care and support plan as HL7 FHIR R4 (4.0.1) JSON.
//!
//! A pure library, like the model it maps: no I/O, no clock, no randomness. A server or the CLI
//! reads a plan from the store, calls [`plan_bundle`] or [`resource`], and sends the JSON; or
//! reads a Bundle, calls [`commands_from_bundle`], and applies the commands through the store.
//!
//! # Mapping
//!
//! | plan | FHIR R4 |
//! | --- | --- |
//! | plan | `CarePlan` (id = plan id): `status`, `intent` plan, category SNOMED CT 734163000 \|Care plan\|, `subject`, `careTeam`, `addresses` (active needs, concerns, problems), `supportingInfo` (active strengths, then active attachments and links), `goal` (active goals in the person's order), `activity.reference` (active actions), `note` (comments on the plan or a section); funding source as extensions |
//! | person | `Patient` (id = person id): official and usual `name`, `birthDate`, NHS number (`https://fhir.nhs.uk/Id/nhs-number`) and other `identifier`s |
//! | care team | `CareTeam` (id = `<plan>-care-team`), one `participant` per member (element id = item id) |
//! | need / concern / problem | `Condition` (id = item id), `category` `assessed-need` (ours) / `health-concern` / `problem-list-item` (HL7 condition-category); a concern's domain as a second category; who raised it as `asserter`; a problem's SNOMED CT code in `code.coding` and its problem-list link in `identifier`; importance as the `priority` extension; `clinicalStatus` inactive when archived |
//! | strength | `Observation` with code `strength`, `valueString`, `focus` → the goals it supports |
//! | goal / hope | `Goal`: `description`, `lifecycleStatus` + `achievementStatus`, category goal or hope, `target.dueDate`, `addresses`, `outcomeReference`; priority 1–10 and why it matters as extensions, `Goal.priority` high/medium/low derived (8–10, 4–7, 1–3) |
//! | the person's order of goals | `List` (id = `<plan>-goal-order`), ordered by priority |
//! | action | `Task`: `description`, `status`, `intent` plan, `for`, `basedOn` → CarePlan, `performerType` (who: person, carer…), `owner` (display of the named performer), HL7 `resource-pertainsToGoal`, confidence, timing and performer-organisation extensions |
//! | suggested change to an action | `Task` with `intent` proposal and `code` `action-change` (our `task-kind`), `focus` → the action's Task, `basedOn` → CarePlan; one `input` per proposed change, typed from our `action-change` CodeSystem (`goal` as a Reference, `description`, `performer-kind` / `-name` / `-organisation`, `timing`, `status` as the action's `Task.status` code, `confidence`, and `timing-removed` / `confidence-removed` to clear); the suggester's note as the first `note`; `status` requested (open), completed (accepted: the edit was made), rejected (declined, the reason in `statusReason`) |
//! | review date | `Task` (id = `<plan>-review`) with code `plan-review`, `focus` → CarePlan, `restriction.period.end` |
//! | progress record | `Observation` code `goal-progress`, `focus` → Goal, `effectiveDateTime`, `valueInteger`, scale in `method`, its note as the first `note` |
//! | outcome | `Observation` code `goal-outcome`, `focus` → Goal, status in `valueCodeableConcept`, description as the first `note` |
//! | mental capacity assessment | `Observation` code `capacity-assessment` (MCA 2005 s2–3): the one decision assessed in the `mca-decision` extension, `performer` (display) who assessed, `effectiveDateTime` when, `valueCodeableConcept` the outcome (our `capacity-outcome` CodeSystem: has or lacks capacity for this decision), the reasoning as the first `note` |
//! | best-interest decision | `Observation` code `best-interest-decision` (MCA 2005 s4): the decision in `mca-decision`, each person consulted in a `best-interest-consulted` extension (repeats), `performer` (display) the decision maker, `effectiveDateTime` when, `valueString` the rationale, `derivedFrom` → the capacity assessment it rests on |
//! | steps to maximise capacity, how rights are promoted | `capacity-steps` and `rights-promotion` extensions on the CarePlan |
//! | attachment | `DocumentReference` (id = item id): `status` current (archived: the `archived` extension), `category` the purpose (our `attachment-purpose` CodeSystem), `subject`, `date` and `author` (display) when and by whom it was added, `description` the text alternative, `content[0].attachment` with `contentType`, `size`, `title`, `url` `/api/v1/people/{person}/plan/attachments/{id}/content` (relative to the server, where the JSON API serves the file), with the file itself as base64 `data` when exported with the files inline and the SHA-256 as the `attachment-sha256` extension (R4's `hash` is SHA-1, so it is left out); what it is attached to in `context.related` (the CarePlan, or the item's resource), or the `document-section` / `document-on-item` extension for a section or an item with no resource of its own (a care team member, a comment) |
//! | hyperlink | `DocumentReference` as for an attachment, with `content[0].attachment` holding only the link's `url` and `title` (no `attachment-sha256`: that is how an import tells the two apart) |
//! | comment | `Annotation` (element id = comment id) in the `note` of the item's resource, or of the CarePlan for the plan, a section (`comment-section` extension) or an item with no note of its own (`comment-on-item`) |
//! | agreement | `Consent` scope `treatment`, `provision.data` → `CarePlan/<id>/_history/<agreed version>`, `performer` the Patient or a contained `RelatedPerson` with legal authority extensions; `status` active, or inactive once the plan changed after it (CSP-12); not obtained: no `provision.type` and the reason as an extension |
//! | access preference | `Consent` scope `patient-privacy`, `provision.type` permit/deny, `provision.actor` a role (extension) or an organisation, `provision.code` the section |
//! | funding source | `funding-source` (Coding from our CodeSystem) and `funding-details-held-at` extensions on the CarePlan |
//! | archived | the FHIR status where one fits and the `archived` (+ `archive-reason`) extension everywhere |
//! | version | every resource's `meta.versionId` / `meta.lastUpdated` is the plan's (CSP-14); one `Provenance` per version; the whole plan at a version as a `document` Bundle with a `Composition` (`document`), attested by whoever agreed exactly that version |
//!
//! Extensions and code systems are listed in [`terminology`], each with its canonical URL under
//! `https://careplan.example/fhir/`, and are served as StructureDefinition and CodeSystem
//! resources by [`structure_definition`] and [`code_system`].
//!
//! # Not exported
//!
//! The bytes of attachments, unless asked for ([`export::inline_files`]), the review flag on
//! goals (CSP-11, a state the model derives), and care-team members' sign-in accounts (an
//! internal link) are not part of the FHIR view.
//! A comment on an item that is not exported refers to an id the Bundle does not have, and
//! importing it is refused with that id named.
//!
//! # Import: refuse, never drop
//!
//! [`commands_from_bundle`] accepts a Bundle of type `collection`, `transaction` (POST or PUT
//! entries) or `searchset`, with references as `Type/id`, absolute URLs or `urn:uuid:` fullUrls.
//! Every element and extension the model cannot hold is **refused** with an issue that names it
//! (for example `Bundle.entry[0].resource.gender`): an import either keeps everything it was
//! given or changes nothing. The only things read and not kept are those the plan derives
//! itself, each checked where it can be:
//!
//! - `meta` (`versionId`, `lastUpdated`, `profile`, `source`) and a narrative with status
//!   `generated`: the importing system makes its own versions and narrative;
//! - the CarePlan's `addresses`, `goal`, `supportingInfo`, `activity.reference`, `careTeam` and
//!   the Goal's `outcomeReference` (each must name an entry of the Bundle): they are derived from
//!   the items' own links;
//! - `Goal.priority` (must agree with the `priority` extension), the representative's HL7 role
//!   coding, reference `display`s;
//! - who wrote a comment and when (`Annotation.authorString`, `time`), who added an attachment
//!   or link and when (`DocumentReference.author`, `date`) and when an item was archived: the
//!   import's version stamps them, as for any change (stated in [`ImportPlan::notes`]);
//! - an attachment's `content.attachment.url`, which must be the address derived from the
//!   Patient's and the attachment's ids (another address is refused);
//! - `Provenance`: the source system's history; the import makes new versions (also stated in
//!   the notes);
//! - the ids of access preferences, which the model derives from the version that created them.
//!
//! Item ids survive (the resource id, or `<kind>-<uuid>` for a `urn:uuid:` entry without one),
//! as do the plan and person ids when valid. The commands are ordered so the model accepts
//! them: plan details, care team, strengths/needs/concerns/problems, goals (in the order of the
//! `List`), actions, suggested changes to them (then their acceptances and refusals, then an
//! edit of each action whose state the accepted edits left different from the Bundle's), progress
//! and outcomes, capacity assessments then the best-interest decisions
//! that rest on them, attachments and links (those on a comment after the
//! comments; one on an agreement or access preference, which come later, is refused by the
//! scratch-plan check), comments, funding and the steps to maximise capacity, access preferences, archives
//! (actions, goals, then the rest), and agreements last — an agreement for an earlier version
//! (`Consent.status` inactive) just before the last change to the content, so the imported plan
//! shows it as for an earlier version too. The commands are tried on a scratch plan before they
//! are returned, so a rule the Bundle breaks is reported against the entry that broke it.

pub mod export;
pub mod import;
pub mod issue;
pub mod terminology;

pub use export::{
    ResourceKind, VersionMeta, bundle, care_plan_for_performer, derived_id, document, inline_files,
    performer_bundle, plan_bundle, provenance, provenance_id, resource, resources,
};
pub use import::{ImportPlan, ImportedFile, commands_from_bundle};
pub use issue::{FhirIssue, IssueType, Severity, operation_outcome};
pub use terminology::{
    EXTENSIONS, code_system, code_systems, structure_definition, structure_definitions,
};
