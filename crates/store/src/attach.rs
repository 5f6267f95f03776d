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
//!
//! A plan imported with its files ([`Handle::create_person_with_files`], a FHIR Bundle whose
//! attachments carry their bytes inline) takes the same path with many files: each is staged
//! and checked against its record (type, digest, no location data left to remove), all are
//! kept, then the person and the whole plan commit in one transaction, or the files this import
//! created are removed again.

use careplan_blobs::{BlobStore, Staged, UploadError};
use careplan_model::attachment::{Purpose, Sha256Hex};
use careplan_model::{Command, ItemId, ItemKind, Person, PlanId, Target, Text, VersionNumber};
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

/// Why a plan that came with its files was not added: the plan was refused, one of its files
/// was, or the file store failed.
#[derive(Debug, thiserror::Error)]
pub enum CarriedError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A file was refused; `title` is its record's.
    #[error("The file of the attachment “{title}” cannot be kept: {reason}")]
    Refused { title: String, reason: String },
    #[error(transparent)]
    Storage(#[from] careplan_blobs::BlobError),
}

/// A file that arrives whole beside its record, as a FHIR import's inline data does.
#[derive(Debug, Clone)]
pub struct CarriedFile {
    /// The record's title, to name the file in a refusal.
    pub title: String,
    /// The media type the record states.
    pub media_type: String,
    /// The SHA-256 the record states, lower-case hex.
    pub sha256: String,
    pub bytes: bytes::Bytes,
}

impl CarriedFile {
    /// Stages the file as an upload is staged, then holds it to its record: the type decided
    /// from its bytes and its digest must be the record's. A photo that still carries location
    /// data is refused rather than changed, since removing the data would give it another
    /// digest than its record names.
    async fn stage(&self, blobs: &BlobStore) -> Result<Staged, CarriedError> {
        let refused = |reason: String| CarriedError::Refused {
            title: self.title.clone(),
            reason,
        };
        let size = self.bytes.len() as u64;
        let body =
            futures_util::stream::iter([Ok::<_, std::convert::Infallible>(self.bytes.clone())]);
        let staged = blobs
            .stage(body, Some(&self.media_type), Some(size))
            .await
            .map_err(|e| match e {
                UploadError::Storage(e) => CarriedError::Storage(e),
                e => refused(e.to_string()),
            })?;
        let stated = careplan_blobs::sniff::normalise(&self.media_type);
        if staged.media_type != stated {
            return Err(refused(format!(
                "its record says it is {stated}, but its contents are {}",
                staged.media_type
            )));
        }
        if staged.stripped {
            return Err(refused(
                "it is a photo that still holds location data, which this service removes from \
                 every photo; remove the location data where the plan came from and export it \
                 again"
                    .into(),
            ));
        }
        if staged.sha256 != self.sha256 {
            return Err(refused(format!(
                "its SHA-256 is {}, not the {} its record names",
                staged.sha256, self.sha256
            )));
        }
        Ok(staged)
    }
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

impl Handle {
    /// Adds a person and builds their plan with `commands`, as
    /// [`Handle::create_person_with`] does, keeping the `files` their attachments name: every
    /// file is checked before anything is kept, and if the plan cannot be committed the files
    /// this call created are removed again. So either the plan and all its files are there, or
    /// nothing is.
    pub async fn create_person_with_files(
        &self,
        blobs: &BlobStore,
        person: Person,
        commands: Vec<Command>,
        files: Vec<CarriedFile>,
    ) -> Result<Vec<Committed>, CarriedError> {
        if files.is_empty() {
            return Ok(self.create_person_with(person, commands).await?);
        }
        self.may_add_people().await?;
        let mut staged = Vec::with_capacity(files.len());
        for file in &files {
            staged.push(file.stage(blobs).await?);
        }
        let (handle, blobs) = (self.clone(), blobs.clone());
        // As for an upload, in a task of its own so that a client hanging up cannot stop it
        // between keeping the files and committing (or removing them).
        tokio::spawn(async move {
            let mut created = Vec::new();
            for s in &staged {
                match blobs.keep(s).await {
                    Ok(true) => created.push(s),
                    Ok(false) => {}
                    Err(e) => {
                        for c in created {
                            forget(&handle.store, &blobs, c).await;
                        }
                        return Err(CarriedError::Storage(e));
                    }
                }
            }
            match handle.create_person_with(person, commands).await {
                Ok(committed) => {
                    for s in &staged {
                        if !blobs.exists(&s.sha256).await.unwrap_or(true) {
                            let _ = blobs.keep(s).await;
                        }
                    }
                    Ok(committed)
                }
                Err(err) => {
                    for c in created {
                        forget(&handle.store, &blobs, c).await;
                    }
                    Err(CarriedError::Store(err))
                }
            }
        })
        .await
        .map_err(|e| StoreError::Corrupt(format!("an import's commit task failed: {e}")))?
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
