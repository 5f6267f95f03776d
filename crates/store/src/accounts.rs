//! Accounts, passwords (Argon2id), bearer tokens and browser sessions.
//!
//! No secret is stored as it was given. Passwords are Argon2id PHC strings made with the
//! `argon2` crate's defaults (Argon2id v19, 19 MiB of memory, 2 passes, 1 lane: the first of
//! OWASP's recommended settings); a hash records its own parameters, so raising them later
//! leaves existing passwords verifiable. Bearer tokens (`cpt_…`) and session ids (`cps_…`) carry
//! 256 bits from the operating system's random source and are stored only as their SHA-256: with
//! that much entropy a fast hash is enough, and lookup by hash needs no per-row salt.
//!
//! Hashing a password takes tens of milliseconds of CPU, so it runs on tokio's blocking pool.
//! Signing in as an unknown, disabled or password-less account still verifies a password against
//! a dummy hash with the same parameters, so timing does not tell which usernames exist.
//!
//! The OpenID Connect seam: an account may carry an external identity (issuer, subject);
//! [`Store::link_identity`] sets it and [`Store::account_for_identity`] finds the account, so a
//! later sign-in flow only has to verify the ID token and call it. Such accounts need no password.
//!
//! Rate-limiting sign-in is the HTTP layer's job; [`LoginLimiter`] is the pure piece it needs.

use std::collections::{HashMap, VecDeque};
use std::fmt;
use std::net::IpAddr;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::phc::PasswordHash;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use careplan_model::{Actor, PersonId, Requester, Role, Text};
use serde::Serialize;
use sha2::{Digest, Sha256};
use sqlx::Row;
use time::OffsetDateTime;
use time::format_description::BorrowedFormatItem;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::cache::{CachedToken, Epoch};
use crate::{Store, StoreError};

/// Passwords shorter than this are refused (NCSC and NIST SP 800-63B favour length over rules).
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Longer passwords are refused, so a request cannot make the server hash megabytes.
pub const MAX_PASSWORD_CHARS: usize = 1024;
/// The longest a session may last; a longer `ttl` is cut to this.
pub const MAX_SESSION_TTL: Duration = Duration::from_secs(366 * 24 * 60 * 60);
/// `last_used_at` of a token is written at most this often, so a busy client does not turn
/// every request into a write.
pub const TOKEN_USE_RESOLUTION: Duration = Duration::from_secs(60);

const TOKEN_PREFIX: &str = "cpt_";
const SESSION_PREFIX: &str = "cps_";
const MAX_USERNAME_CHARS: usize = 64;
const MAX_NAME_CHARS: usize = 200;

/// A sign-in account: a person, someone acting for them, a practitioner, or another system.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// A UUID; what care team members' `account` and [`Requester::account`] hold.
    pub id: String,
    pub username: String,
    pub display_name: String,
    pub role: Role,
    /// For a person, representative or carer account: the person it is linked to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub person_id: Option<PersonId>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub organisation: Option<String>,
    pub disabled: bool,
}

impl Account {
    /// Who is asking, for the model's access decision.
    pub fn requester(&self) -> Requester {
        Requester {
            account: self.id.clone(),
            role: self.role,
            person: self.person_id.clone(),
            organisation: self.organisation.clone(),
        }
    }

    /// Who made a change, as stamped on versions: the account id, its display name and role.
    pub fn actor(&self) -> Actor {
        Actor {
            id: text_or(&self.id, "account"),
            name: text_or(&self.display_name, &self.username),
            role: self.role,
        }
    }
}

/// How a request signed in, kept by a [`Handle`](crate::handle::Handle) so that a read made
/// with an account taken from memory can be checked against the database when it must be.
#[derive(Clone)]
pub struct Credential {
    /// The SHA-256 of the bearer token.
    hash: String,
    /// The account as it was when the token was looked up.
    account: Account,
    /// The read cache's epoch, if the account was taken from memory.
    epoch: Option<Epoch>,
}

impl Credential {
    /// The epoch the account was taken from memory at (`None`: read from the database).
    pub(crate) fn epoch(&self) -> Option<Epoch> {
        self.epoch
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("account", &self.account.username)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// `value` as `Text`, or `fallback` if it is not valid text (never the case for a stored account).
fn text_or(value: &str, fallback: &str) -> Text {
    Text::new(value)
        .or_else(|_| Text::new(fallback))
        .unwrap_or_else(|_| Text::new("unknown account").expect("a non-empty literal"))
}

/// What [`Store::create_account`] needs. `Debug` leaves the password out.
#[derive(Clone)]
pub struct NewAccount {
    /// Stored lower-case; 1 to 64 of `a-z`, `0-9`, `.`, `_`, `-`.
    pub username: String,
    /// The name people see; the username when absent.
    pub display_name: Option<String>,
    pub role: Role,
    /// Required for person, representative and carer accounts, refused for the others.
    pub person_id: Option<PersonId>,
    /// Allowed for practitioner, data controller, administrator and system accounts.
    pub organisation: Option<String>,
    /// At least [`MIN_PASSWORD_CHARS`] characters; `None` for an account that signs in only
    /// with tokens or an external identity.
    pub password: Option<String>,
}

impl fmt::Debug for NewAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NewAccount")
            .field("username", &self.username)
            .field("display_name", &self.display_name)
            .field("role", &self.role)
            .field("person_id", &self.person_id)
            .field("organisation", &self.organisation)
            .field("password", &self.password.as_ref().map(|_| "…"))
            .finish()
    }
}

/// The username as stored: trimmed and lower-case, or why it cannot be one.
pub fn normalise_username(name: &str) -> Result<String, StoreError> {
    let username = name.trim().to_ascii_lowercase();
    let valid = !username.is_empty()
        && username.len() <= MAX_USERNAME_CHARS
        && username.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        });
    if valid {
        Ok(username)
    } else {
        Err(StoreError::InvalidUsername(name.trim().to_owned()))
    }
}

fn check_password(password: &str) -> Result<(), StoreError> {
    let chars = password.chars().count();
    if (MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        Ok(())
    } else {
        Err(StoreError::InvalidPassword {
            min: MIN_PASSWORD_CHARS,
            max: MAX_PASSWORD_CHARS,
        })
    }
}

/// Trimmed text of at most `MAX_NAME_CHARS` characters, `None` when blank.
fn short_text(value: Option<&str>, what: &str) -> Result<Option<String>, StoreError> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    match Text::new(value) {
        Ok(_) if value.chars().count() <= MAX_NAME_CHARS => Ok(Some(value.to_owned())),
        _ => Err(StoreError::InvalidAccount(format!(
            "{what} must be at most {MAX_NAME_CHARS} characters of printable text"
        ))),
    }
}

/// Which roles are linked to a person, and which may name an organisation.
fn check_role_links(
    role: Role,
    person: Option<&PersonId>,
    organisation: Option<&str>,
) -> Result<(), StoreError> {
    let linked = matches!(role, Role::Person | Role::Representative | Role::Carer);
    if linked && person.is_none() {
        return Err(StoreError::InvalidAccount(format!(
            "An account for {} must be linked to a person",
            article(role)
        )));
    }
    if !linked && person.is_some() {
        return Err(StoreError::InvalidAccount(
            "Only the person's, a representative's or a carer's account is linked to a person"
                .into(),
        ));
    }
    // Organisation rules in consent preferences and releases apply to staff and systems; a
    // person, representative or carer is identified by their link to the person instead.
    if linked && organisation.is_some() {
        return Err(StoreError::InvalidAccount(
            "Only practitioner, data controller, administrator and system accounts name an organisation"
                .into(),
        ));
    }
    Ok(())
}

fn article(role: Role) -> String {
    match role {
        Role::Person => "the person".into(),
        Role::Administrator => "an administrator".into(),
        other => format!("a {}", other.label()),
    }
}

// ---- Secrets ----------------------------------------------------------------------------------

/// Argon2id v19 with the crate's default costs (m = 19 MiB, t = 2, p = 1).
fn argon2() -> Argon2<'static> {
    Argon2::default()
}

fn hash_password(password: &str) -> Result<String, StoreError> {
    let hash: PasswordHash = argon2()
        .hash_password(password.as_bytes())
        .map_err(|e| StoreError::Secret(format!("hashing a password failed: {e}")))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the PHC string `phc`, using the parameters the hash records.
fn verify_password(password: &str, phc: &str) -> Result<bool, StoreError> {
    let hash = PasswordHash::new(phc).map_err(|_| {
        StoreError::Corrupt("the stored password hash of an account is not a PHC string".into())
    })?;
    match argon2().verify_password(password.as_bytes(), &hash) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
        Err(e) => Err(StoreError::Corrupt(format!(
            "the stored password hash of an account could not be used: {e}"
        ))),
    }
}

/// A hash made with the same parameters as real ones, verified when there is no real one.
/// Made once per process at first use rather than written here, so it follows the defaults.
fn dummy_hash() -> Result<&'static str, StoreError> {
    static DUMMY: OnceLock<String> = OnceLock::new();
    if let Some(hash) = DUMMY.get() {
        return Ok(hash);
    }
    let hash = hash_password("not a password: only here to take as long as one")?;
    Ok(DUMMY.get_or_init(|| hash))
}

/// Runs CPU-heavy work off the async worker threads.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| StoreError::Secret(format!("a password check did not finish: {e}")))?
}

/// 256 bits from the operating system's random source, as 64 lower-case hex digits. Read
/// directly rather than through UUIDs: a v4 UUID has only 122 random bits.
fn random_hex() -> Result<String, StoreError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| {
        StoreError::Secret(format!("the operating system gave no random bytes: {e}"))
    })?;
    Ok(hex(&bytes))
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[usize::from(b >> 4)] as char);
        out.push(DIGITS[usize::from(b & 15)] as char);
    }
    out
}

/// The stored form of a token or session id: hex SHA-256.
pub fn secret_hash(secret: &str) -> String {
    hex(&Sha256::digest(secret.as_bytes()))
}

/// Whether a submitted secret (a form's CSRF token) equals the expected one, in time that does
/// not depend on where they first differ.
pub fn same_secret(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

// ---- Time -------------------------------------------------------------------------------------

/// Fixed-width UTC RFC 3339, so stored times compare correctly as text (`expires_at <= $1`).
const STORED_TIME: &[BorrowedFormatItem<'static>] =
    format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:6]Z");

fn stored_time(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(STORED_TIME)
        .expect("a UTC time in years 0000-9999 formats")
}

fn parse_stored_time(text: &str) -> Result<OffsetDateTime, StoreError> {
    OffsetDateTime::parse(text, &Rfc3339)
        .map_err(|_| StoreError::Corrupt(format!("“{text}” is not a stored time")))
}

// ---- Rows -------------------------------------------------------------------------------------

const ACCOUNT_COLUMNS: &str =
    "a.id, a.username, a.display_name, a.role, a.person_id, a.organisation, a.disabled";

fn role_name(role: Role) -> String {
    serde_json::to_value(role)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .expect("a role serialises as a string")
}

fn account_from_row(row: &sqlx::any::AnyRow) -> Result<Account, StoreError> {
    let role: String = row.try_get("role")?;
    let role: Role = serde_json::from_value(serde_json::Value::String(role))
        .map_err(|e| StoreError::Corrupt(format!("unknown role: {e}")))?;
    let person_id: Option<String> = row.try_get("person_id")?;
    let person_id = person_id
        .as_deref()
        .map(PersonId::parse)
        .transpose()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let display_name: String = row.try_get("display_name")?;
    Text::new(&display_name).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let disabled: i64 = row.try_get("disabled")?;
    Ok(Account {
        id: row.try_get("id")?,
        username: row.try_get("username")?,
        display_name,
        role,
        person_id,
        organisation: row.try_get("organisation")?,
        disabled: disabled != 0,
    })
}

fn is_unique_violation(err: &sqlx::Error) -> bool {
    matches!(err, sqlx::Error::Database(db) if db.is_unique_violation())
}

// ---- The store --------------------------------------------------------------------------------

impl Store {
    /// Creates an account. Checks the username, the password's length, that the role's link to
    /// a person (an existing one) or an organisation fits, then hashes the password.
    pub async fn create_account(&self, new: NewAccount) -> Result<Account, StoreError> {
        let username = normalise_username(&new.username)?;
        let display_name = short_text(new.display_name.as_deref(), "A display name")?
            .unwrap_or_else(|| username.clone());
        let organisation = short_text(new.organisation.as_deref(), "An organisation")?;
        check_role_links(new.role, new.person_id.as_ref(), organisation.as_deref())?;
        if let Some(password) = &new.password {
            check_password(password)?;
        }
        if let Some(person) = &new.person_id {
            let found = sqlx::query("SELECT 1 FROM plans WHERE person_id = $1")
                .bind(person.as_str())
                .fetch_optional(&mut *self.reader.get().await?)
                .await?;
            if found.is_none() {
                return Err(StoreError::NoSuchPerson(person.to_string()));
            }
        }
        // Checked before hashing, so a taken name is refused at once; the unique index decides
        // a race.
        if self.account(&username).await?.is_some() {
            return Err(StoreError::DuplicateAccount(username));
        }
        let password_hash = match new.password {
            Some(password) => Some(blocking(move || hash_password(&password)).await?),
            None => None,
        };
        let account = Account {
            id: uuid::Uuid::new_v4().to_string(),
            username,
            display_name,
            role: new.role,
            person_id: new.person_id,
            organisation,
            disabled: false,
        };
        sqlx::query(
            "INSERT INTO accounts (id, username, display_name, role, person_id, organisation, password_hash, created_at, disabled) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0)",
        )
        .bind(&account.id)
        .bind(&account.username)
        .bind(&account.display_name)
        .bind(role_name(account.role))
        .bind(account.person_id.as_ref().map(|p| p.as_str().to_owned()))
        .bind(account.organisation.clone())
        .bind(password_hash)
        .bind(stored_time(OffsetDateTime::now_utc()))
        .execute(&self.writer)
        .await
        .map_err(|e| {
            if is_unique_violation(&e) {
                StoreError::DuplicateAccount(account.username.clone())
            } else {
                e.into()
            }
        })?;
        Ok(account)
    }

    /// The account with this username (any case), if there is one.
    pub async fn account(&self, username: &str) -> Result<Option<Account>, StoreError> {
        let Ok(username) = normalise_username(username) else {
            return Ok(None);
        };
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.username = $1");
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(&mut *self.reader.get().await?)
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Every account, by username.
    pub async fn accounts(&self) -> Result<Vec<Account>, StoreError> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts a ORDER BY a.username");
        let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
            .fetch_all(&mut *self.reader.get().await?)
            .await?;
        rows.iter().map(account_from_row).collect()
    }

    /// The account if `password` is its password and it is not disabled. Every failure — no
    /// such user, no password, disabled, wrong password — costs one Argon2 verification and
    /// returns `None`, so the answer and its timing look the same.
    pub async fn authenticate(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Option<Account>, StoreError> {
        let Ok(username) = normalise_username(username) else {
            return Ok(None);
        };
        if password.chars().count() > MAX_PASSWORD_CHARS {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, a.password_hash FROM accounts a WHERE a.username = $1"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(username)
            .fetch_optional(&mut *self.reader.get().await?)
            .await?;
        let (account, stored) = match &row {
            Some(row) => (
                Some(account_from_row(row)?),
                row.try_get::<Option<String>, _>("password_hash")?,
            ),
            None => (None, None),
        };
        let phc = match stored {
            Some(phc) => phc,
            None => dummy_hash()?.to_owned(),
        };
        let password = password.to_owned();
        let matches = blocking(move || verify_password(&password, &phc)).await?;
        Ok(account.filter(|a| matches && !a.disabled))
    }

    /// Sets or removes (`None`) an account's password, and ends its browser sessions.
    pub async fn set_password(
        &self,
        username: &str,
        password: Option<String>,
    ) -> Result<(), StoreError> {
        let account = self.existing(username).await?;
        if let Some(password) = &password {
            check_password(password)?;
        }
        let hash = match password {
            Some(password) => Some(blocking(move || hash_password(&password)).await?),
            None => None,
        };
        let mut tx = self.writer.begin().await?;
        sqlx::query("UPDATE accounts SET password_hash = $1 WHERE id = $2")
            .bind(hash)
            .bind(&account.id)
            .execute(&mut *tx)
            .await?;
        sqlx::query("DELETE FROM sessions WHERE account_id = $1")
            .bind(&account.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        self.cache.invalidate();
        Ok(())
    }

    /// Disables (or enables again) an account. A disabled account cannot sign in, and its
    /// tokens and sessions stop working; disabling also ends its sessions.
    pub async fn set_disabled(&self, username: &str, disabled: bool) -> Result<(), StoreError> {
        let account = self.existing(username).await?;
        let mut tx = self.writer.begin().await?;
        sqlx::query("UPDATE accounts SET disabled = $1 WHERE id = $2")
            .bind(i32::from(disabled))
            .bind(&account.id)
            .execute(&mut *tx)
            .await?;
        if disabled {
            sqlx::query("DELETE FROM sessions WHERE account_id = $1")
                .bind(&account.id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        self.cache.invalidate();
        Ok(())
    }

    async fn existing(&self, username: &str) -> Result<Account, StoreError> {
        let username = normalise_username(username)?;
        self.account(&username)
            .await?
            .ok_or(StoreError::NoSuchAccount(username))
    }

    /// Makes a bearer token for an account. The token is returned once, here; only its SHA-256
    /// is stored, so it cannot be shown again.
    pub async fn create_token(
        &self,
        username: &str,
        label: &str,
    ) -> Result<(String, Account), StoreError> {
        let account = self.existing(username).await?;
        if account.disabled {
            return Err(StoreError::AccountDisabled(account.username));
        }
        let label = short_text(Some(label), "A token label")?
            .ok_or_else(|| StoreError::InvalidAccount("A token label must not be empty".into()))?;
        let token = format!("{TOKEN_PREFIX}{}", random_hex()?);
        sqlx::query(
            "INSERT INTO api_tokens (token_hash, account_id, label, created_at) VALUES ($1, $2, $3, $4)",
        )
        .bind(secret_hash(&token))
        .bind(&account.id)
        .bind(label)
        .bind(stored_time(OffsetDateTime::now_utc()))
        .execute(&self.writer)
        .await?;
        Ok((token, account))
    }

    /// The account a bearer token acts for, unless the token is unknown or revoked or the
    /// account disabled. Records when the token was last used, to the minute. Always asks the
    /// database.
    pub async fn account_for_token(&self, token: &str) -> Result<Option<Account>, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        Ok(self
            .token_in_database(&secret_hash(token), None)
            .await?
            .map(|t| t.account))
    }

    /// As [`Store::account_for_token`], for a request whose only use of the account is audited
    /// reads through a [`Handle`](crate::handle::Handle) made
    /// [`with_credential`](crate::handle::Handle::with_credential): the account may come from
    /// memory, and each read checks, when its audit entry is committed, that nothing about the
    /// token or account has changed since (see `cache.rs`).
    pub async fn bearer_credential(
        &self,
        token: &str,
    ) -> Result<Option<(Account, Credential)>, StoreError> {
        if !token.starts_with(TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = secret_hash(token);
        let now = OffsetDateTime::now_utc();
        if let Some((cached, epoch)) = self.cache.token(&hash)
            && cached
                .last_used
                .is_some_and(|at| now - at < TOKEN_USE_RESOLUTION)
        {
            let credential = Credential {
                hash,
                account: cached.account.clone(),
                epoch: Some(epoch),
            };
            return Ok(Some((cached.account, credential)));
        }
        let since = self.cache.epoch();
        let Some(found) = self.token_in_database(&hash, Some(now)).await? else {
            return Ok(None);
        };
        let account = found.account.clone();
        self.cache.put_token(hash.clone(), found, since);
        let credential = Credential {
            hash,
            account: account.clone(),
            epoch: None,
        };
        Ok(Some((account, credential)))
    }

    /// Checks a credential against the database: the token still exists and acts for the same,
    /// enabled account, unchanged. Otherwise the sign-in is no longer valid.
    pub(crate) async fn recheck(&self, credential: &Credential) -> Result<(), StoreError> {
        match self.token_in_database(&credential.hash, None).await? {
            Some(found) if found.account == credential.account => Ok(()),
            _ => Err(StoreError::Unauthenticated),
        }
    }

    /// The enabled account behind a token's hash, read from the database, with when the token
    /// was last used; writes the use down when the record is over a minute old.
    async fn token_in_database(
        &self,
        hash: &str,
        now: Option<OffsetDateTime>,
    ) -> Result<Option<CachedToken>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, t.last_used_at FROM api_tokens t \
             JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(hash)
            .fetch_optional(&mut *self.reader.get().await?)
            .await?
        else {
            return Ok(None);
        };
        let account = account_from_row(&row)?;
        if account.disabled {
            return Ok(None);
        }
        // Read on the reader, written only when stale: most requests cost no write at all.
        let now = now.unwrap_or_else(OffsetDateTime::now_utc);
        let last_used: Option<String> = row.try_get("last_used_at")?;
        let mut last_used = last_used.as_deref().map(parse_stored_time).transpose()?;
        if last_used.is_none_or(|at| now - at >= TOKEN_USE_RESOLUTION) {
            sqlx::query("UPDATE api_tokens SET last_used_at = $1 WHERE token_hash = $2")
                .bind(stored_time(now))
                .bind(hash)
                .execute(&self.writer)
                .await?;
            last_used = Some(now);
        }
        Ok(Some(CachedToken { account, last_used }))
    }

    /// Revokes a bearer token; `false` if there was no such token.
    pub async fn revoke_token(&self, token: &str) -> Result<bool, StoreError> {
        let done = sqlx::query("DELETE FROM api_tokens WHERE token_hash = $1")
            .bind(secret_hash(token))
            .execute(&self.writer)
            .await?;
        self.cache.invalidate();
        Ok(done.rows_affected() > 0)
    }

    /// Starts a browser session for an account, lasting `ttl` (at most [`MAX_SESSION_TTL`]).
    /// Returns the session token for the cookie (stored only as its hash) and the session's
    /// CSRF token for forms (stored as is: it is useless without the session cookie).
    pub async fn create_session(
        &self,
        account_id: &str,
        ttl: Duration,
    ) -> Result<(String, String), StoreError> {
        let row = sqlx::query("SELECT username, disabled FROM accounts WHERE id = $1")
            .bind(account_id)
            .fetch_optional(&mut *self.reader.get().await?)
            .await?
            .ok_or_else(|| StoreError::NoSuchAccount(account_id.to_owned()))?;
        if row.try_get::<i64, _>("disabled")? != 0 {
            return Err(StoreError::AccountDisabled(row.try_get("username")?));
        }
        let session = format!("{SESSION_PREFIX}{}", random_hex()?);
        let csrf = random_hex()?;
        let now = OffsetDateTime::now_utc();
        let expires = now + ttl.min(MAX_SESSION_TTL);
        sqlx::query(
            "INSERT INTO sessions (session_hash, account_id, csrf_token, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(secret_hash(&session))
        .bind(account_id)
        .bind(&csrf)
        .bind(stored_time(now))
        .bind(stored_time(expires))
        .execute(&self.writer)
        .await?;
        Ok((session, csrf))
    }

    /// The account and CSRF token of a live session; `None` when it is unknown, ended, expired
    /// or its account disabled. Sessions expire at a fixed time: use does not extend them.
    pub async fn account_for_session(
        &self,
        token: &str,
    ) -> Result<Option<(Account, String)>, StoreError> {
        if !token.starts_with(SESSION_PREFIX) {
            return Ok(None);
        }
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS}, s.csrf_token, s.expires_at FROM sessions s \
             JOIN accounts a ON a.id = s.account_id WHERE s.session_hash = $1"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(secret_hash(token))
            .fetch_optional(&mut *self.reader.get().await?)
            .await?
        else {
            return Ok(None);
        };
        let expires = parse_stored_time(&row.try_get::<String, _>("expires_at")?)?;
        let account = account_from_row(&row)?;
        if expires <= OffsetDateTime::now_utc() || account.disabled {
            return Ok(None);
        }
        Ok(Some((account, row.try_get("csrf_token")?)))
    }

    /// Ends a session (signing out). Ending an unknown or ended session is not an error.
    pub async fn end_session(&self, token: &str) -> Result<(), StoreError> {
        sqlx::query("DELETE FROM sessions WHERE session_hash = $1")
            .bind(secret_hash(token))
            .execute(&self.writer)
            .await?;
        Ok(())
    }

    /// Deletes expired sessions (they already fail lookups); returns how many.
    pub async fn purge_expired_sessions(&self) -> Result<u64, StoreError> {
        let done = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(stored_time(OffsetDateTime::now_utc()))
            .execute(&self.writer)
            .await?;
        Ok(done.rows_affected())
    }

    /// Lets an external identity (an OpenID Connect issuer and subject) sign in as this account.
    pub async fn link_identity(
        &self,
        username: &str,
        issuer: &str,
        subject: &str,
    ) -> Result<(), StoreError> {
        let account = self.existing(username).await?;
        let (issuer, subject) = (issuer.trim(), subject.trim());
        if issuer.is_empty() || subject.is_empty() {
            return Err(StoreError::InvalidAccount(
                "An external identity needs both an issuer and a subject".into(),
            ));
        }
        sqlx::query("UPDATE accounts SET identity_provider = $1, subject = $2 WHERE id = $3")
            .bind(issuer)
            .bind(subject)
            .bind(&account.id)
            .execute(&self.writer)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::InvalidAccount(
                        "This external identity is already linked to another account".into(),
                    )
                } else {
                    e.into()
                }
            })?;
        Ok(())
    }

    /// The enabled account an external identity signs in as, if one is linked.
    pub async fn account_for_identity(
        &self,
        issuer: &str,
        subject: &str,
    ) -> Result<Option<Account>, StoreError> {
        let sql = format!(
            "SELECT {ACCOUNT_COLUMNS} FROM accounts a WHERE a.identity_provider = $1 AND a.subject = $2"
        );
        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(issuer.trim())
            .bind(subject.trim())
            .fetch_optional(&mut *self.reader.get().await?)
            .await?;
        Ok(row
            .as_ref()
            .map(account_from_row)
            .transpose()?
            .filter(|a| !a.disabled))
    }
}

// ---- Sign-in rate limiting --------------------------------------------------------------------

/// How many failed sign-ins are allowed per sliding window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    /// Failures allowed for one username, whoever tries.
    pub per_username: usize,
    /// Failures allowed from one address (an IPv6 /64). Higher than per username, because a
    /// ward or a whole trust may reach us through one address.
    pub per_address: usize,
    pub window: Duration,
}

impl Default for LoginLimits {
    fn default() -> Self {
        LoginLimits {
            per_username: 5,
            per_address: 50,
            window: Duration::from_secs(15 * 60),
        }
    }
}

/// Sign-in refused without checking the password: too many recent failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Blocked {
    /// When the oldest counted failure leaves the window (for `Retry-After`).
    pub retry_after: Duration,
}

impl fmt::Display for Blocked {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let minutes = self.retry_after.as_secs().div_ceil(60).max(1);
        let unit = if minutes == 1 { "minute" } else { "minutes" };
        write!(
            f,
            "There have been too many failed sign-in attempts: try again in {minutes} {unit}"
        )
    }
}

impl std::error::Error for Blocked {}

/// Counts failed sign-ins per username and per address over a sliding window. The caller
/// passes the time, so tests need no sleeps. Memory is bounded: each key keeps at most its
/// limit of timestamps, stale keys are dropped when the map fills, and when it is full of live
/// keys new ones are not tracked (existing lock-outs stay in force).
#[derive(Debug, Default)]
pub struct LoginLimiter {
    limits: LoginLimits,
    failures: Mutex<Failures>,
}

#[derive(Debug, Default)]
struct Failures {
    usernames: HashMap<String, VecDeque<Instant>>,
    addresses: HashMap<IpAddr, VecDeque<Instant>>,
}

impl LoginLimiter {
    /// The most keys of each kind kept at once.
    pub const MAX_KEYS: usize = 50_000;

    pub fn new(limits: LoginLimits) -> LoginLimiter {
        LoginLimiter {
            limits,
            failures: Mutex::default(),
        }
    }

    /// `Ok` if a sign-in may be tried now; call before checking the password.
    pub fn check(
        &self,
        username: &str,
        address: Option<IpAddr>,
        now: Instant,
    ) -> Result<(), Blocked> {
        let window = self.limits.window;
        let mut failures = self.lock();
        let by_name = failures
            .usernames
            .get_mut(&limiter_username(username))
            .and_then(|f| blocked_until(f, self.limits.per_username, window, now));
        let by_address = address.and_then(|a| {
            failures
                .addresses
                .get_mut(&address_key(a))
                .and_then(|f| blocked_until(f, self.limits.per_address, window, now))
        });
        match by_name.max(by_address) {
            Some(retry_after) => Err(Blocked { retry_after }),
            None => Ok(()),
        }
    }

    /// Counts a failed sign-in (wrong password, unknown user: the same).
    pub fn record_failure(&self, username: &str, address: Option<IpAddr>, now: Instant) {
        let (window, limits) = (self.limits.window, self.limits);
        let mut failures = self.lock();
        record(
            &mut failures.usernames,
            limiter_username(username),
            limits.per_username,
            window,
            now,
        );
        if let Some(address) = address {
            record(
                &mut failures.addresses,
                address_key(address),
                limits.per_address,
                window,
                now,
            );
        }
    }

    /// Forgets the username's failures after a successful sign-in. The address's stay: one
    /// good password must not reset a spray of guesses at other accounts.
    pub fn record_success(&self, username: &str) {
        self.lock().usernames.remove(&limiter_username(username));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Failures> {
        // The counters stay consistent whatever panicked while holding the lock.
        self.failures.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn limiter_username(username: &str) -> String {
    username
        .trim()
        .chars()
        .take(MAX_USERNAME_CHARS)
        .collect::<String>()
        .to_lowercase()
}

/// One key per IPv4 address, and per /64 for IPv6 (one host usually holds a whole /64).
fn address_key(address: IpAddr) -> IpAddr {
    match address.to_canonical() {
        IpAddr::V6(v6) => {
            let network = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(network.into())
        }
        v4 => v4,
    }
}

/// Drops failures that left the window; if `limit` remain, how long until the oldest leaves.
fn blocked_until(
    failures: &mut VecDeque<Instant>,
    limit: usize,
    window: Duration,
    now: Instant,
) -> Option<Duration> {
    while failures
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= window)
    {
        failures.pop_front();
    }
    let limit = limit.max(1);
    (failures.len() >= limit).then(|| {
        let oldest = failures[failures.len() - limit];
        window.saturating_sub(now.saturating_duration_since(oldest))
    })
}

fn record<K: std::hash::Hash + Eq>(
    map: &mut HashMap<K, VecDeque<Instant>>,
    key: K,
    limit: usize,
    window: Duration,
    now: Instant,
) {
    if map.len() >= LoginLimiter::MAX_KEYS && !map.contains_key(&key) {
        map.retain(|_, f| {
            f.back()
                .is_some_and(|t| now.saturating_duration_since(*t) < window)
        });
        if map.len() >= LoginLimiter::MAX_KEYS {
            return;
        }
    }
    let failures = map.entry(key).or_default();
    failures.push_back(now);
    // Only the newest `limit` failures decide whether the key is blocked.
    while failures.len() > limit.max(1) {
        failures.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Argon2 parameters of a PHC string: `$argon2id$v=19$m=…,t=…,p=…$salt$hash` → the
    /// algorithm, version and cost parts.
    fn cost(phc: &str) -> Vec<&str> {
        phc.split('$').skip(1).take(3).collect()
    }

    #[test]
    fn csp1_unknown_usernames_cost_one_verification_with_the_same_parameters() {
        // What makes an unknown username take as long as a wrong password: the dummy hash it
        // is checked against is made with the very parameters real hashes are made with.
        let real = hash_password("a real password for the test").unwrap();
        let dummy = dummy_hash().unwrap();
        assert_eq!(cost(dummy), cost(&real), "{dummy} vs {real}");
        assert!(cost(&real)[0] == "argon2id" && cost(&real)[2].contains("m="));
        // And it is a real hash that a wrong password fails against (not an error path that
        // would return at once).
        assert!(!verify_password("wrong password!", dummy).unwrap());
    }

    #[test]
    fn usernames_are_lower_case_and_limited_to_a_safe_alphabet() {
        assert_eq!(normalise_username("  Alice.Smith ").unwrap(), "alice.smith");
        assert_eq!(normalise_username("a-b_c.9").unwrap(), "a-b_c.9");
        for bad in [
            "",
            " ",
            "a b",
            "ålice",
            "a@b",
            "\u{212A}elvin",
            &"a".repeat(65),
        ] {
            assert!(
                matches!(normalise_username(bad), Err(StoreError::InvalidUsername(_))),
                "{bad:?}"
            );
        }
        assert!(normalise_username(&"a".repeat(64)).is_ok());
    }

    #[test]
    fn stored_times_are_fixed_width_and_read_back() {
        let at = time::macros::datetime!(2026-03-01 09:30:00 UTC);
        let text = stored_time(at);
        assert_eq!(text, "2026-03-01T09:30:00.000000Z");
        assert_eq!(parse_stored_time(&text).unwrap(), at);
        // Fixed width is what makes `expires_at <= $1` correct as text.
        let later = stored_time(at + time::Duration::milliseconds(500));
        assert!(text < later);
    }

    #[test]
    fn secret_hash_is_sha256_hex() {
        assert_eq!(
            secret_hash("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn same_secret_compares_whole_strings() {
        assert!(same_secret("abc123", "abc123"));
        assert!(!same_secret("abc123", "abc124"));
        assert!(!same_secret("abc123", "abc12"));
        assert!(!same_secret("abc123", ""));
    }

    #[test]
    fn a_limit_of_zero_blocks_without_panicking() {
        let limiter = LoginLimiter::new(LoginLimits {
            per_username: 0,
            per_address: 0,
            window: Duration::from_secs(60),
        });
        let now = Instant::now();
        limiter.record_failure("a", None, now);
        assert!(limiter.check("a", None, now).is_err());
    }

    #[test]
    fn ipv6_addresses_share_a_key_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.7".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn new_account_debug_hides_the_password() {
        let new = NewAccount {
            username: "a".into(),
            display_name: None,
            role: Role::System,
            person_id: None,
            organisation: None,
            password: Some("correct horse battery staple".into()),
        };
        assert!(!format!("{new:?}").contains("horse"));
    }
}
