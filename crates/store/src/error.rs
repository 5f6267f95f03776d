//! What can go wrong when storing or reading plans, each as a sentence for a person.

use careplan_model::{Issue, VersionNumber, issue::sentences};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// No plan matches what was asked for.
    #[error("No plan was found for “{0}”")]
    NotFound(String),
    /// The plan exists but not at that version.
    #[error("This plan has no version {asked}: its versions run from 1 to {latest}")]
    NoSuchVersion { asked: u64, latest: VersionNumber },
    /// The write was based on a version that is no longer the current one.
    #[error(
        "The plan has changed since version {expected} (it is now at version {current}): read it again and redo the change"
    )]
    Conflict {
        expected: VersionNumber,
        current: VersionNumber,
    },
    /// The model refused the change.
    #[error("{}", sentences(.0))]
    Rejected(Vec<Issue>),
    /// Another plan already has this NHS number.
    #[error("A person with NHS number {0} already has a plan")]
    DuplicatePerson(String),
    #[error("{0}")]
    Config(String),
    /// Stored data could not be read back: a bug or damage, never bad input.
    #[error("The stored plan could not be read: {0}")]
    Corrupt(String),
    #[error("The database failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("The database schema could not be brought up to date: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
