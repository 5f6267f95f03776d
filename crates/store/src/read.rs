//! Reading plans: the current version, any earlier version exactly as it was, the history of
//! versions, item-by-item differences, and the list of people.

use careplan_model::{
    Actor, Command, ItemId, NhsNumber, Plan, PlanDiff, PlanId, Release, Role, Text, Timestamp,
    VersionNumber,
};
use serde::Serialize;
use sqlx::{AnyConnection, Row};

use crate::cache::{CurrentPlan, Epoch};
use crate::encoding::{decode_command, decode_item, decode_time, to_i64};
use crate::handle::releases_of;
use crate::{Backend, Store, StoreError};

/// One version in a plan's history: who, when, what, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct VersionInfo {
    pub number: VersionNumber,
    pub at: Timestamp,
    pub by: Actor,
    pub command: Command,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<Text>,
}

/// A person with a plan, as listed and searched.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PersonSummary {
    pub plan_id: String,
    pub person_id: String,
    pub given_name: String,
    pub family_name: String,
    pub date_of_birth: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nhs_number: Option<String>,
    pub version: u64,
    pub updated_at: String,
}

/// Reads the plan exactly as it was at `version`, which must be committed.
///
/// The current version is the `plan_items_current` rows. An earlier version v is the current
/// rows that were already valid at v, plus, for each current row that began after v of an item
/// already added by v (`added_in`: later items cost nothing), the item's last history row that
/// began at or before v. The history is keyed by item and `valid_from`, so that row is one seek
/// back from the end of the item's states: the cost grows with the number of items changed since
/// v, not with the length of the history or where v falls in it. (That row's `valid_to` is after
/// v: the item's next state began after v, or it would be the row found.) PostgreSQL is told the
/// per-item seek with `LATERAL`, which SQLite lacks; SQLite runs its form as the same seeks.
pub(crate) async fn load(
    conn: &mut AnyConnection,
    backend: Backend,
    plan: &PlanId,
    version: VersionNumber,
    latest: VersionNumber,
    at: Timestamp,
) -> Result<Plan, StoreError> {
    let sql = if version == latest {
        "SELECT kind, item_id, format, body FROM plan_items_current WHERE plan_id = $1 AND valid_from <= $2"
    } else if backend == Backend::Sqlite {
        "SELECT kind, item_id, format, body FROM plan_items_current WHERE plan_id = $1 AND valid_from <= $2 \
         UNION ALL \
         SELECT h.kind, h.item_id, h.format, h.body \
         FROM plan_items_current c JOIN plan_items_history h \
           ON h.plan_id = c.plan_id AND h.kind = c.kind AND h.item_id = c.item_id \
          AND h.valid_from = (SELECT max(x.valid_from) FROM plan_items_history x \
                              WHERE x.plan_id = c.plan_id AND x.kind = c.kind \
                                AND x.item_id = c.item_id AND x.valid_from <= $2) \
         WHERE c.plan_id = $1 AND c.valid_from > $2 AND c.added_in <= $2"
    } else {
        "SELECT kind, item_id, format, body FROM plan_items_current WHERE plan_id = $1 AND valid_from <= $2 \
         UNION ALL \
         SELECT h.kind, h.item_id, h.format, h.body \
         FROM plan_items_current c CROSS JOIN LATERAL \
              (SELECT x.kind, x.item_id, x.format, x.body FROM plan_items_history x \
               WHERE x.plan_id = c.plan_id AND x.kind = c.kind AND x.item_id = c.item_id \
                 AND x.valid_from <= $2 \
               ORDER BY x.valid_from DESC LIMIT 1) h \
         WHERE c.plan_id = $1 AND c.valid_from > $2 AND c.added_in <= $2"
    };
    let rows = sqlx::query(sql)
        .bind(plan.as_str())
        .bind(to_i64(version.get()))
        .fetch_all(&mut *conn)
        .await?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows {
        let kind: String = row.try_get(0)?;
        let id: String = row.try_get(1)?;
        let format: i64 = row.try_get(2)?;
        let body: String = row.try_get(3)?;
        let (_, item) = decode_item(&kind, format, &body)?;
        let id = ItemId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        items.push((id, item));
    }
    Plan::from_items(plan.clone(), version, at, items)
        .map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// The SQL of a plan's head, as two scalar subqueries over `plan_versions` for the plan `p.id`:
/// its latest version number and when that version was committed. Each is one seek to the end
/// of the plan's range of the primary key. (A macro, so that queries can `concat!` it.)
/// How many plans, in name order, a search of one or two characters reads before it falls back
/// to the trigram table (which it must then read whole).
const SHORT_SEARCH_WALK: u32 = 2_000;

macro_rules! head_columns {
    () => {
        "(SELECT max(v.number) FROM plan_versions v WHERE v.plan_id = p.id), \
         (SELECT v.at FROM plan_versions v WHERE v.plan_id = p.id ORDER BY v.number DESC LIMIT 1)"
    };
}

/// The latest version number and its time: the plan's last row in `plan_versions`.
pub(crate) async fn head(
    conn: &mut AnyConnection,
    plan: &PlanId,
) -> Result<(VersionNumber, Timestamp), StoreError> {
    let row = sqlx::query(
        "SELECT number, at FROM plan_versions WHERE plan_id = $1 ORDER BY number DESC LIMIT 1",
    )
    .bind(plan.as_str())
    .fetch_optional(&mut *conn)
    .await?
    .ok_or_else(|| StoreError::NotFound(plan.to_string()))?;
    let version: i64 = row.try_get(0)?;
    let at: String = row.try_get(1)?;
    Ok((version_number(version)?, decode_time(&at)?))
}

fn version_number(v: i64) -> Result<VersionNumber, StoreError> {
    u64::try_from(v)
        .ok()
        .and_then(|v| VersionNumber::new(v).ok())
        .ok_or_else(|| StoreError::Corrupt(format!("version number {v} is not valid")))
}

fn version_info(row: &sqlx::any::AnyRow) -> Result<VersionInfo, StoreError> {
    let number: i64 = row.try_get("number")?;
    let at: String = row.try_get("at")?;
    let actor_id: String = row.try_get("actor_id")?;
    let actor_name: String = row.try_get("actor_name")?;
    let actor_role: String = row.try_get("actor_role")?;
    let format: i64 = row.try_get("format")?;
    let command: String = row.try_get("command")?;
    let reason: Option<String> = row.try_get("reason")?;
    let corrupt = |e: careplan_model::InvalidValue| StoreError::Corrupt(e.to_string());
    let role: Role = serde_json::from_value(serde_json::Value::String(actor_role))
        .map_err(|e| StoreError::Corrupt(format!("unknown role: {e}")))?;
    Ok(VersionInfo {
        number: version_number(number)?,
        at: decode_time(&at)?,
        by: Actor {
            id: Text::new(&actor_id).map_err(corrupt)?,
            name: Text::new(&actor_name).map_err(corrupt)?,
            role,
        },
        command: decode_command(format, &command)?,
        reason: reason
            .as_deref()
            .map(Text::new)
            .transpose()
            .map_err(corrupt)?,
    })
}

impl Store {
    /// Finds a plan by plan id, person id or NHS number (spaces allowed).
    pub async fn find_plan(&self, key: &str) -> Result<PlanId, StoreError> {
        let key = key.trim();
        if let Some(id) = self.plan_ids.get_if(&key.to_owned(), |_| true) {
            return Ok(id);
        }
        let nhs = NhsNumber::parse(key).ok();
        let row = sqlx::query(
            "SELECT id, person_id FROM plans WHERE id = $1 OR person_id = $1 OR nhs_number = $2",
        )
        .bind(key)
        .bind(nhs.as_ref().map(|n| n.as_str().to_owned()))
        .fetch_optional(&mut *self.reader.get().await?)
        .await?
        .ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
        let (id, person): (String, String) = (row.try_get(0)?, row.try_get(1)?);
        let plan_id = PlanId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if key == id || key == person {
            self.plan_ids.put(key.to_owned(), plan_id.clone());
        }
        Ok(plan_id)
    }

    /// The plan as it is now and its releases, for an access decision: one round trip when
    /// both are remembered (the plan is found, and its head and number of releases read,
    /// in one query).
    pub(crate) async fn current_with_releases(
        &self,
        plan: PlanRef<'_>,
    ) -> Result<(std::sync::Arc<Plan>, std::sync::Arc<Vec<Release>>), StoreError> {
        let mut conn = self.reader.get().await?;
        let (sql, key, nhs) = match plan {
            PlanRef::Id(id) => (
                concat!(
                    "SELECT ",
                    head_columns!(),
                    ", (SELECT count(*) FROM releases r WHERE r.plan_id = p.id), id \
                     FROM plans p WHERE id = $1"
                ),
                id.as_str(),
                None,
            ),
            PlanRef::Key(key) => {
                let key = key.trim();
                (
                    concat!(
                        "SELECT ",
                        head_columns!(),
                        ", (SELECT count(*) FROM releases r WHERE r.plan_id = p.id), id \
                         FROM plans p WHERE id = $1 OR person_id = $1 OR nhs_number = $2"
                    ),
                    key,
                    NhsNumber::parse(key).ok().map(|n| n.as_str().to_owned()),
                )
            }
        };
        let mut query = sqlx::query(sql).bind(key);
        if let PlanRef::Key(_) = plan {
            query = query.bind(nhs);
        }
        let row = query
            .fetch_optional(&mut *conn)
            .await?
            .ok_or_else(|| StoreError::NotFound(key.to_owned()))?;
        let id: String = row.try_get(3)?;
        let plan = &PlanId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let latest = version_number(row.try_get(0)?)?;
        let at = decode_time(&row.try_get::<String, _>(1)?)?;
        let count: i64 = row.try_get(2)?;
        let current = match self.heads.get(plan, latest) {
            Some(cached) => cached,
            None => {
                let loaded = std::sync::Arc::new(
                    load(&mut conn, self.backend, plan, latest, latest, at).await?,
                );
                self.heads.put_shared(loaded.clone());
                loaded
            }
        };
        let releases = match self.releases.get_if(plan, |(n, _)| *n == count) {
            Some((_, releases)) => releases,
            None => {
                let releases = std::sync::Arc::new(releases_of(&mut conn, plan).await?);
                let n = i64::try_from(releases.len()).unwrap_or(i64::MAX);
                self.releases.put(plan.clone(), (n, releases.clone()));
                releases
            }
        };
        Ok((current, releases))
    }

    /// The plan as it is now and its releases, for an audited read: from the read cache unless
    /// `fresh`, with the cache epoch they were taken at (`None` when read from the database,
    /// which needs no later check).
    pub(crate) async fn current_for_read(
        &self,
        plan: PlanRef<'_>,
        fresh: bool,
    ) -> Result<(CurrentPlan, Option<Epoch>), StoreError> {
        let key = match plan {
            PlanRef::Id(id) => id.as_str(),
            PlanRef::Key(key) => key.trim(),
        };
        if !fresh && let Some((current, epoch)) = self.cache.plan(key) {
            return Ok((current, Some(epoch)));
        }
        let since = self.cache.epoch();
        let current = self.current_with_releases(plan).await?;
        self.cache.put_plan(key.to_owned(), current.clone(), since);
        Ok((current, None))
    }

    /// The current version number of a plan and when it was committed.
    pub async fn head(&self, plan: &PlanId) -> Result<(VersionNumber, Timestamp), StoreError> {
        let mut conn = self.reader.get().await?;
        head(&mut conn, plan).await
    }

    /// The plan as it is now.
    pub async fn current(&self, plan: &PlanId) -> Result<Plan, StoreError> {
        let mut conn = self.reader.get().await?;
        let (latest, at) = head(&mut conn, plan).await?;
        load(&mut conn, self.backend, plan, latest, latest, at).await
    }

    /// The plan exactly as it was at version `number`.
    pub async fn version(&self, plan: &PlanId, number: u64) -> Result<Plan, StoreError> {
        let mut conn = self.reader.get().await?;
        let (latest, latest_at) = head(&mut conn, plan).await?;
        let version = VersionNumber::new(number)
            .ok()
            .filter(|v| *v <= latest)
            .ok_or(StoreError::NoSuchVersion {
                asked: number,
                latest,
            })?;
        let at = if version == latest {
            latest_at
        } else {
            let row =
                sqlx::query("SELECT at FROM plan_versions WHERE plan_id = $1 AND number = $2")
                    .bind(plan.as_str())
                    .bind(to_i64(number))
                    .fetch_one(&mut *conn)
                    .await?;
            decode_time(&row.try_get::<String, _>(0)?)?
        };
        load(&mut conn, self.backend, plan, version, latest, at).await
    }

    /// Versions of a plan, oldest first, starting after `after` (for paging), at most `limit`.
    pub async fn history(
        &self,
        plan: &PlanId,
        after: u64,
        limit: u32,
    ) -> Result<Vec<VersionInfo>, StoreError> {
        let mut conn = self.reader.get().await?;
        head(&mut conn, plan).await?;
        let rows = sqlx::query(
            "SELECT number, at, actor_id, actor_name, actor_role, format, command, reason \
             FROM plan_versions WHERE plan_id = $1 AND number > $2 ORDER BY number LIMIT $3",
        )
        .bind(plan.as_str())
        .bind(to_i64(after))
        .bind(i64::from(limit))
        .fetch_all(&mut *conn)
        .await?;
        rows.iter().map(version_info).collect()
    }

    /// Who made version `number`, when, and with which command.
    pub async fn version_info(
        &self,
        plan: &PlanId,
        number: u64,
    ) -> Result<VersionInfo, StoreError> {
        let mut conn = self.reader.get().await?;
        let (latest, _) = head(&mut conn, plan).await?;
        let row = sqlx::query(
            "SELECT number, at, actor_id, actor_name, actor_role, format, command, reason \
             FROM plan_versions WHERE plan_id = $1 AND number = $2",
        )
        .bind(plan.as_str())
        .bind(to_i64(number))
        .fetch_optional(&mut *conn)
        .await?
        .ok_or(StoreError::NoSuchVersion {
            asked: number,
            latest,
        })?;
        version_info(&row)
    }

    /// What changed between versions `a` and `b`, item by item.
    pub async fn diff(&self, plan: &PlanId, a: u64, b: u64) -> Result<PlanDiff, StoreError> {
        let (from, to) = (self.version(plan, a).await?, self.version(plan, b).await?);
        Ok(careplan_model::diff(&from, &to))
    }

    /// People with plans, by family name then given name. `search` matches part of a name
    /// (case-insensitive) or a whole NHS number.
    pub async fn people(
        &self,
        search: Option<&str>,
        limit: u32,
        offset: u32,
    ) -> Result<Vec<PersonSummary>, StoreError> {
        self.people_in(search, limit, offset, &PeopleScope::All)
            .await
    }

    pub(crate) async fn people_in(
        &self,
        search: Option<&str>,
        limit: u32,
        offset: u32,
        scope: &PeopleScope,
    ) -> Result<Vec<PersonSummary>, StoreError> {
        let search = search.map(str::trim).filter(|s| !s.is_empty());
        let (pattern, nhs) = match search {
            None => ("%".to_owned(), None),
            Some(s) => (
                format!("%{}%", s.to_lowercase().replace(['%', '_'], "")),
                NhsNumber::parse(s).ok(),
            ),
        };
        let (restriction, key) = match scope {
            PeopleScope::All => ("", None),
            PeopleScope::Member(account) => (
                "AND id IN (SELECT plan_id FROM plan_members WHERE account = $5)",
                Some(account),
            ),
            PeopleScope::Person(person) => ("AND person_id = $5", Some(person)),
        };
        // On SQLite a search goes through the trigram index of names (migration 0006), which
        // `LIKE` on `plans` itself cannot use; PostgreSQL's trigram index serves `plans` directly.
        let matches = match (self.backend, search.is_some()) {
            (Backend::Sqlite, true) => {
                "id IN (SELECT s.plan_id FROM plan_search_ids s WHERE s.n IN \
                 (SELECT rowid FROM plan_names WHERE search_name LIKE $1))"
            }
            _ => "search_name LIKE $1",
        };
        let columns = format!(
            "SELECT id, person_id, given_name, family_name, date_of_birth, nhs_number, {}",
            head_columns!()
        );
        let tail = format!("{restriction} ORDER BY family_name, given_name, id LIMIT $3 OFFSET $4");
        // A search of one or two characters has no trigram: the trigram index would be read
        // whole and every match sorted. The first plans in name order are tried first: when
        // they hold a whole page of matches, that page is the answer (any later match comes
        // after it in the same order). Otherwise the search runs as any other.
        let short = self.backend == Backend::Sqlite
            && search.is_some_and(|s| s.chars().count() < 3)
            && limit > 0;
        if short {
            let sql = format!(
                "{columns} FROM (SELECT * FROM plans ORDER BY family_name, given_name, id \
                 LIMIT {SHORT_SEARCH_WALK}) p \
                 WHERE (search_name LIKE $1 OR nhs_number = $2) {tail}"
            );
            let page = self
                .people_query(sql, &pattern, nhs.as_ref(), limit, offset, key)
                .await?;
            if page.len() == limit as usize {
                return Ok(page);
            }
        }
        let sql = format!("{columns} FROM plans p WHERE ({matches} OR nhs_number = $2) {tail}");
        self.people_query(sql, &pattern, nhs.as_ref(), limit, offset, key)
            .await
    }

    /// Runs one of [`Store::people_in`]'s queries: `$1` the name pattern, `$2` the NHS number,
    /// `$3` / `$4` the page, `$5` the scope's key.
    async fn people_query(
        &self,
        sql: String,
        pattern: &str,
        nhs: Option<&NhsNumber>,
        limit: u32,
        offset: u32,
        key: Option<&String>,
    ) -> Result<Vec<PersonSummary>, StoreError> {
        // The SQL is one of a few fixed texts; every value is a bound parameter.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(pattern.to_owned())
            .bind(nhs.map(|n| n.as_str().to_owned()))
            .bind(i64::from(limit))
            .bind(i64::from(offset));
        if let Some(key) = key {
            query = query.bind(key.clone());
        }
        let rows = query.fetch_all(&mut *self.reader.get().await?).await?;
        rows.iter()
            .map(|row| {
                Ok(PersonSummary {
                    plan_id: row.try_get(0)?,
                    person_id: row.try_get(1)?,
                    given_name: row.try_get(2)?,
                    family_name: row.try_get(3)?,
                    date_of_birth: row.try_get(4)?,
                    nhs_number: row.try_get(5)?,
                    version: u64::try_from(row.try_get::<i64, _>(6)?).unwrap_or(0),
                    updated_at: row.try_get(7)?,
                })
            })
            .collect()
    }
}

/// A plan named by its id, or by whatever a person would give: NHS number, person id or plan id.
#[derive(Debug, Clone, Copy)]
pub enum PlanRef<'a> {
    Id(&'a PlanId),
    Key(&'a str),
}

/// Whose people a listing may include.
#[derive(Debug, Clone)]
pub(crate) enum PeopleScope {
    All,
    /// Plans whose care team includes this account.
    Member(String),
    /// The plan of this person only.
    Person(String),
}
