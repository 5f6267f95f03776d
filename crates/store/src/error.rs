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
    /// The requester may not do this; the sentence says why.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    Config(String),
    /// A username outside the allowed alphabet or length.
    #[error(
        "“{0}” is not a valid username: use 1 to 64 lower-case letters, digits, dots, hyphens or underscores"
    )]
    InvalidUsername(String),
    /// A password too short (or absurdly long).
    #[error("A password must be between {min} and {max} characters long")]
    InvalidPassword { min: usize, max: usize },
    /// An account, token or identity that breaks a rule; the text is the sentence.
    #[error("{0}")]
    InvalidAccount(String),
    #[error("An account named “{0}” already exists")]
    DuplicateAccount(String),
    #[error("No account “{0}” was found")]
    NoSuchAccount(String),
    #[error("The account “{0}” is disabled")]
    AccountDisabled(String),
    /// An account was to be linked to a person who has no plan here.
    #[error("No person with id “{0}” has a plan")]
    NoSuchPerson(String),
    /// Hashing, random bytes or a blocking task failed: never bad input.
    #[error("A secret could not be made or checked: {0}")]
    Secret(String),
    /// An audit entry could not be made durable, so the access it records did not happen.
    #[error("The audit trail could not be written: {0}")]
    Audit(String),
    /// What a read was decided on changed before its audit entry was committed; the read is
    /// made again from the database, so this never reaches a caller of a `Handle`.
    #[error("The plan or the sign-in changed while it was being read: try again")]
    Stale,
    /// The bearer token or session a read was made with no longer signs anyone in.
    #[error("The sign-in is no longer valid: sign in again")]
    Unauthenticated,
    /// Stored data could not be read back: a bug or damage, never bad input.
    #[error("The stored plan could not be read: {0}")]
    Corrupt(String),
    #[error("The database failed: {0}")]
    Database(#[from] sqlx::Error),
    #[error("The database schema could not be brought up to date: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}
