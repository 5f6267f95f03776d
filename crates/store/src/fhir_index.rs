//! Look-ups the FHIR endpoint needs: which plans hold an item with a given id. FHIR reads name
//! a resource by type and id only, and item ids are unique within a plan, not across plans, so
//! the endpoint asks which of the plans a requester may open hold that id.

use careplan_model::PlanId;
use sqlx::Row;

use crate::read::PeopleScope;
use crate::{Store, StoreError};

impl Store {
    /// The plans (within `scope`) that hold an item with id `item_id`, archived or not. Items
    /// are never deleted, so the current rows name every item a plan has ever had.
    pub(crate) async fn plans_with_item(
        &self,
        item_id: &str,
        scope: &PeopleScope,
    ) -> Result<Vec<PlanId>, StoreError> {
        let (restriction, key) = match scope {
            PeopleScope::All => ("", None),
            PeopleScope::Member(account) => (
                "AND plan_id IN (SELECT plan_id FROM plan_members WHERE account = $2)",
                Some(account),
            ),
            PeopleScope::Person(person) => (
                "AND plan_id IN (SELECT id FROM plans WHERE person_id = $2)",
                Some(person),
            ),
        };
        let sql = format!(
            "SELECT DISTINCT plan_id FROM plan_items_current WHERE item_id = $1 {restriction} \
             ORDER BY plan_id LIMIT 100"
        );
        // The SQL is one of three fixed texts; every value is a bound parameter.
        let mut query = sqlx::query(sqlx::AssertSqlSafe(sql)).bind(item_id.to_owned());
        if let Some(key) = key {
            query = query.bind(key.clone());
        }
        let rows = query.fetch_all(&mut *self.reader.get().await?).await?;
        rows.iter()
            .map(|row| {
                let id: String = row.try_get(0)?;
                PlanId::parse(&id).map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect()
    }
}
