//! Committing versions: one transaction checks the base version, applies the model's pure
//! `apply`, and appends the version row and the rows of exactly the items that changed.

use careplan_model::{
    Actor, Command, ItemKey, Person, PersonRecord, Plan, PlanId, Stamp, Text, Timestamp,
    VersionNumber, apply, start,
};
use sqlx::AnyConnection;
use time::OffsetDateTime;

use crate::encoding::{COMMAND_FORMAT, ITEM_FORMAT, OPEN, encode_command, encode_item, to_i64};
use crate::ids::{new_item_id, new_person_id, new_plan_id};
use crate::read::{head, load};
use crate::{Backend, Store, StoreError};

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
    async fn begin(&self) -> Result<sqlx::Transaction<'static, sqlx::Any>, StoreError> {
        Ok(match self.backend {
            // IMMEDIATE takes the write lock at once, so two processes never both read a
            // version and then race to write the next one.
            Backend::Sqlite => self.writer.begin_with("BEGIN IMMEDIATE").await?,
            Backend::Postgres => self.writer.begin().await?,
        })
    }

    /// Starts a plan for a new person: version 1.
    pub async fn create_plan(
        &self,
        actor: &Actor,
        person: Person,
        reason: Option<Text>,
    ) -> Result<Committed, StoreError> {
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
        let mut tx = self.begin().await?;
        self.check_nhs_number_free(&mut tx, &plan_id, &person)
            .await?;
        let p = &applied.plan;
        sqlx::query(
            "INSERT INTO plans (id, person_id, version, created_at, updated_at, nhs_number, given_name, family_name, date_of_birth, search_name) \
             VALUES ($1, $2, 1, $3, $3, $4, $5, $6, $7, $8)",
        )
        .bind(plan_id.as_str())
        .bind(p.details.person_id.as_str())
        .bind(stamp.at.to_string())
        .bind(person.nhs_number.as_ref().map(|n| n.as_str().to_owned()))
        .bind(person.given_name.as_str())
        .bind(person.family_name.as_str())
        .bind(person.date_of_birth.to_string())
        .bind(search_name(&person))
        .execute(&mut *tx)
        .await?;
        write_version(
            &mut tx,
            None,
            &applied.plan,
            &applied.changed,
            &command,
            &stamp,
            reason.as_ref(),
        )
        .await?;
        tx.commit().await?;
        Ok(Committed {
            plan: applied.plan,
            changed: applied.changed,
        })
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
    pub async fn apply_all(
        &self,
        plan_id: &PlanId,
        base: VersionNumber,
        actor: &Actor,
        commands: Vec<Command>,
        reason: Option<Text>,
    ) -> Result<Vec<Committed>, StoreError> {
        let mut tx = self.begin().await?;
        let (current, at) = match self.backend {
            Backend::Sqlite => head(&mut tx, plan_id).await?,
            Backend::Postgres => {
                // Lock the head row: a concurrent writer waits here, then sees the new version.
                sqlx::query("SELECT 1 FROM plans WHERE id = $1 FOR UPDATE")
                    .bind(plan_id.as_str())
                    .execute(&mut *tx)
                    .await?;
                head(&mut tx, plan_id).await?
            }
        };
        if current != base {
            return Err(StoreError::Conflict {
                expected: base,
                current,
            });
        }
        let mut plan = load(&mut tx, plan_id, current, current, at).await?;
        let many = commands.len() > 1;
        let mut committed = Vec::with_capacity(commands.len());
        for (i, mut command) in commands.into_iter().enumerate() {
            command.fill_missing_id(new_item_id);
            let stamp = Stamp {
                version: plan.version.next(),
                at: now_after(Some(plan.last_updated)),
                by: actor.clone(),
            };
            let applied = apply(&plan, &command, &stamp).map_err(|issues| {
                StoreError::Rejected(if many {
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
                        .collect()
                } else {
                    issues
                })
            })?;
            if applied
                .changed
                .iter()
                .any(|k| k.kind == careplan_model::ItemKind::Person)
            {
                self.check_nhs_number_free(&mut tx, plan_id, &applied.plan.person.person)
                    .await?;
            }
            write_version(
                &mut tx,
                Some(&plan),
                &applied.plan,
                &applied.changed,
                &command,
                &stamp,
                reason.as_ref(),
            )
            .await?;
            plan = applied.plan.clone();
            committed.push(Committed {
                plan: applied.plan,
                changed: applied.changed,
            });
        }
        let PersonRecord { person, .. } = &plan.person;
        let updated = sqlx::query(
            "UPDATE plans SET version = $1, updated_at = $2, nhs_number = $3, given_name = $4, family_name = $5, \
             date_of_birth = $6, search_name = $7 WHERE id = $8 AND version = $9",
        )
        .bind(to_i64(plan.version.get()))
        .bind(plan.last_updated.to_string())
        .bind(person.nhs_number.as_ref().map(|n| n.as_str().to_owned()))
        .bind(person.given_name.as_str())
        .bind(person.family_name.as_str())
        .bind(person.date_of_birth.to_string())
        .bind(search_name(person))
        .bind(plan_id.as_str())
        .bind(to_i64(base.get()))
        .execute(&mut *tx)
        .await?;
        if updated.rows_affected() != 1 {
            return Err(StoreError::Conflict {
                expected: base,
                current: head(&mut tx, plan_id).await?.0,
            });
        }
        tx.commit().await?;
        Ok(committed)
    }

    async fn check_nhs_number_free(
        &self,
        conn: &mut AnyConnection,
        plan: &PlanId,
        person: &Person,
    ) -> Result<(), StoreError> {
        let Some(nhs) = &person.nhs_number else {
            return Ok(());
        };
        let other = sqlx::query("SELECT id FROM plans WHERE nhs_number = $1 AND id <> $2")
            .bind(nhs.as_str())
            .bind(plan.as_str())
            .fetch_optional(&mut *conn)
            .await?;
        match other {
            Some(_) => Err(StoreError::DuplicatePerson(nhs.to_string())),
            None => Ok(()),
        }
    }
}

/// Appends one version: its row, and for each changed item, closes the old row and adds the new.
async fn write_version(
    conn: &mut AnyConnection,
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
    sqlx::query(
        "INSERT INTO plan_versions (plan_id, number, at, actor_id, actor_name, actor_role, format, command, reason) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind(plan_id)
    .bind(version)
    .bind(stamp.at.to_string())
    .bind(stamp.by.id.as_str())
    .bind(stamp.by.name.as_str())
    .bind(role)
    .bind(COMMAND_FORMAT)
    .bind(encode_command(command)?)
    .bind(reason.map(|r| r.as_str().to_owned()))
    .execute(&mut *conn)
    .await?;
    for key in changed {
        let existed = before.is_some_and(|b| b.get(key).is_some());
        if existed {
            sqlx::query(
                "UPDATE plan_items SET valid_to = $1 WHERE plan_id = $2 AND valid_to = $3 AND kind = $4 AND item_id = $5",
            )
            .bind(version)
            .bind(plan_id)
            .bind(OPEN)
            .bind(key.kind.as_str())
            .bind(key.id.as_str())
            .execute(&mut *conn)
            .await?;
        }
        let item = after
            .get(key)
            .ok_or_else(|| StoreError::Corrupt(format!("changed item {} is missing", key.id)))?;
        sqlx::query(
            "INSERT INTO plan_items (plan_id, valid_from, kind, item_id, valid_to, format, body) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(plan_id)
        .bind(version)
        .bind(key.kind.as_str())
        .bind(key.id.as_str())
        .bind(OPEN)
        .bind(ITEM_FORMAT)
        .bind(encode_item(item)?)
        .execute(&mut *conn)
        .await?;
    }
    Ok(())
}
