//! The blob store: the bytes of attachments (CSP-2), stored once per content.
//!
//! An upload is streamed to a spool file in the data directory while its SHA-256 is computed and
//! its size counted against the limit; its first bytes decide its type (the claim is checked
//! against them, see [`sniff`]); photos lose their location metadata ([`strip`]). Only then is it
//! copied, in parts, to the object store under `sha256/<hex>`: a local directory by default, or
//! any S3-compatible store. A rejected or abandoned upload leaves nothing: the spool file is
//! deleted when the [`Staged`] value is dropped, and nothing reaches the object store before the
//! upload is complete and accepted.
//!
//! Memory stays flat whatever the size: the body is never held whole, only one part (a few MiB)
//! of the copy to the object store at a time.

pub mod range;
pub mod sniff;
pub mod strip;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use futures_util::stream::BoxStream;
use futures_util::{Stream, StreamExt, TryStreamExt};
use object_store::path::Path as ObjectPath;
use object_store::{GetOptions, GetRange, ObjectStore, ObjectStoreExt, WriteMultipart};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub use range::{RangeRequest, parse_range};
pub use sniff::{Family, describe, extension, family};

/// The default largest upload: 256 MiB, enough for a few minutes of phone video.
pub const DEFAULT_MAX_UPLOAD_BYTES: u64 = 256 * 1024 * 1024;
/// Photos are read whole to remove their metadata, so they have a lower limit of their own.
pub const MAX_IMAGE_BYTES: u64 = 64 * 1024 * 1024;
/// The size of each part copied to the object store (S3 needs at least 5 MiB).
const PART_BYTES: usize = 8 * 1024 * 1024;

/// Why an upload was not accepted. Each says, in a sentence, what to do.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("The file is larger than this service accepts ({limit} bytes at most)")]
    TooLarge { limit: u64 },
    #[error("The file is empty")]
    Empty,
    #[error(
        "Files of this kind ({found}) are not accepted. Accepted are {}",
        sniff::accepted_summary()
    )]
    NotAllowed { found: String },
    #[error(
        "The file's type ({claimed}, {}) does not match its contents ({}): choose the right file or type",
        describe(claimed),
        describe(found)
    )]
    Contradicts { claimed: String, found: String },
    #[error("The upload was interrupted before the whole file arrived: {0}")]
    Interrupted(String),
    #[error("The image could not be read to remove its location data: {0}")]
    BadImage(String),
    #[error(transparent)]
    Storage(#[from] BlobError),
}

/// A failure of the blob store itself (disk, network), not of the upload.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("the file store could not be used: {0}")]
    Io(#[from] std::io::Error),
    #[error("the file store could not be used: {0}")]
    Store(#[from] object_store::Error),
    #[error("no file is stored with that digest")]
    NotFound,
    #[error("the file store is misconfigured: {0}")]
    Config(String),
}

/// An accepted upload, held in the spool until it is kept or dropped (then deleted).
#[derive(Debug)]
pub struct Staged {
    file: tempfile::NamedTempFile,
    /// SHA-256 of the bytes as stored (after metadata removal), lower-case hex.
    pub sha256: String,
    pub size: u64,
    /// The media type, decided from the bytes.
    pub media_type: String,
    /// Whether location metadata was removed from a photo.
    pub stripped: bool,
}

/// Where the bytes live, and the limits on uploads.
#[derive(Debug, Clone)]
pub struct BlobStore {
    objects: Arc<dyn ObjectStore>,
    /// The directory of a local store, to make its files durable (fsync) once written.
    local_root: Option<PathBuf>,
    spool: PathBuf,
    max_upload_bytes: u64,
    description: String,
}

impl BlobStore {
    /// A store in a local directory (`<dir>/objects`), spooling uploads in `<dir>/spool`.
    pub fn local(dir: &Path, max_upload_bytes: u64) -> Result<Self, BlobError> {
        let root = dir.join("objects");
        std::fs::create_dir_all(&root)?;
        let spool = dir.join("spool");
        std::fs::create_dir_all(&spool)?;
        clear_spool(&spool);
        let objects = object_store::local::LocalFileSystem::new_with_prefix(&root)?
            .with_automatic_cleanup(true);
        Ok(Self {
            objects: Arc::new(objects),
            description: format!("local directory {}", root.display()),
            local_root: Some(root),
            spool,
            max_upload_bytes,
        })
    }

    /// A store named by URL: `s3://bucket[/prefix]` (credentials, region and endpoint from the
    /// usual `AWS_*` environment variables, e.g. `AWS_ENDPOINT` for MinIO or Ceph and
    /// `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint), or `file:///absolute/dir`. Uploads spool
    /// in `spool`, a local directory.
    pub fn from_url(url: &str, spool: &Path, max_upload_bytes: u64) -> Result<Self, BlobError> {
        Self::from_url_with(url, spool, max_upload_bytes, &[])
    }

    /// As [`BlobStore::from_url`], with S3 settings given here overriding the environment's:
    /// `(key, value)` pairs named as object_store's `AmazonS3ConfigKey` reads them, e.g.
    /// `("aws_endpoint", "http://127.0.0.1:9000")`, `("aws_allow_http", "true")`.
    pub fn from_url_with(
        url: &str,
        spool: &Path,
        max_upload_bytes: u64,
        options: &[(&str, &str)],
    ) -> Result<Self, BlobError> {
        if let Some(dir) = url.strip_prefix("file://") {
            let mut store = Self::local(Path::new(dir), max_upload_bytes)?;
            store.spool = spool.to_owned();
            std::fs::create_dir_all(spool)?;
            return Ok(store);
        }
        if !url.starts_with("s3://") {
            return Err(BlobError::Config(format!(
                "“{url}” is not a blob store address: use s3://bucket/prefix or file:///dir"
            )));
        }
        let without = &url["s3://".len()..];
        let (bucket, prefix) = without.split_once('/').unwrap_or((without, ""));
        let mut builder = object_store::aws::AmazonS3Builder::from_env().with_bucket_name(bucket);
        for (key, value) in options {
            let key: object_store::aws::AmazonS3ConfigKey = key
                .parse()
                .map_err(|e: object_store::Error| BlobError::Config(e.to_string()))?;
            builder = builder.with_config(key, *value);
        }
        let s3 = builder
            .build()
            .map_err(|e| BlobError::Config(e.to_string()))?;
        let objects: Arc<dyn ObjectStore> = if prefix.trim_matches('/').is_empty() {
            Arc::new(s3)
        } else {
            Arc::new(object_store::prefix::PrefixStore::new(
                s3,
                prefix.trim_matches('/'),
            ))
        };
        std::fs::create_dir_all(spool)?;
        clear_spool(spool);
        Ok(Self {
            objects,
            local_root: None,
            spool: spool.to_owned(),
            max_upload_bytes,
            description: format!("S3 bucket {bucket}"),
        })
    }

    /// Where the bytes are kept, for logs and `careplan serve`'s first lines.
    pub fn description(&self) -> &str {
        &self.description
    }

    pub fn max_upload_bytes(&self) -> u64 {
        self.max_upload_bytes
    }

    /// Streams an upload into the spool, deciding and checking its type from its first bytes,
    /// hashing and counting it. `claimed` is the client's Content-Type; `declared` its
    /// Content-Length, refused at once when over the limit.
    pub async fn stage<S, E>(
        &self,
        mut body: S,
        claimed: Option<&str>,
        declared: Option<u64>,
    ) -> Result<Staged, UploadError>
    where
        S: Stream<Item = Result<Bytes, E>> + Unpin,
        E: std::fmt::Display,
    {
        let limit = self.max_upload_bytes;
        if declared.is_some_and(|n| n > limit) {
            return Err(UploadError::TooLarge { limit });
        }
        let spool = tempfile::Builder::new()
            .prefix("upload-")
            .tempfile_in(&self.spool)
            .map_err(BlobError::from)?;
        let mut out = tokio::fs::File::from_std(spool.reopen().map_err(BlobError::from)?);
        let mut hasher = Sha256::new();
        let mut size: u64 = 0;
        let mut head: Vec<u8> = Vec::new();
        let mut verdict: Option<(String, bool)> = None;
        let mut text = sniff::TextCheck::default();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| UploadError::Interrupted(e.to_string()))?;
            size += chunk.len() as u64;
            if size > limit {
                return Err(UploadError::TooLarge { limit });
            }
            if verdict.is_none() {
                let take = (sniff::HEAD_BYTES - head.len()).min(chunk.len());
                head.extend_from_slice(&chunk[..take]);
                if head.len() == sniff::HEAD_BYTES {
                    verdict = Some(decide(&head, claimed)?);
                }
            }
            if verdict.as_ref().is_none_or(|(_, is_text)| *is_text) {
                text.feed(&chunk);
            }
            hasher.update(&chunk);
            out.write_all(&chunk).await.map_err(BlobError::from)?;
        }
        if size == 0 {
            return Err(UploadError::Empty);
        }
        let (media_type, is_text) = match verdict {
            Some(v) => v,
            None => decide(&head, claimed)?,
        };
        if is_text && !text.is_text() {
            return Err(UploadError::Contradicts {
                claimed: media_type,
                found: "binary data".into(),
            });
        }
        out.flush().await.map_err(BlobError::from)?;
        drop(out);
        let mut staged = Staged {
            file: spool,
            sha256: hex(&hasher.finalize()),
            size,
            media_type,
            stripped: false,
        };
        if family(&staged.media_type) == Some(Family::Image) {
            self.strip(&mut staged).await?;
        }
        Ok(staged)
    }

    async fn strip(&self, staged: &mut Staged) -> Result<(), UploadError> {
        if staged.size > MAX_IMAGE_BYTES {
            return Err(UploadError::TooLarge {
                limit: MAX_IMAGE_BYTES,
            });
        }
        let bytes = Bytes::from(
            tokio::fs::read(staged.file.path())
                .await
                .map_err(BlobError::from)?,
        );
        let media_type = staged.media_type.clone();
        let cleaned =
            tokio::task::spawn_blocking(move || strip::strip_metadata(&media_type, bytes))
                .await
                .map_err(|e| UploadError::BadImage(e.to_string()))?
                .map_err(|e| UploadError::BadImage(e.to_string()))?;
        if let Some(cleaned) = cleaned {
            tokio::fs::write(staged.file.path(), &cleaned)
                .await
                .map_err(BlobError::from)?;
            staged.sha256 = hex(&Sha256::digest(&cleaned));
            staged.size = cleaned.len() as u64;
            staged.stripped = true;
        }
        Ok(())
    }

    /// Copies a staged upload into the store unless the same content is already there. Returns
    /// whether this call created it (so that a failed commit knows whether to remove it).
    pub async fn keep(&self, staged: &Staged) -> Result<bool, BlobError> {
        let location = object_path(&staged.sha256);
        match self.objects.head(&location).await {
            Ok(_) => return Ok(false),
            Err(object_store::Error::NotFound { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        let upload = self.objects.put_multipart(&location).await?;
        let mut writer = WriteMultipart::new_with_chunk_size(upload, PART_BYTES);
        let mut file = tokio::fs::File::open(staged.file.path()).await?;
        let mut buf = vec![0u8; 1024 * 1024];
        loop {
            let n = file.read(&mut buf).await?;
            if n == 0 {
                break;
            }
            // At most two parts in flight: memory stays at a few parts whatever the file size.
            if let Err(e) = writer.wait_for_capacity(2).await {
                return Err(e.into());
            }
            writer.write(&buf[..n]);
        }
        writer.finish().await?;
        if let Some(root) = &self.local_root {
            sync_local(root, &staged.sha256).await?;
        }
        Ok(true)
    }

    /// Whether content with this digest is stored.
    pub async fn exists(&self, sha256: &str) -> Result<bool, BlobError> {
        match self.objects.head(&object_path(sha256)).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes content. Only for content that no committed record refers to.
    pub async fn remove(&self, sha256: &str) -> Result<(), BlobError> {
        match self.objects.delete(&object_path(sha256)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }

    /// The size of stored content.
    pub async fn size(&self, sha256: &str) -> Result<u64, BlobError> {
        match self.objects.head(&object_path(sha256)).await {
            Ok(meta) => Ok(meta.size),
            Err(object_store::Error::NotFound { .. }) => Err(BlobError::NotFound),
            Err(e) => Err(e.into()),
        }
    }

    /// Reads stored content, whole or one byte range (end exclusive), as a stream of chunks.
    pub async fn read(
        &self,
        sha256: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<BoxStream<'static, Result<Bytes, BlobError>>, BlobError> {
        let options = GetOptions {
            range: range.map(GetRange::Bounded),
            ..GetOptions::default()
        };
        let result = match self.objects.get_opts(&object_path(sha256), options).await {
            Ok(r) => r,
            Err(object_store::Error::NotFound { .. }) => return Err(BlobError::NotFound),
            Err(e) => return Err(e.into()),
        };
        Ok(result.into_stream().map_err(BlobError::from).boxed())
    }

    /// Every digest in the store (for checks and tests), in no particular order.
    pub async fn digests(&self) -> Result<Vec<String>, BlobError> {
        let prefix = ObjectPath::from("sha256");
        let metas: Vec<_> = self.objects.list(Some(&prefix)).try_collect().await?;
        Ok(metas
            .into_iter()
            .filter_map(|m| m.location.filename().map(str::to_owned))
            .collect())
    }

    /// Files left in the spool (for tests: there should be none between requests).
    pub fn spooled(&self) -> usize {
        std::fs::read_dir(&self.spool).map_or(0, |d| d.count())
    }
}

fn decide(head: &[u8], claimed: Option<&str>) -> Result<(String, bool), UploadError> {
    match sniff::judge(&sniff::sniff(head), claimed) {
        sniff::Verdict::Accept { media_type, text } => Ok((media_type, text)),
        sniff::Verdict::NotAllowed { found } => Err(UploadError::NotAllowed { found }),
        sniff::Verdict::Contradicts { claimed, found } => {
            Err(UploadError::Contradicts { claimed, found })
        }
    }
}

fn object_path(sha256: &str) -> ObjectPath {
    ObjectPath::from(format!("sha256/{sha256}"))
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Spool files left by a process that stopped mid-upload are never going to be used. Only old
/// ones are removed: another process on the same data directory may be receiving one now.
fn clear_spool(spool: &Path) {
    let day = std::time::Duration::from_secs(24 * 60 * 60);
    if let Ok(entries) = std::fs::read_dir(spool) {
        for entry in entries.flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|age| age > day));
            if old {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// Makes a newly written local file and its directory entry durable, as the database's commit is.
async fn sync_local(root: &Path, sha256: &str) -> Result<(), BlobError> {
    let file = root.join("sha256").join(sha256);
    let dir = root.join("sha256");
    tokio::task::spawn_blocking(move || -> std::io::Result<()> {
        std::fs::File::open(&file)?.sync_all()?;
        std::fs::File::open(&dir)?.sync_all()
    })
    .await
    .map_err(|e| BlobError::Io(std::io::Error::other(e)))??;
    Ok(())
}
