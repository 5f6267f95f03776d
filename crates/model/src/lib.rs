//! The PRSB care and support plan as types and rules.
//!
//! A [`Plan`] is a set of items (strengths, needs, goals, actions…) linked to each other. Every
//! change is a [`Command`]; [`apply`] turns a plan and a command into the next plan, or into the
//! list of [`Issue`]s that stop it. Nothing here does I/O, reads a clock or makes random ids:
//! time and ids come in as values, so every rule can be tested alone and replayed exactly.

pub mod access;
pub mod action;
pub mod agreement;
pub mod apply;
pub mod attachment;
pub mod command;
pub mod comment;
pub mod consent;
pub mod diff;
pub mod focus;
pub mod funding;
pub mod goal;
pub mod invariants;
pub mod issue;
pub mod items;
pub mod meta;
pub mod need;
pub mod outcome;
pub mod person;
pub mod plan;
pub mod schedule;
pub mod strength;
pub mod suggestion;
pub mod values;

pub use access::{
    Access, Denial, Release, Requester, decide, may_command, redact, sections_touched,
};
pub use action::{Action, ActionStatus, Performer, PerformerKind};
pub use agreement::{
    AgreedBy, Agreement, AgreementOutcome, BestInterestDecision, CapacityAssessment,
    CapacityOutcome, CapacitySupport, LegalAuthority,
};
pub use apply::{Applied, apply, start};
pub use attachment::{Attachment, Hyperlink, Purpose, Sha256Hex, WebAddress};
pub use command::{ActionMove, Change, Command};
pub use comment::{Comment, Target};
pub use consent::{Audience, ConsentPreference, ConsentScope, Viewer, Withheld, withheld_from};
pub use diff::{ChangeKind, Description, FieldChange, ItemChange, PlanDiff, describe, diff};
pub use focus::{Focus, focus_of};
pub use funding::{FundingSource, FundingSourceKind};
pub use goal::{Goal, GoalLabel, GoalStatus, ReviewFlag};
pub use issue::{Issue, IssueCode};
pub use items::{ItemMut, Items};
pub use meta::{Actor, Archived, ItemMeta, Role, Stamp};
pub use need::{
    Concern, ConcernDomain, ExternalReference, Need, Problem, RaisedBy, SctId, SnomedConcept,
};
pub use outcome::{Outcome, OutcomeStatus, ProgressRecord, ProgressScale, ProgressValue};
pub use person::{Identifier, NhsNumber, Person};
pub use plan::{
    CareTeamMember, HasMeta, Item, ItemKey, ItemKind, ItemRef, PersonRecord, Plan, PlanDetails,
    PlanStatus, Section, deserialize_item,
};
pub use schedule::{CareSchedule, WeeklySchedule};
pub use strength::Strength;
pub use suggestion::{ActionChanges, Suggestion, SuggestionStatus};
pub use values::{
    Confidence, Date, InvalidValue, ItemId, PersonId, PlanId, Priority, Text, Timestamp,
    VersionNumber, parse_date,
};
