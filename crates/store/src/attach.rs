//! CSP-2 attaching a file: the file is kept in the blob store and its record committed as one
//! plan version, or neither. The JSON API's upload route and the web interface's upload form
//! both come here.
//!
//! The order is what makes it safe:
//! 1. Everything that can be checked without the file is checked first (the version, the
//!    requester's rights, the record's fields and target: [`Handle::check`]), so a refused
//!    upload is refused before its bytes are read.
//! 2. The file is staged: streamed to a spool file, hashed, its type read from its bytes, photos
//!    stripped of location data. A refusal here leaves nothing (the spool file deletes itself).
//! 3. In a task of its own (so a client hanging up cannot stop it half-way), the file is kept
//!    in the store and the record committed. If the commit fails, a file this upload created
//!    is removed, and the references are checked *after* removing (copying it back if a
//!    concurrent upload of the same content committed meanwhile); the upload that committed
//!    checks afterwards that the file is still there. So no committed record names a missing
//!    file, and a failed upload leaves nothing.

use careplan_blobs::{BlobStore, Staged, UploadError};
use careplan_model::attachment::{Purpose, Sha256Hex};
use careplan_model::{Command, ItemId, ItemKind, PlanId, Target, Text, VersionNumber};
use futures_util::Stream;

use crate::handle::Handle;
use crate::write::Committed;
use crate::{Store, StoreError};

/// What the record of an attached file says, apart from the file itself.
#[derive(Debug, Clone)]
pub struct NewFile {
    pub id: Option<ItemId>,
    pub target: Target,
    pub title: Text,
    pub purpose: Purpose,
    /// A text alternative for an image, diagram or clip.
    pub description: Option<Text>,
}

impl NewFile {
    fn command(&self, sha256: &str, size: u64, media_type: &str) -> Result<Command, StoreError> {
        let corrupt = |e: careplan_model::values::InvalidValue| StoreError::Corrupt(e.to_string());
        Ok(Command::AddAttachment {
            id: self.id.clone(),
            target: self.target.clone(),
            title: self.title.clone(),
            purpose: self.purpose,
            content_type: Text::new(media_type).map_err(corrupt)?,
            size_bytes: size,
            sha256: Sha256Hex::parse(sha256).map_err(corrupt)?,
            description: self.description.clone(),
        })
    }
}

/// Why a file was not attached: the plan refused the record, or the file was refused.
#[derive(Debug, thiserror::Error)]
pub enum AttachError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Upload(#[from] UploadError),
}

/// An attached file: the version that recorded it, the attachment's id, and the file as stored.
#[derive(Debug)]
pub struct Attached {
    pub committed: Committed,
    pub id: ItemId,
    pub sha256: String,
    pub size: u64,
    pub media_type: String,
    /// Whether location data was removed from a photo.
    pub stripped: bool,
}

impl Handle {
    /// Attaches the file streamed in `body` (claimed type `claimed`, declared length
    /// `declared`) to the plan at version `base`, as this requester. See the module docs for
    /// the order of the steps.
    #[allow(clippy::too_many_arguments)]
    pub async fn attach_file<S, E>(
        &self,
        blobs: &BlobStore,
        plan_id: &PlanId,
        base: VersionNumber,
        file: NewFile,
        reason: Option<Text>,
        body: S,
        claimed: Option<&str>,
        declared: Option<u64>,
    ) -> Result<Attached, AttachError>
    where
        S: Stream<Item = Result<bytes::Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        // The digest stands in until the file has one.
        let probe = file.command(&"0".repeat(64), 1, "application/octet-stream")?;
        self.check(plan_id, base, vec![probe]).await?;
        let staged = blobs.stage(body, claimed, declared).await?;
        let command = file.command(&staged.sha256, staged.size, &staged.media_type)?;
        let (handle, blobs, plan_id) = (self.clone(), blobs.clone(), plan_id.clone());
        let (committed, staged) = tokio::spawn(async move {
            let created = match blobs.keep(&staged).await {
                Ok(created) => created,
                Err(e) => return (Err(AttachError::Upload(e.into())), staged),
            };
            match handle.apply(&plan_id, base, vec![command], reason).await {
                Ok(committed) => {
                    // Another upload's failed commit may have removed the same content between
                    // our copy and our commit; it checks for references only after removing,
                    // so a check here, after our commit, closes the gap.
                    if !created && !blobs.exists(&staged.sha256).await.unwrap_or(true) {
                        let _ = blobs.keep(&staged).await;
                    }
                    (Ok(committed), staged)
                }
                Err(err) => {
                    if created {
                        forget(&handle.store, &blobs, &staged).await;
                    }
                    (Err(AttachError::Store(err)), staged)
                }
            }
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("an upload's commit task failed: {e}")))?;
        let last = committed?
            .pop()
            .ok_or_else(|| StoreError::Corrupt("an upload committed no version".into()))?;
        let id = last
            .changed
            .iter()
            .find(|k| k.kind == ItemKind::Attachment)
            .map(|k| k.id.clone())
            .ok_or_else(|| StoreError::Corrupt("an upload recorded no attachment".into()))?;
        Ok(Attached {
            committed: last,
            id,
            sha256: staged.sha256.clone(),
            size: staged.size,
            media_type: staged.media_type.clone(),
            stripped: staged.stripped,
        })
    }
}

/// Removes content this upload created when its record could not be committed. Removing first
/// and checking for references afterwards means a concurrent upload of the same content that
/// did commit is never left without its file: either we see its record and copy the file back,
/// or it sees the file missing after its commit and copies it back itself.
async fn forget(store: &Store, blobs: &BlobStore, staged: &Staged) {
    if blobs.remove(&staged.sha256).await.is_err() {
        return;
    }
    match store.blob_referenced(&staged.sha256).await {
        Ok(false) => {}
        Ok(true) | Err(_) => {
            let _ = blobs.keep(staged).await;
        }
    }
}
