//! The store as seen by one requester: every read and write of plan data goes through a
//! `Handle`, which makes the access decision (membership, consent, releases), redacts what is
//! withheld, checks the requester may issue each command, and writes the audit trail — so the
//! rules hold on every path (JSON API, FHIR, web pages, CLI) without each one repeating them.

use std::collections::BTreeSet;
use std::sync::Arc;

use careplan_model::{
    Access, Actor, Audience, Command, ConsentScope, Person, Plan, PlanDiff, PlanId, Release,
    Requester, Role, Section, Text, Timestamp, VersionNumber, decide, may_command, redact,
    sections_touched,
};
use serde::Serialize;
use sqlx::Row;
use time::OffsetDateTime;

use crate::accounts::Credential;
use crate::audit::{AuditEntry, AuditOutcome, action};
use crate::cache::{Epoch, earliest};
use crate::read::{PeopleScope, PlanRef};
use crate::read::{PersonSummary, VersionInfo};
use crate::script::Script;
use crate::write::Committed;
use crate::{Store, StoreError};

/// Something read under the access rules: the value, which sections were withheld from it, and
/// which data-controller releases made otherwise-withheld parts visible.
#[derive(Debug, Clone, Serialize)]
pub struct Viewed<T> {
    pub value: T,
    pub withheld: Vec<Section>,
    pub releases_used: Vec<String>,
}

/// One entry of a plan's history as a requester may see it: entries about withheld sections
/// keep their number, time and author, but not what they changed.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryEntry {
    pub number: VersionNumber,
    pub at: Timestamp,
    pub by: Actor,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Command>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
    /// True when what this version changed is withheld from the requester.
    pub withheld: bool,
}

/// An audited read's access decision and what it was decided on.
#[derive(Debug)]
struct Opened {
    plan: Arc<Plan>,
    view: Viewed<()>,
    /// The read cache's epoch the decision depends on.
    epoch: Option<Epoch>,
}

/// A requester's view of the store.
#[derive(Debug, Clone)]
pub struct Handle {
    pub(crate) store: Store,
    requester: Requester,
    actor: Actor,
    /// How the requester signed in, when that may have been decided from memory
    /// ([`Store::bearer_credential`]); checked again whenever a read cannot be confirmed.
    credential: Option<Credential>,
}

impl Store {
    /// The store as `requester`, acting as `actor` in versions and the audit trail.
    pub fn handle(&self, requester: Requester, actor: Actor) -> Handle {
        Handle {
            store: self.clone(),
            requester,
            actor,
            credential: None,
        }
    }

    /// The store as the system itself (the CLI, imports): sees everything, and is audited.
    pub fn system(&self, actor: Actor) -> Handle {
        let requester = Requester {
            account: actor.id.to_string(),
            role: Role::System,
            person: None,
            organisation: None,
        };
        self.handle(requester, actor)
    }
}

fn now() -> Timestamp {
    Timestamp::from_datetime(OffsetDateTime::now_utc())
}

impl Handle {
    /// The same handle, for a requester signed in with `credential`. Reads then confirm, when
    /// their audit entry commits, that the credential and account have not changed since they
    /// were looked up; anything else this handle does checks the credential in the database
    /// first.
    pub fn with_credential(mut self, credential: Credential) -> Handle {
        self.credential = Some(credential);
        self
    }

    /// The epoch at which the requester's account was taken from memory, if it was.
    fn provisional(&self) -> Option<Epoch> {
        self.credential.as_ref().and_then(Credential::epoch)
    }

    /// Checks the sign-in in the database if it was taken from memory: before anything that
    /// is not an audited read, and whenever a read finds that something changed.
    async fn confirm(&self) -> Result<(), StoreError> {
        match &self.credential {
            Some(credential) if credential.epoch().is_some() => {
                self.store.recheck(credential).await
            }
            _ => Ok(()),
        }
    }

    /// Finds a plan by plan id, person id or NHS number, as [`Store::find_plan`]; a sign-in taken
    /// from memory is checked before it is told that there is no such plan.
    pub async fn find_plan(&self, key: &str) -> Result<PlanId, StoreError> {
        let found = self.store.find_plan(key).await;
        if found.is_err() {
            self.confirm().await?;
        }
        found
    }

    pub fn requester(&self) -> &Requester {
        &self.requester
    }

    pub fn actor(&self) -> &Actor {
        &self.actor
    }

    fn entry(
        &self,
        action: &str,
        plan: &Plan,
        version: Option<VersionNumber>,
        detail: String,
    ) -> AuditEntry {
        AuditEntry {
            plan_id: Some(plan.id.clone()),
            person_id: Some(plan.details.person_id.clone()),
            version,
            detail,
            ..AuditEntry::new(&self.actor, action, AuditOutcome::Allowed)
        }
    }

    /// Decides access to `plan_id` (as it is now), auditing a denial; returns the current plan
    /// and what is withheld.
    async fn open(
        &self,
        plan_id: &PlanId,
        action: &str,
    ) -> Result<(Arc<Plan>, Viewed<()>), StoreError> {
        self.open_ref(PlanRef::Id(plan_id), action).await
    }

    async fn open_ref(
        &self,
        plan_ref: PlanRef<'_>,
        action: &str,
    ) -> Result<(Arc<Plan>, Viewed<()>), StoreError> {
        let (plan, releases) = self.store.current_with_releases(plan_ref).await?;
        match decide(&plan, &self.requester, &releases, now()) {
            Access::Denied(denial) => {
                let mut e = self.entry(action, &plan, None, denial.sentence().to_owned());
                e.outcome = AuditOutcome::Denied;
                self.store.audit(vec![e]).await?;
                Err(StoreError::Forbidden(denial.sentence().to_owned()))
            }
            Access::Granted {
                withheld,
                releases_used,
            } => Ok((
                plan,
                Viewed {
                    value: (),
                    withheld: withheld.sections.into_iter().collect(),
                    releases_used,
                },
            )),
        }
    }

    /// Records a read: one audit entry, or one per release used (so each use of a release is
    /// visible on its own).
    async fn audited<T>(
        &self,
        action: &str,
        plan: &Plan,
        version: Option<VersionNumber>,
        view: Viewed<()>,
        value: T,
        epoch: Option<Epoch>,
    ) -> Result<Viewed<T>, StoreError> {
        let detail = if view.withheld.is_empty() {
            String::new()
        } else {
            let names: Vec<&str> = view.withheld.iter().map(|s| s.title()).collect();
            format!("withheld: {}", names.join(", "))
        };
        let entries = if view.releases_used.is_empty() {
            vec![self.entry(action, plan, version, detail)]
        } else {
            view.releases_used
                .iter()
                .map(|r| AuditEntry {
                    override_release: Some(r.clone()),
                    ..self.entry(action, plan, version, detail.clone())
                })
                .collect()
        };
        self.store.audit_read(entries, epoch).await?;
        Ok(Viewed {
            value,
            withheld: view.withheld,
            releases_used: view.releases_used,
        })
    }

    /// Runs an audited read, `attempt(fresh)`, which opens the plan with
    /// [`Handle::open_read`], makes its value and ends with [`Handle::finish_read`].
    ///
    /// The current plan and the requester's account may come from memory (`cache.rs`). If the
    /// audit writer finds that something changed since, nothing is recorded and the read is
    /// made again from the database (`fresh`), after checking the sign-in there.
    async fn read<T, F>(&self, mut attempt: impl FnMut(bool) -> F) -> Result<Viewed<T>, StoreError>
    where
        F: Future<Output = Result<Viewed<T>, StoreError>>,
    {
        let mut fresh = false;
        loop {
            match attempt(fresh).await {
                Err(StoreError::Stale) if !fresh => {}
                // A provisional sign-in must not learn even that a plan or version is missing.
                Err(e) if !fresh && self.provisional().is_some() => {
                    self.confirm().await?;
                    return Err(e);
                }
                done => return done,
            }
            self.confirm().await?;
            fresh = true;
        }
    }

    /// The access decision of an audited read (a denial is audited and refused), on the plan
    /// as it is now: from memory unless `fresh`.
    async fn open_read(
        &self,
        plan_ref: PlanRef<'_>,
        action: &str,
        fresh: bool,
    ) -> Result<Opened, StoreError> {
        let ((plan, releases), plan_epoch) = self.store.current_for_read(plan_ref, fresh).await?;
        let epoch = if fresh {
            None
        } else {
            earliest(self.provisional(), plan_epoch)
        };
        match decide(&plan, &self.requester, &releases, now()) {
            Access::Denied(denial) => {
                let mut e = self.entry(action, &plan, None, denial.sentence().to_owned());
                e.outcome = AuditOutcome::Denied;
                self.store.audit_read(vec![e], epoch).await?;
                Err(StoreError::Forbidden(denial.sentence().to_owned()))
            }
            Access::Granted {
                withheld,
                releases_used,
            } => Ok(Opened {
                plan,
                view: Viewed {
                    value: (),
                    withheld: withheld.sections.into_iter().collect(),
                    releases_used,
                },
                epoch,
            }),
        }
    }

    /// Audits a read opened with [`Handle::open_read`] and returns its value.
    async fn finish_read<T>(
        &self,
        opened: Opened,
        action: &str,
        version: Option<VersionNumber>,
        value: T,
    ) -> Result<Viewed<T>, StoreError> {
        let Opened { plan, view, epoch } = opened;
        self.audited(action, &plan, version, view, value, epoch)
            .await
    }

    fn withheld_set(view: &Viewed<()>) -> careplan_model::Withheld {
        careplan_model::Withheld {
            sections: view.withheld.iter().copied().collect(),
        }
    }

    /// The plan as it is now, as this requester may see it.
    pub async fn current(&self, plan_id: &PlanId) -> Result<Viewed<Arc<Plan>>, StoreError> {
        self.current_ref(PlanRef::Id(plan_id)).await
    }

    /// The plan as it is now, found by NHS number, person id or plan id.
    pub async fn current_by_key(&self, key: &str) -> Result<Viewed<Arc<Plan>>, StoreError> {
        self.current_ref(PlanRef::Key(key)).await
    }

    async fn current_ref(&self, plan_ref: PlanRef<'_>) -> Result<Viewed<Arc<Plan>>, StoreError> {
        self.read(|fresh| async move {
            let opened = self.open_read(plan_ref, action::READ_PLAN, fresh).await?;
            // Shared as it is when nothing is withheld: most reads copy nothing.
            let withheld = Self::withheld_set(&opened.view);
            let shown = if withheld.is_nothing() {
                Arc::clone(&opened.plan)
            } else {
                Arc::new(redact(&opened.plan, &withheld))
            };
            let version = Some(opened.plan.version);
            self.finish_read(opened, action::READ_PLAN, version, shown)
                .await
        })
        .await
    }

    /// The plan as it was at `number`, under the person's consent preferences as they are now.
    pub async fn version(
        &self,
        plan_id: &PlanId,
        number: u64,
    ) -> Result<Viewed<Arc<Plan>>, StoreError> {
        Ok(self.version_and_latest(plan_id, number).await?.0)
    }

    /// The plan as it was at `number`, as `version` gives it, and the plan's latest version
    /// number (known from the access decision, so not read again).
    pub async fn version_and_latest(
        &self,
        plan_id: &PlanId,
        number: u64,
    ) -> Result<(Viewed<Arc<Plan>>, VersionNumber), StoreError> {
        let viewed = self
            .read(|fresh| async move {
                let opened = self
                    .open_read(PlanRef::Id(plan_id), action::READ_VERSION, fresh)
                    .await?;
                let old = self.store.version(plan_id, number).await?;
                let version = Some(old.version);
                let shown = Arc::new(redact(&old, &Self::withheld_set(&opened.view)));
                let latest = opened.plan.version;
                self.finish_read(opened, action::READ_VERSION, version, (shown, latest))
                    .await
            })
            .await?;
        let (shown, latest) = viewed.value;
        Ok((
            Viewed {
                value: shown,
                withheld: viewed.withheld,
                releases_used: viewed.releases_used,
            },
            latest,
        ))
    }

    /// Versions after `after`, at most `limit`, with entries about withheld sections blanked.
    pub async fn history(
        &self,
        plan_id: &PlanId,
        after: u64,
        limit: u32,
    ) -> Result<Viewed<Vec<HistoryEntry>>, StoreError> {
        self.read(|fresh| async move {
            let opened = self
                .open_read(PlanRef::Id(plan_id), action::READ_HISTORY, fresh)
                .await?;
            let plan = &opened.plan;
            let hidden: BTreeSet<Section> = opened.view.withheld.iter().copied().collect();
            let entries = self
                .store
                .history(plan_id, after, limit)
                .await?
                .into_iter()
                .map(|v: VersionInfo| {
                    let withheld = !hidden.is_disjoint(&sections_touched(&v.command, plan));
                    HistoryEntry {
                        number: v.number,
                        at: v.at,
                        by: v.by,
                        summary: if withheld {
                            "A change to a part of the plan you may not see".into()
                        } else {
                            v.command.summary()
                        },
                        command: (!withheld).then_some(v.command),
                        reason: if withheld { None } else { v.reason },
                        withheld,
                    }
                })
                .collect();
            self.finish_read(opened, action::READ_HISTORY, None, entries)
                .await
        })
        .await
    }

    /// What changed between two versions, as this requester may see them.
    pub async fn diff(
        &self,
        plan_id: &PlanId,
        a: u64,
        b: u64,
    ) -> Result<Viewed<PlanDiff>, StoreError> {
        self.read(|fresh| async move {
            let opened = self
                .open_read(PlanRef::Id(plan_id), action::READ_DIFF, fresh)
                .await?;
            let withheld = Self::withheld_set(&opened.view);
            let from = redact(&self.store.version(plan_id, a).await?, &withheld);
            let to = redact(&self.store.version(plan_id, b).await?, &withheld);
            let diff = careplan_model::diff(&from, &to);
            self.finish_read(opened, action::READ_DIFF, Some(to.version), diff)
                .await
        })
        .await
    }

    /// Applies commands as the next versions, if this requester may make each of them.
    pub async fn apply(
        &self,
        plan_id: &PlanId,
        base: VersionNumber,
        mut commands: Vec<Command>,
        reason: Option<Text>,
    ) -> Result<Vec<Committed>, StoreError> {
        self.confirm().await?;
        let (plan, view) = self.open(plan_id, "write").await?;
        for command in &mut commands {
            self.store.resolve_member_account(command).await?;
        }
        self.authorise(&plan, &view, &commands).await?;
        self.store
            .apply_all(plan_id, base, &self.actor, commands, reason)
            .await
    }

    /// Checks, committing nothing, that [`Handle::apply`] of these commands would be accepted
    /// now: the plan is still at `base`, this requester may make each change, and the plan's
    /// rules allow them. An upload is checked this way before its file is read.
    pub async fn check(
        &self,
        plan_id: &PlanId,
        base: VersionNumber,
        mut commands: Vec<Command>,
    ) -> Result<(), StoreError> {
        self.confirm().await?;
        let (plan, view) = self.open(plan_id, "write").await?;
        if plan.version != base {
            return Err(StoreError::Conflict {
                expected: base,
                current: plan.version,
            });
        }
        for command in &mut commands {
            self.store.resolve_member_account(command).await?;
        }
        self.authorise(&plan, &view, &commands).await?;
        crate::write::check_in_memory(&plan, &self.actor, commands)
    }

    /// Refuses (and audits the refusal of) a command this requester's role may not make, or
    /// one that touches a section withheld from them.
    async fn authorise(
        &self,
        plan: &Plan,
        view: &Viewed<()>,
        commands: &[Command],
    ) -> Result<(), StoreError> {
        let hidden: BTreeSet<Section> = view.withheld.iter().copied().collect();
        for command in commands {
            let refusal = if !may_command(self.requester.role, command) {
                Some(format!(
                    "As {} you may not {}",
                    self.requester.role.label(),
                    command.summary().to_lowercase()
                ))
            } else if !hidden.is_disjoint(&sections_touched(command, plan)) {
                Some(
                    "This change touches a part of the plan the person has not shared with you"
                        .to_owned(),
                )
            } else {
                None
            };
            if let Some(sentence) = refusal {
                let mut e = self.entry(
                    "write",
                    plan,
                    None,
                    format!("refused {}: {sentence}", command.name()),
                );
                e.outcome = AuditOutcome::Denied;
                self.store.audit(vec![e]).await?;
                return Err(StoreError::Forbidden(sentence));
            }
        }
        Ok(())
    }

    /// Starts a plan for a new person. A practitioner who does so joins the care team.
    pub async fn create_person(&self, person: Person) -> Result<Committed, StoreError> {
        let mut all = self.create_person_with(person, Vec::new()).await?;
        Ok(all.pop().expect("at least version 1"))
    }

    /// Whether this requester may add people (a practitioner or the system), their sign-in
    /// confirmed.
    pub(crate) async fn may_add_people(&self) -> Result<(), StoreError> {
        self.confirm().await?;
        if !matches!(self.requester.role, Role::Practitioner | Role::System) {
            return Err(StoreError::Forbidden(format!(
                "As {} you may not add people",
                self.requester.role.label()
            )));
        }
        Ok(())
    }

    /// Adds a person and builds their plan with `commands`, all in one transaction: version 1
    /// (and, for a practitioner, their joining the care team), then one version per command —
    /// or nothing, if any command is refused.
    pub async fn create_person_with(
        &self,
        person: Person,
        mut commands: Vec<Command>,
    ) -> Result<Vec<Committed>, StoreError> {
        self.may_add_people().await?;
        for command in &mut commands {
            self.store.resolve_member_account(command).await?;
            if !may_command(self.requester.role, command) {
                return Err(StoreError::Forbidden(format!(
                    "As {} you may not {}",
                    self.requester.role.label(),
                    command.summary().to_lowercase()
                )));
            }
        }
        if self.requester.role == Role::Practitioner {
            let join = Command::AddCareTeamMember {
                id: None,
                name: self.actor.name.clone(),
                role: Text::new("Practitioner").expect("non-empty"),
                organisation: self
                    .requester
                    .organisation
                    .as_deref()
                    .and_then(|o| Text::new(o).ok()),
                account: Text::new(&self.requester.account).ok(),
            };
            commands.insert(0, join);
        }
        self.store
            .create_plan_with(&self.actor, person, commands, None)
            .await
    }

    /// People whose plans this requester may open: everyone for the system and data
    /// controllers, a practitioner's caseload (care-team membership), or the one person an
    /// account is linked to.
    pub async fn people(
        &self,
        search: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<PersonSummary>, StoreError> {
        self.confirm().await?;
        match self.scope()? {
            Some(scope) => self.store.people_in(search, limit, offset, &scope).await,
            None => Ok(Vec::new()),
        }
    }

    /// Whose plans this requester may open (`None`: nobody's).
    fn scope(&self) -> Result<Option<PeopleScope>, StoreError> {
        Ok(Some(match self.requester.role {
            Role::System | Role::DataController => PeopleScope::All,
            Role::Practitioner => PeopleScope::Member(self.requester.account.clone()),
            Role::Person | Role::Representative | Role::Carer => match &self.requester.person {
                Some(p) => PeopleScope::Person(p.to_string()),
                None => return Ok(None),
            },
            Role::Administrator => {
                return Err(StoreError::Forbidden(
                    careplan_model::Denial::RoleHasNoAccess.sentence().into(),
                ));
            }
        }))
    }

    /// The plans this requester may open that hold an item with id `item_id` (FHIR reads name
    /// a resource by id only; item ids are unique within a plan). Reads no plan data, so it is
    /// not audited: opening one of the plans is.
    pub async fn plans_with_item(&self, item_id: &str) -> Result<Vec<PlanId>, StoreError> {
        self.confirm().await?;
        match self.scope()? {
            Some(scope) => self.store.plans_with_item(item_id, &scope).await,
            None => Ok(Vec::new()),
        }
    }

    /// Several versions of a plan (each as it was, under the person's consent preferences as
    /// they are now), with one access decision and one audit entry: FHIR history pages.
    pub async fn versions(
        &self,
        plan_id: &PlanId,
        numbers: &[u64],
    ) -> Result<Viewed<Vec<Plan>>, StoreError> {
        self.read(|fresh| async move {
            let opened = self
                .open_read(PlanRef::Id(plan_id), action::READ_VERSIONS, fresh)
                .await?;
            let withheld = Self::withheld_set(&opened.view);
            let mut plans = Vec::with_capacity(numbers.len());
            for &n in numbers {
                plans.push(redact(&self.store.version(plan_id, n).await?, &withheld));
            }
            let first = plans.first().map(|p| p.version);
            self.finish_read(opened, action::READ_VERSIONS, first, plans)
                .await
        })
        .await
    }

    /// Releases all or part of a restricted plan to an audience, for a reason, until `expires_at`
    /// (data controllers only). The person can see every release and every use of it.
    pub async fn release(
        &self,
        plan_id: &PlanId,
        scope: ConsentScope,
        audience: Audience,
        reason: Text,
        expires_at: Timestamp,
    ) -> Result<Release, StoreError> {
        self.confirm().await?;
        if !matches!(self.requester.role, Role::DataController | Role::System) {
            return Err(StoreError::Forbidden(
                "Only a data controller may release a restricted record".into(),
            ));
        }
        let granted_at = now();
        if expires_at <= granted_at {
            return Err(StoreError::Rejected(vec![careplan_model::Issue::new(
                careplan_model::IssueCode::Invalid,
                "/expires_at",
                "A release must expire in the future",
            )]));
        }
        let plan = self.store.current(plan_id).await?;
        let release = Release {
            id: format!("release-{}", uuid::Uuid::new_v4().simple()),
            scope,
            audience,
            reason,
            granted_by: self.actor.name.clone(),
            granted_at,
            expires_at,
        };
        let entry = AuditEntry {
            override_release: Some(release.id.clone()),
            ..self.entry(
                "release_created",
                &plan,
                Some(plan.version),
                format!("released for: {}", release.reason),
            )
        };
        self.store
            .insert_release(plan_id, &release, &self.actor, entry)
            .await?;
        Ok(release)
    }

    /// A plan's releases: for data controllers, and for the person and their representative.
    pub async fn releases(&self, plan_id: &PlanId) -> Result<Vec<Release>, StoreError> {
        self.confirm().await?;
        let (plan, _) = self.open(plan_id, "read_releases").await?;
        let own = matches!(self.requester.role, Role::Person | Role::Representative)
            && self.requester.person.as_ref() == Some(&plan.details.person_id);
        if !(own || matches!(self.requester.role, Role::DataController | Role::System)) {
            return Err(StoreError::Forbidden(
                "Only the person, their representative or a data controller may see releases"
                    .into(),
            ));
        }
        self.store.releases(plan_id).await
    }
}

impl Store {
    /// The releases recorded for a plan (expired ones included: they are history).
    pub async fn releases(&self, plan_id: &PlanId) -> Result<Vec<Release>, StoreError> {
        releases_of(&mut *self.reader.get().await?, plan_id).await
    }
}

/// The releases recorded for a plan, oldest first.
pub(crate) async fn releases_of(
    conn: &mut sqlx::AnyConnection,
    plan_id: &PlanId,
) -> Result<Vec<Release>, StoreError> {
    let rows = sqlx::query(
        "SELECT id, scope, audience, reason, granted_by_name, granted_at, expires_at FROM releases \
         WHERE plan_id = $1 ORDER BY granted_at, id",
    )
    .bind(plan_id.as_str())
    .fetch_all(&mut *conn)
    .await?;
    rows.iter()
        .map(|row| {
            let corrupt =
                |e: String| StoreError::Corrupt(format!("a stored release could not be read: {e}"));
            let text = |i: usize| row.try_get::<String, _>(i).map_err(StoreError::from);
            Ok(Release {
                id: text(0)?,
                scope: serde_json::from_str(&text(1)?).map_err(|e| corrupt(e.to_string()))?,
                audience: serde_json::from_str(&text(2)?).map_err(|e| corrupt(e.to_string()))?,
                reason: Text::new(&text(3)?).map_err(|e| corrupt(e.to_string()))?,
                granted_by: Text::new(&text(4)?).map_err(|e| corrupt(e.to_string()))?,
                granted_at: Timestamp::parse(&text(5)?).map_err(|e| corrupt(e.to_string()))?,
                expires_at: Timestamp::parse(&text(6)?).map_err(|e| corrupt(e.to_string()))?,
            })
        })
        .collect()
}

impl Store {
    /// Records a release and its audit entry in one transaction.
    pub(crate) async fn insert_release(
        &self,
        plan_id: &PlanId,
        release: &Release,
        by: &Actor,
        entry: AuditEntry,
    ) -> Result<(), StoreError> {
        let mut script = Script::default();
        script.push(
            "INSERT INTO releases (id, plan_id, scope, audience, reason, granted_by_id, granted_by_name, granted_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            vec![
                release.id.as_str().into(),
                plan_id.as_str().into(),
                serde_json::to_string(&release.scope).unwrap_or_default().into(),
                serde_json::to_string(&release.audience).unwrap_or_default().into(),
                release.reason.as_str().into(),
                by.id.as_str().into(),
                release.granted_by.as_str().into(),
                release.granted_at.to_string().into(),
                release.expires_at.to_string().into(),
            ],
        );
        self.committer
            .commit(script, vec![entry], release.granted_at)
            .await?;
        Ok(())
    }
}

impl Store {
    /// A care-team member's `account` may be given as a username: it is stored as the account's
    /// id, which is what access decisions match. An account that does not exist is refused.
    pub(crate) async fn resolve_member_account(
        &self,
        command: &mut Command,
    ) -> Result<(), StoreError> {
        let Command::AddCareTeamMember {
            account: Some(account),
            ..
        } = command
        else {
            return Ok(());
        };
        let row = sqlx::query("SELECT id FROM accounts WHERE id = $1 OR username = $2")
            .bind(account.as_str())
            .bind(account.as_str().to_lowercase())
            .fetch_optional(&mut *self.reader.get().await?)
            .await?;
        match row {
            Some(row) => {
                let id: String = row.try_get(0)?;
                *account = Text::new(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
                Ok(())
            }
            None => Err(StoreError::Rejected(vec![careplan_model::Issue::new(
                careplan_model::IssueCode::NotFound,
                "/account",
                format!("There is no account “{account}”: add it with careplan user add first"),
            )])),
        }
    }
}
