//! The plan as a whole: its sections, its items, and the item-level view the store versions.
//!
//! A plan is a set of items, each with a kind and an id unique within the plan. Storage versions
//! items one by one (a change writes only the items it touched), so this module also gives the
//! generic item view: [`ItemKey`], [`Item`], [`ItemRef`] and [`Plan::from_items`].

use serde::{Deserialize, Deserializer, Serialize};

use crate::action::Action;
use crate::agreement::{Agreement, BestInterestDecision, CapacityAssessment, CapacitySupport};
use crate::attachment::{Attachment, Hyperlink};
use crate::comment::Comment;
use crate::consent::ConsentPreference;
use crate::funding::FundingSource;
use crate::goal::Goal;
use crate::items::{ItemMut, Items};
use crate::meta::ItemMeta;
use crate::need::{Concern, Need, Problem};
use crate::outcome::{Outcome, ProgressRecord};
use crate::person::Person;
use crate::schedule::CareSchedule;
use crate::strength::Strength;
use crate::suggestion::Suggestion;
use crate::values::{Date, InvalidValue, ItemId, PersonId, PlanId, Text, Timestamp, VersionNumber};

/// The sections of a plan, as the standard and CSP-1 consent preferences name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Section {
    CareTeam,
    Strengths,
    Needs,
    Concerns,
    Problems,
    Goals,
    Actions,
    Outcomes,
    Agreement,
    Capacity,
    Funding,
}

impl Section {
    pub const ALL: [Section; 11] = [
        Section::CareTeam,
        Section::Strengths,
        Section::Needs,
        Section::Concerns,
        Section::Problems,
        Section::Goals,
        Section::Actions,
        Section::Outcomes,
        Section::Agreement,
        Section::Capacity,
        Section::Funding,
    ];

    /// The name used in JSON and query strings, e.g. `care_team`.
    pub fn key(self) -> &'static str {
        match self {
            Section::CareTeam => "care_team",
            Section::Strengths => "strengths",
            Section::Needs => "needs",
            Section::Concerns => "concerns",
            Section::Problems => "problems",
            Section::Goals => "goals",
            Section::Actions => "actions",
            Section::Outcomes => "outcomes",
            Section::Agreement => "agreement",
            Section::Capacity => "capacity",
            Section::Funding => "funding",
        }
    }

    /// The section named by its [`key`](Section::key).
    pub fn parse(key: &str) -> Option<Section> {
        Section::ALL.into_iter().find(|s| s.key() == key)
    }

    pub fn title(self) -> &'static str {
        match self {
            Section::CareTeam => "Care team",
            Section::Strengths => "Strengths",
            Section::Needs => "Needs",
            Section::Concerns => "Concerns",
            Section::Problems => "Problems",
            Section::Goals => "Goals and hopes",
            Section::Actions => "Actions",
            Section::Outcomes => "Outcomes",
            Section::Agreement => "Agreement",
            Section::Capacity => "Mental capacity",
            Section::Funding => "Care funding source",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum PlanStatus {
    #[default]
    Draft,
    Active,
    OnHold,
    Completed,
    Revoked,
}

impl PlanStatus {
    pub fn label(self) -> &'static str {
        match self {
            PlanStatus::Draft => "draft",
            PlanStatus::Active => "active",
            PlanStatus::OnHold => "on hold",
            PlanStatus::Completed => "completed",
            PlanStatus::Revoked => "revoked",
        }
    }
}

/// Plan-level facts: status and the date the plan is next reviewed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PlanDetails {
    pub meta: ItemMeta,
    pub person_id: PersonId,
    #[serde(default)]
    pub status: PlanStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review_date: Option<Date>,
}

/// The person's demographics as an item of their plan, so changes to them are versioned too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonRecord {
    pub meta: ItemMeta,
    pub person: Person,
}

/// A member of the person's care team: who is involved in their care.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CareTeamMember {
    pub meta: ItemMeta,
    pub name: Text,
    /// Their role in the person's care ("district nurse", "social worker").
    pub role: Text,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organisation: Option<Text>,
    /// The sign-in account of this member, when they have one, so access can follow membership.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account: Option<Text>,
}

/// Everything that has `meta`: lets generic code read and stamp any item.
pub trait HasMeta {
    fn meta(&self) -> &ItemMeta;
    fn meta_mut(&mut self) -> &mut ItemMeta;
}

macro_rules! plan_items {
    (
        singletons { $($s_field:ident : $s_kind:ident ( $s_ty:ty ) = $s_id:literal, $s_section:expr;)* }
        optional { $($o_field:ident : $o_kind:ident ( $o_ty:ty ) = $o_id:literal, $o_section:expr;)* }
        collections { $($c_field:ident : $c_kind:ident ( $c_ty:ty ), $c_section:expr;)* }
    ) => {
        /// The kinds of item a plan holds; the store keeps one row per item version.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum ItemKind { $($s_kind,)* $($o_kind,)* $($c_kind,)* }

        impl ItemKind {
            pub const ALL: &'static [ItemKind] = &[$(ItemKind::$s_kind,)* $(ItemKind::$o_kind,)* $(ItemKind::$c_kind,)*];

            /// The section the item belongs to, for consent decisions; `None` for the plan's
            /// own details and the person, which anyone with access to the plan sees.
            pub fn section(self) -> Option<Section> {
                match self {
                    $(ItemKind::$s_kind => $s_section,)*
                    $(ItemKind::$o_kind => $o_section,)*
                    $(ItemKind::$c_kind => $c_section,)*
                }
            }

            /// The stable name of the kind, used in storage and on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(ItemKind::$s_kind => stringify!($s_field),)*
                    $(ItemKind::$o_kind => stringify!($o_field),)*
                    $(ItemKind::$c_kind => stringify!($c_field),)*
                }
            }

            /// The fixed id of a plan-level item (details, person, funding…); `None` for kinds
            /// that have many items.
            pub fn fixed_id(self) -> Option<ItemId> {
                match self {
                    $(ItemKind::$s_kind => Some(ItemId::parse($s_id).expect("fixed id")),)*
                    $(ItemKind::$o_kind => Some(ItemId::parse($o_id).expect("fixed id")),)*
                    _ => None,
                }
            }

            pub fn parse(value: &str) -> Result<ItemKind, InvalidValue> {
                match value {
                    $(stringify!($s_field) => Ok(ItemKind::$s_kind),)*
                    $(stringify!($o_field) => Ok(ItemKind::$o_kind),)*
                    $(stringify!($c_field) => Ok(ItemKind::$c_kind),)*
                    other => Err(InvalidValue(format!("“{other}” is not a kind of plan item"))),
                }
            }
        }

        /// One item, owned.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub enum Item { $($s_kind($s_ty),)* $($o_kind($o_ty),)* $($c_kind($c_ty),)* }

        /// One item, borrowed from a plan. Serialises as the item itself (no tag): the kind is
        /// stored beside it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
        #[serde(untagged)]
        pub enum ItemRef<'a> { $($s_kind(&'a $s_ty),)* $($o_kind(&'a $o_ty),)* $($c_kind(&'a $c_ty),)* }

        impl ItemRef<'_> {
            pub fn to_owned_item(self) -> Item {
                match self {
                    $(ItemRef::$s_kind(v) => Item::$s_kind(v.clone()),)*
                    $(ItemRef::$o_kind(v) => Item::$o_kind(v.clone()),)*
                    $(ItemRef::$c_kind(v) => Item::$c_kind(v.clone()),)*
                }
            }
        }

        impl<'a> ItemRef<'a> {
            pub fn item_meta(self) -> &'a ItemMeta {
                match self {
                    $(ItemRef::$s_kind(v) => &v.meta,)*
                    $(ItemRef::$o_kind(v) => &v.meta,)*
                    $(ItemRef::$c_kind(v) => &v.meta,)*
                }
            }
        }

        $(impl HasMeta for $s_ty { fn meta(&self) -> &ItemMeta { &self.meta } fn meta_mut(&mut self) -> &mut ItemMeta { &mut self.meta } })*
        $(impl HasMeta for $o_ty { fn meta(&self) -> &ItemMeta { &self.meta } fn meta_mut(&mut self) -> &mut ItemMeta { &mut self.meta } })*
        $(impl HasMeta for $c_ty { fn meta(&self) -> &ItemMeta { &self.meta } fn meta_mut(&mut self) -> &mut ItemMeta { &mut self.meta } })*

        /// Reads one stored item of a known kind with any serde format.
        pub fn deserialize_item<'de, D: Deserializer<'de>>(kind: ItemKind, d: D) -> Result<Item, D::Error> {
            Ok(match kind {
                $(ItemKind::$s_kind => Item::$s_kind(<$s_ty>::deserialize(d)?),)*
                $(ItemKind::$o_kind => Item::$o_kind(<$o_ty>::deserialize(d)?),)*
                $(ItemKind::$c_kind => Item::$c_kind(<$c_ty>::deserialize(d)?),)*
            })
        }

        /// A care and support plan at one version.
        #[derive(Debug, Clone, PartialEq, Eq)]
        pub struct Plan {
            pub id: PlanId,
            pub version: VersionNumber,
            /// When the latest version was committed: the plan's "date last updated" (CSP-14),
            /// derived from the latest change anywhere in the plan.
            pub last_updated: Timestamp,
            $(pub $s_field: $s_ty,)*
            $(pub $o_field: Option<$o_ty>,)*
            $(pub $c_field: Items<$c_ty>,)*
        }

        impl Plan {
            /// Every item key in the plan, archived ones included.
            pub fn item_keys(&self) -> Vec<ItemKey> {
                let mut keys = Vec::new();
                $(keys.push(ItemKey { kind: ItemKind::$s_kind, id: ItemId::parse($s_id).expect("fixed id") });)*
                $(if self.$o_field.is_some() { keys.push(ItemKey { kind: ItemKind::$o_kind, id: ItemId::parse($o_id).expect("fixed id") }); })*
                $(keys.extend(self.$c_field.keys().map(|id| ItemKey { kind: ItemKind::$c_kind, id: id.clone() }));)*
                keys
            }

            /// The id of every item of the kinds that have many (archived ones included), by
            /// reference, with its kind.
            pub fn collection_ids(&self) -> Vec<(ItemKind, &ItemId)> {
                let mut ids = Vec::new();
                $(ids.extend(self.$c_field.keys().map(|id| (ItemKind::$c_kind, id)));)*
                ids
            }

            /// The fixed ids of plan-level items, which no other item may take.
            pub const FIXED_IDS: &'static [&'static str] = &[$($s_id,)* $($o_id,)*];

            pub fn get(&self, key: &ItemKey) -> Option<ItemRef<'_>> {
                match key.kind {
                    $(ItemKind::$s_kind => (key.id.as_str() == $s_id).then_some(ItemRef::$s_kind(&self.$s_field)),)*
                    $(ItemKind::$o_kind => self.$o_field.as_ref().filter(|_| key.id.as_str() == $o_id).map(ItemRef::$o_kind),)*
                    $(ItemKind::$c_kind => self.$c_field.get(&key.id).map(ItemRef::$c_kind),)*
                }
            }

            pub fn meta_mut(&mut self, key: &ItemKey) -> Option<&mut ItemMeta> {
                match key.kind {
                    $(ItemKind::$s_kind => (key.id.as_str() == $s_id).then_some(&mut self.$s_field.meta),)*
                    $(ItemKind::$o_kind => self.$o_field.as_mut().filter(|_| key.id.as_str() == $o_id).map(|v| &mut v.meta),)*
                    $(ItemKind::$c_kind => self.$c_field.get_mut(&key.id).map(|v| &mut ItemMut::into_mut(v).meta),)*
                }
            }

            /// Removes an item from this in-memory view (used to redact what a viewer may not
            /// see; stored versions are never changed). The plan's details and the person stay.
            pub fn remove(&mut self, key: &ItemKey) {
                match key.kind {
                    $(ItemKind::$s_kind => {})*
                    $(ItemKind::$o_kind => { self.$o_field = None; })*
                    $(ItemKind::$c_kind => { self.$c_field.remove(&key.id); })*
                }
            }

            /// The kind of the item with this id, if the plan has one.
            pub fn kind_of(&self, id: &ItemId) -> Option<ItemKind> {
                $(if id.as_str() == $s_id { return Some(ItemKind::$s_kind); })*
                $(if id.as_str() == $o_id && self.$o_field.is_some() { return Some(ItemKind::$o_kind); })*
                $(if self.$c_field.contains_key(id) { return Some(ItemKind::$c_kind); })*
                None
            }

            /// Every kind that has many items with an item of this id, in kind order: one, unless
            /// the plan is broken.
            pub fn kinds_holding(&self, id: &ItemId) -> Vec<ItemKind> {
                let mut kinds = Vec::new();
                $(if self.$c_field.contains_key(id) { kinds.push(ItemKind::$c_kind); })*
                kinds
            }

            /// True when `id` is taken by any item, or reserved for a plan-level item.
            pub fn id_in_use(&self, id: &ItemId) -> bool {
                $(if id.as_str() == $s_id { return true; })*
                $(if id.as_str() == $o_id { return true; })*
                self.kind_of(id).is_some()
            }

            /// Rebuilds a plan from its items as stored at `version`.
            pub fn from_items(
                id: PlanId,
                version: VersionNumber,
                last_updated: Timestamp,
                items: impl IntoIterator<Item = (ItemId, Item)>,
            ) -> Result<Plan, InvalidValue> {
                $(let mut $s_field: Option<$s_ty> = None;)*
                $(let mut $o_field: Option<$o_ty> = None;)*
                $(let mut $c_field: Items<$c_ty> = Items::new();)*
                for (item_id, item) in items {
                    match item {
                        $(Item::$s_kind(v) => $s_field = Some(v),)*
                        $(Item::$o_kind(v) => $o_field = Some(v),)*
                        $(Item::$c_kind(v) => { $c_field.insert(item_id, v); })*
                    }
                }
                Ok(Plan {
                    id,
                    version,
                    last_updated,
                    $($s_field: $s_field.ok_or_else(|| InvalidValue(format!(
                        "the stored plan has no {} item at version {version}", stringify!($s_field))))?,)*
                    $($o_field,)*
                    $($c_field,)*
                })
            }
        }

    };
}

plan_items! {
    singletons {
        details: Details(PlanDetails) = "details", None;
        person: Person(PersonRecord) = "person", None;
    }
    optional {
        capacity_support: CapacitySupport(CapacitySupport) = "capacity-support", Some(Section::Capacity);
        funding: Funding(FundingSource) = "funding", Some(Section::Funding);
        schedule: Schedule(CareSchedule) = "schedule", Some(Section::Actions);
    }
    collections {
        care_team: CareTeamMember(CareTeamMember), Some(Section::CareTeam);
        strengths: Strength(Strength), Some(Section::Strengths);
        needs: Need(Need), Some(Section::Needs);
        concerns: Concern(Concern), Some(Section::Concerns);
        problems: Problem(Problem), Some(Section::Problems);
        goals: Goal(Goal), Some(Section::Goals);
        actions: Action(Action), Some(Section::Actions);
        outcomes: Outcome(Outcome), Some(Section::Outcomes);
        progress: Progress(ProgressRecord), Some(Section::Goals);
        suggestions: Suggestion(Suggestion), Some(Section::Actions);
        comments: Comment(Comment), None;
        attachments: Attachment(Attachment), None;
        hyperlinks: Hyperlink(Hyperlink), None;
        agreements: Agreement(Agreement), Some(Section::Agreement);
        capacity_assessments: CapacityAssessment(CapacityAssessment), Some(Section::Capacity);
        best_interest_decisions: BestInterestDecision(BestInterestDecision), Some(Section::Capacity);
        consent: ConsentPreference(ConsentPreference), None;
    }
}

/// Addresses one item of a plan.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ItemKey {
    pub kind: ItemKind,
    pub id: ItemId,
}

impl ItemKey {
    pub fn new(kind: ItemKind, id: ItemId) -> Self {
        Self { kind, id }
    }
}

impl Plan {
    /// The agreement that speaks for the plan now: the most recently recorded one.
    pub fn current_agreement(&self) -> Option<(&ItemId, &Agreement)> {
        self.agreements
            .iter()
            .filter(|(_, a)| a.meta.is_active())
            .max_by_key(|(_, a)| a.meta.added.version)
    }

    /// Active goals ordered as the person ranks them: by rank, then priority (highest first),
    /// then when they were added.
    pub fn goals_in_order(&self) -> Vec<(&ItemId, &Goal)> {
        let mut goals: Vec<_> = self
            .goals
            .iter()
            .filter(|(_, g)| g.meta.is_active())
            .collect();
        goals.sort_by_key(|(_, g)| {
            (
                g.rank.unwrap_or(u32::MAX),
                std::cmp::Reverse(g.priority),
                g.meta.added.version,
            )
        });
        goals
    }

    /// The section an item's content belongs to. Comments, attachments and hyperlinks belong to
    /// the section of what they are attached to, so hiding a section hides them too.
    pub fn section_of(&self, key: &ItemKey) -> Option<Section> {
        use crate::comment::Target;
        let target = match key.kind {
            ItemKind::Comment => self.comments.get(&key.id).map(|c| &c.target),
            ItemKind::Attachment => self.attachments.get(&key.id).map(|a| &a.target),
            ItemKind::Hyperlink => self.hyperlinks.get(&key.id).map(|h| &h.target),
            other => return other.section(),
        };
        match target? {
            Target::Plan => None,
            Target::Section { section } => Some(*section),
            Target::Item { item } => {
                let kind = self.kind_of(item)?;
                self.section_of(&ItemKey::new(kind, item.clone()))
            }
        }
    }
}
