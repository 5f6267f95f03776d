//! Which stored files (blobs) the plans refer to. The blob store keeps each file once, by its
//! SHA-256, however many attachments name it; before removing a file that an upload created but
//! could not commit, the service asks here whether any committed attachment names it.

use sqlx::Row;

use crate::{Store, StoreError};

impl Store {
    /// Whether any attachment in any plan, archived or not, names this SHA-256 (lower-case hex).
    /// Items are never deleted and an attachment's file never changes, so the current rows are
    /// enough.
    pub async fn blob_referenced(&self, sha256: &str) -> Result<bool, StoreError> {
        if sha256.len() != 64 || !sha256.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Ok(false);
        }
        // The digest is 64 hex characters, so a textual match on the body cannot be confused
        // with anything else; a false match would only keep a file, never lose one.
        let row =
            sqlx::query("SELECT COUNT(*) FROM plan_items_current WHERE kind = $1 AND body LIKE $2")
                .bind(careplan_model::ItemKind::Attachment.as_str())
                .bind(format!("%\"sha256\":\"{sha256}\"%"))
                .fetch_one(&mut *self.reader.get().await?)
                .await?;
        let count: i64 = row.try_get(0)?;
        Ok(count > 0)
    }
}
