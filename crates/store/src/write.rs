//! Committing versions: commands are applied in memory by the model's pure `apply`, then one
//! transaction appends the version rows (whose primary key refuses a stale base, and the last of
//! which is the plan's new head), writes exactly the items that changed, and appends the audit
//! rows.

use careplan_model::{
    Actor, Command, ItemKey, ItemKind, Person, Plan, PlanId, Stamp, Text, Timestamp, VersionNumber,
    apply, start,
};
use time::OffsetDateTime;

use crate::audit::{AuditEntry, AuditOutcome, action};
use crate::encoding::{COMMAND_FORMAT, ITEM_FORMAT, encode_command, encode_item, to_i64};
use crate::ids::{new_item_id, new_person_id, new_plan_id};
use crate::read::{head, load};
use crate::script::Script;
use crate::{Store, StoreError};

/// A committed version: the plan as it now is, and the items that version wrote.
#[derive(Debug, Clone)]
pub struct Committed {
    pub plan: Plan,
    pub changed: Vec<ItemKey>,
}

impl Committed {
    pub fn version(&self) -> VersionNumber {
        self.plan.version
    }
}

fn now_after(previous: Option<Timestamp>) -> Timestamp {
    // Versions never go back in time, even if the system clock does.
    let now = Timestamp::from_datetime(OffsetDateTime::now_utc());
    previous.map_or(now, |p| now.max(p))
}

fn search_name(person: &Person) -> String {
    let mut s = format!("{} {}", person.given_name, person.family_name);
    if let Some(p) = &person.preferred_name {
        s.push(' ');
        s.push_str(p.as_str());
    }
    s.to_lowercase()
}

impl Store {
    /// Starts a plan for a new person: version 1.
    pub async fn create_plan(
        &self,
        actor: &Actor,
        person: Person,
        reason: Option<Text>,
    ) -> Result<Committed, StoreError> {
        let mut all = self
            .create_plan_with(actor, person, Vec::new(), reason)
            .await?;
        Ok(all.swap_remove(0))
    }

    /// Starts a plan for a new person and applies `commands` after it, in one transaction:
    /// version 1 and one version per command, or nothing at all. Issues from command `i` carry
    /// paths under `/i`.
    pub async fn create_plan_with(
        &self,
        actor: &Actor,
        person: Person,
        commands: Vec<Command>,
        reason: Option<Text>,
    ) -> Result<Vec<Committed>, StoreError> {
        let plan_id = new_plan_id();
        let command = Command::CreatePlan {
            person: person.clone(),
        };
        let stamp = Stamp {
            version: VersionNumber::FIRST,
            at: now_after(None),
            by: actor.clone(),
        };
        let applied = start(plan_id.clone(), new_person_id(), &command, &stamp)
            .map_err(StoreError::Rejected)?;
        let first = Committed {
            plan: applied.plan,
            changed: applied.changed,
        };
        let (rest, stored) = apply_in_memory(&first.plan, actor, commands)?;
        // The plan's row is written once, already at its last version and person.
        let last = rest.last().map_or(&first.plan, |c| &c.plan);
        let person = &last.person.person;
        self.check_nhs_number_free(&plan_id, person).await?;
        let mut script = Script::default();
        script.push(
            "INSERT INTO plans (id, person_id, created_at, nhs_number, given_name, family_name, date_of_birth, search_name) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            vec![
                plan_id.as_str().into(),
                last.details.person_id.as_str().into(),
                stamp.at.to_string().into(),
                person.nhs_number.as_ref().map(|n| n.as_str().to_owned()).into(),
                person.given_name.as_str().into(),
                person.family_name.as_str().into(),
                person.date_of_birth.to_string().into(),
                search_name(person).into(),
            ],
        );
        push_version(
            &mut script,
            None,
            &first.plan,
            &first.changed,
            &command,
            &stamp,
            reason.as_ref(),
        )?;
        let mut audit = vec![version_audit(
            action::CREATE_PLAN,
            actor,
            &first.plan,
            &command,
        )];
        audit.extend(push_versions(
            &mut script,
            &first.plan,
            &rest,
            &stored,
            actor,
            reason.as_ref(),
        )?);
        if last.care_team.values().any(|m| m.account.is_some()) {
            push_members(&mut script, last);
        }
        self.committer
            .commit(script, audit, last.last_updated)
            .await
            .map_err(|e| duplicate_person(e, person))?;
        self.heads.put(last.clone());
        let mut all = Vec::with_capacity(rest.len() + 1);
        all.push(first);
        all.extend(rest);
        Ok(all)
    }

    /// Applies one command as the next version, if the plan is still at `base`.
    pub async fn apply(
        &self,
        plan: &PlanId,
        base: VersionNumber,
        actor: &Actor,
        command: Command,
        reason: Option<Text>,
    ) -> Result<Committed, StoreError> {
        let mut all = self
            .apply_all(plan, base, actor, vec![command], reason)
            .await?;
        Ok(all.pop().expect("one command makes one version"))
    }

    /// Applies several commands atomically, one version each: either all are committed or none
    /// is. Issues from command `i` carry paths under `/i`.
    ///
    /// The commands are applied in memory to the plan at `base` (from the head cache, or read),
    /// then one transaction appends the versions (refused by their primary key if another writer
    /// got past `base` first), the changed items and the audit rows, as one script.
    pub async fn apply_all(
        &self,
        plan_id: &PlanId,
        base: VersionNumber,
        actor: &Actor,
        commands: Vec<Command>,
        reason: Option<Text>,
    ) -> Result<Vec<Committed>, StoreError> {
        let start = match self.heads.get(plan_id, base) {
            Some(plan) => plan,
            None => {
                let mut conn = self.reader.get().await?;
                let (latest, at) = head(&mut conn, plan_id).await?;
                if latest != base {
                    return Err(StoreError::Conflict {
                        expected: base,
                        current: latest,
                    });
                }
                std::sync::Arc::new(load(&mut conn, self.backend, plan_id, base, latest, at).await?)
            }
        };
        let (committed, stored) = match apply_in_memory(&start, actor, commands) {
            Ok(done) => done,
            Err(refused) => {
                // A refusal against a plan that has since moved on is a conflict first.
                let (latest, _) = self.head(plan_id).await?;
                if latest != base {
                    return Err(StoreError::Conflict {
                        expected: base,
                        current: latest,
                    });
                }
                return Err(refused);
            }
        };
        let last = &committed.last().expect("at least one command").plan;
        let person_changed = committed
            .iter()
            .any(|c| c.changed.iter().any(|k| k.kind == ItemKind::Person));

        if person_changed {
            self.check_nhs_number_free(plan_id, &last.person.person)
                .await?;
        }
        // Everything this commit writes, as one script. The first version row is the optimistic
        // lock: (plan_id, number) is the primary key, so if another writer has moved the plan
        // past `base`, inserting version base + 1 fails and nothing is written. On PostgreSQL a
        // concurrent writer of the same version waits on that key, then fails.
        let mut script = Script::default();
        let audit = push_versions(
            &mut script,
            &start,
            &committed,
            &stored,
            actor,
            reason.as_ref(),
        )?;
        if person_changed {
            push_person(&mut script, last);
        }
        if committed
            .iter()
            .any(|c| c.changed.iter().any(|k| k.kind == ItemKind::CareTeamMember))
        {
            // Deletes and inserts the same rows: statement by statement.
            push_members(&mut script, last);
        } else if committed.len() == 1 {
            // One version. Its row goes first and alone: it is the lock that a concurrent
            // writer of the same plan waits on and then fails at, before either has touched an
            // item (so they cannot deadlock). After it, each changed item's history row (read
            // from the current row as it was) and current row, and the person's row: no
            // statement reads what another writes, and no row is written twice.
            script.one_snapshot_from(1);
        }
        if let Err(e) = self
            .committer
            .commit(script, audit, last.last_updated)
            .await
        {
            if lost_race(&e) {
                let (current, _) = self.head(plan_id).await?;
                return Err(StoreError::Conflict {
                    expected: base,
                    current,
                });
            }
            return Err(duplicate_person(e, &last.person.person));
        }
        self.heads.put(last.clone());
        Ok(committed)
    }

    /// Refuses, with a sentence, an NHS number that another plan already has. (The unique index
    /// on `plans.nhs_number` is the guarantee; this check names the problem before writing.)
    async fn check_nhs_number_free(
        &self,
        plan: &PlanId,
        person: &Person,
    ) -> Result<(), StoreError> {
        let Some(nhs) = &person.nhs_number else {
            return Ok(());
        };
        let other = sqlx::query("SELECT id FROM plans WHERE nhs_number = $1 AND id <> $2")
            .bind(nhs.as_str())
            .bind(plan.as_str())
            .fetch_optional(&mut *self.reader.get().await?)
            .await?;
        match other {
            Some(_) => Err(StoreError::DuplicatePerson(nhs.to_string())),
            None => Ok(()),
        }
    }
}

/// Did the commit fail because another writer took the next version number first?
fn lost_race(e: &StoreError) -> bool {
    matches!(e, StoreError::Database(sqlx::Error::Database(db))
        if db.kind() == sqlx::error::ErrorKind::UniqueViolation && db.message().contains("plan_versions"))
}

/// A commit refused by the unique NHS number (another writer got there between the check and
/// the write) is a duplicate person; anything else stays as it was.
fn duplicate_person(e: StoreError, person: &Person) -> StoreError {
    match (&e, &person.nhs_number) {
        (StoreError::Database(sqlx::Error::Database(db)), Some(nhs))
            if db.kind() == sqlx::error::ErrorKind::UniqueViolation
                && db.message().contains("nhs_number") =>
        {
            StoreError::DuplicatePerson(nhs.to_string())
        }
        _ => e,
    }
}

/// Whether the plan's rules accept these commands on `start`, keeping nothing.
pub(crate) fn check_in_memory(
    start: &Plan,
    actor: &Actor,
    commands: Vec<Command>,
) -> Result<(), StoreError> {
    apply_in_memory(start, actor, commands).map(|_| ())
}

/// Applies `commands` one after another to `start`, in memory: the plan after each, with the
/// command (its missing ids filled in) and the stamp it was applied with. Issues from command `i`
/// of several carry paths under `/i` and say which command they are about.
#[allow(clippy::type_complexity)]
fn apply_in_memory(
    start: &Plan,
    actor: &Actor,
    commands: Vec<Command>,
) -> Result<(Vec<Committed>, Vec<(Command, Stamp)>), StoreError> {
    let mut committed: Vec<Committed> = Vec::with_capacity(commands.len());
    let mut stored = Vec::with_capacity(commands.len());
    let many = commands.len() > 1;
    for (i, mut command) in commands.into_iter().enumerate() {
        command.fill_missing_id(new_item_id);
        let plan: &Plan = committed.last().map_or(start, |c| &c.plan);
        let stamp = Stamp {
            version: plan.version.next(),
            at: now_after(Some(plan.last_updated)),
            by: actor.clone(),
        };
        match apply(plan, &command, &stamp) {
            Ok(applied) => {
                stored.push((command, stamp));
                committed.push(Committed {
                    plan: applied.plan,
                    changed: applied.changed,
                });
            }
            Err(issues) if many => {
                return Err(StoreError::Rejected(
                    issues
                        .into_iter()
                        .map(|mut issue| {
                            issue.path = format!("/{i}{}", issue.path);
                            issue.message = format!(
                                "Command {} ({}): {}",
                                i + 1,
                                command.name(),
                                issue.message
                            );
                            issue
                        })
                        .collect(),
                ));
            }
            Err(issues) => return Err(StoreError::Rejected(issues)),
        }
    }
    Ok((committed, stored))
}

/// Adds the versions `committed` (made from `start` by the commands in `stored`, in order) to
/// `script`, and returns their audit entries.
fn push_versions(
    script: &mut Script,
    start: &Plan,
    committed: &[Committed],
    stored: &[(Command, Stamp)],
    actor: &Actor,
    reason: Option<&Text>,
) -> Result<Vec<AuditEntry>, StoreError> {
    let mut before = start;
    let mut audit = Vec::with_capacity(committed.len());
    for (c, (command, stamp)) in committed.iter().zip(stored) {
        push_version(
            script,
            Some(before),
            &c.plan,
            &c.changed,
            command,
            stamp,
            reason,
        )?;
        audit.push(version_audit(action::WRITE, actor, &c.plan, command));
        before = &c.plan;
    }
    Ok(audit)
}

/// The audit entry for a committed version: who, which plan, person and version, and the
/// command's name.
fn version_audit(what: &str, actor: &Actor, plan: &Plan, command: &Command) -> AuditEntry {
    AuditEntry {
        plan_id: Some(plan.id.clone()),
        person_id: Some(plan.details.person_id.clone()),
        version: Some(plan.version),
        detail: command.name().to_owned(),
        ..AuditEntry::new(actor, what, AuditOutcome::Allowed)
    }
}

/// Refreshes the plan row's projection of the person (for look-up and listing) to the person
/// as they are in `last`. (The plan's head is its last version row: nothing else moves it.)
fn push_person(script: &mut Script, last: &Plan) {
    let person = &last.person.person;
    script.push(
        "UPDATE plans SET nhs_number = $1, given_name = $2, family_name = $3, date_of_birth = $4, \
         search_name = $5 WHERE id = $6",
        vec![
            person
                .nhs_number
                .as_ref()
                .map(|n| n.as_str().to_owned())
                .into(),
            person.given_name.as_str().into(),
            person.family_name.as_str().into(),
            person.date_of_birth.to_string().into(),
            search_name(person).into(),
            last.id.as_str().into(),
        ],
    );
}

/// Rewrites the plan's `plan_members` rows from its active care-team items that name an account,
/// so caseloads follow the plan in the same transaction as the change.
fn push_members(script: &mut Script, plan: &Plan) {
    script.push(
        "DELETE FROM plan_members WHERE plan_id = $1",
        vec![plan.id.as_str().into()],
    );
    let accounts: std::collections::BTreeSet<&str> = plan
        .care_team
        .values()
        .filter(|m| m.meta.is_active())
        .filter_map(|m| m.account.as_ref().map(|a| a.as_str()))
        .collect();
    for account in accounts {
        script.push(
            "INSERT INTO plan_members (account, plan_id) VALUES ($1, $2)",
            vec![account.into(), plan.id.as_str().into()],
        );
    }
}

/// Adds one version: its row, and for each changed item, moves the item's previous state to the
/// history (valid until this version) and writes the new state as current.
fn push_version(
    script: &mut Script,
    before: Option<&Plan>,
    after: &Plan,
    changed: &[ItemKey],
    command: &Command,
    stamp: &Stamp,
    reason: Option<&Text>,
) -> Result<(), StoreError> {
    let plan_id = after.id.as_str();
    let version = to_i64(stamp.version.get());
    let role = serde_json::to_value(stamp.by.role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    script.push(
        "INSERT INTO plan_versions (plan_id, number, at, actor_id, actor_name, actor_role, format, command, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
        vec![
            plan_id.into(),
            version.into(),
            stamp.at.to_string().into(),
            stamp.by.id.as_str().into(),
            stamp.by.name.as_str().into(),
            role.into(),
            COMMAND_FORMAT.into(),
            encode_command(command)?.into(),
            reason.map(|r| r.as_str().to_owned()).into(),
        ],
    );
    for key in changed {
        let item = after
            .get(key)
            .ok_or_else(|| StoreError::Corrupt(format!("changed item {} is missing", key.id)))?;
        let body = encode_item(item)?;
        if before.is_some_and(|b| b.get(key).is_some()) {
            script.push(
                "INSERT INTO plan_items_history (plan_id, valid_from, kind, item_id, valid_to, format, body) \
                 SELECT plan_id, valid_from, kind, item_id, $1, format, body FROM plan_items_current \
                 WHERE plan_id = $2 AND kind = $3 AND item_id = $4",
                vec![version.into(), plan_id.into(), key.kind.as_str().into(), key.id.as_str().into()],
            );
            script.push(
                "UPDATE plan_items_current SET valid_from = $1, format = $2, body = $3 \
                 WHERE plan_id = $4 AND kind = $5 AND item_id = $6",
                vec![
                    version.into(),
                    ITEM_FORMAT.into(),
                    body.into(),
                    plan_id.into(),
                    key.kind.as_str().into(),
                    key.id.as_str().into(),
                ],
            );
        } else {
            script.push(
                "INSERT INTO plan_items_current (plan_id, kind, item_id, valid_from, added_in, format, body) \
                 VALUES ($1, $2, $3, $4, $4, $5, $6)",
                vec![
                    plan_id.into(),
                    key.kind.as_str().into(),
                    key.id.as_str().into(),
                    version.into(),
                    ITEM_FORMAT.into(),
                    body.into(),
                ],
            );
        }
    }
    Ok(())
}
