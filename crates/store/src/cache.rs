//! What audited reads may take from memory instead of the database: the accounts behind bearer
//! tokens, and the current version of recently read plans with their releases.
//!
//! # Why it is safe
//!
//! Every audited read ends by committing its audit entry, and a read is answered only after that
//! commit. The audit writer's transaction (`sqlite_writer.rs`) first asks SQLite whether any
//! *other* connection has committed since its last transaction (`PRAGMA data_version`, which a
//! connection's own commits do not move). If one has — another process, or this one's account
//! and session writes — everything here is dropped and the epoch moves on.
//! Writes this process commits through its committer drop everything too, before they are
//! acknowledged.
//!
//! Whatever a read takes from here is tagged with the epoch it was taken at. When its audit entry
//! is committed, the writer accepts it only if the epoch has not moved; otherwise the entry is
//! not written, the read is told it is stale, and it is made again from the database (and the
//! bearer token checked there again). So a read answered from memory saw exactly what the
//! database held at some moment between the request's arrival and its answer: revoking a token,
//! disabling an account or changing a plan in another process takes effect at once, as it does
//! without the cache.
//!
//! An entry is only stored if the epoch did not move while it was being read from the database,
//! so a slow read cannot put back what a concurrent change has just dropped.
//!
//! On PostgreSQL the cache is off: several processes usually share one database there, and it
//! has no counterpart of `data_version` that costs nothing to ask.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use careplan_model::{Plan, Release};
use time::OffsetDateTime;

use crate::accounts::Account;

/// The number of changes the cache has seen; a read's facts hold only while it stays the same.
pub(crate) type Epoch = u64;

/// The earlier of two epochs a read depends on (`None`: that part was read from the database and
/// needs no check).
pub(crate) fn earliest(a: Option<Epoch>, b: Option<Epoch>) -> Option<Epoch> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, None) => a,
        (None, b) => b,
    }
}

/// A plan as it is now, with its releases: what an access decision needs.
pub(crate) type CurrentPlan = (Arc<Plan>, Arc<Vec<Release>>);

/// The account a bearer token acts for, and when the token's use was last written down.
#[derive(Debug, Clone)]
pub(crate) struct CachedToken {
    pub account: Account,
    pub last_used: Option<OffsetDateTime>,
}

#[derive(Debug)]
pub(crate) struct ReadCache {
    enabled: bool,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    epoch: Epoch,
    /// By the token's SHA-256.
    tokens: HashMap<String, CachedToken>,
    /// By the key the plan was asked for with (plan id, person id or NHS number, trimmed).
    plans: HashMap<String, CurrentPlan>,
}

/// Tokens kept; a full map is emptied (a miss costs one database read).
const TOKENS: usize = 1024;
/// Plans kept (as many as the head cache in `lib.rs`: a decoded plan can be large).
const PLANS: usize = 256;

impl ReadCache {
    pub(crate) fn new(enabled: bool) -> ReadCache {
        ReadCache {
            enabled,
            state: Mutex::default(),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The epoch now, to tag a database read that may be stored; `None` when the cache is off.
    pub(crate) fn epoch(&self) -> Option<Epoch> {
        self.enabled.then(|| self.state().epoch)
    }

    /// Drops everything: something the cache may hold has changed.
    pub(crate) fn invalidate(&self) {
        if !self.enabled {
            return;
        }
        let mut state = self.state();
        state.epoch += 1;
        state.tokens.clear();
        state.plans.clear();
    }

    pub(crate) fn token(&self, hash: &str) -> Option<(CachedToken, Epoch)> {
        self.get(|state| state.tokens.get(hash))
    }

    /// Keeps a token read from the database at `since`, unless something changed meanwhile.
    pub(crate) fn put_token(&self, hash: String, token: CachedToken, since: Option<Epoch>) {
        self.put(since, |state| (&mut state.tokens, TOKENS), hash, token);
    }

    pub(crate) fn plan(&self, key: &str) -> Option<(CurrentPlan, Epoch)> {
        self.get(|state| state.plans.get(key))
    }

    /// Keeps a plan read from the database at `since`, unless something changed meanwhile.
    pub(crate) fn put_plan(&self, key: String, plan: CurrentPlan, since: Option<Epoch>) {
        self.put(since, |state| (&mut state.plans, PLANS), key, plan);
    }

    /// An entry of one map, with the epoch it is good for.
    fn get<V: Clone>(&self, find: impl FnOnce(&State) -> Option<&V>) -> Option<(V, Epoch)> {
        if !self.enabled {
            return None;
        }
        let state = self.state();
        find(&state).map(|v| (v.clone(), state.epoch))
    }

    /// Stores an entry read at `since` in one map (of at most `capacity` entries), unless the
    /// epoch has moved since.
    fn put<V>(
        &self,
        since: Option<Epoch>,
        map: impl FnOnce(&mut State) -> (&mut HashMap<String, V>, usize),
        key: String,
        value: V,
    ) {
        let mut state = self.state();
        if !self.enabled || Some(state.epoch) != since {
            return;
        }
        let (entries, capacity) = map(&mut state);
        if entries.len() >= capacity {
            entries.clear();
        }
        entries.insert(key, value);
    }

    /// Is a read tagged `epoch` still good (nothing changed since)?
    pub(crate) fn holds(&self, epoch: Option<Epoch>) -> bool {
        match epoch {
            None => true,
            Some(e) => self.enabled && self.state().epoch == e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csp1_nothing_read_before_a_change_is_stored_after_it() {
        let cache = ReadCache::new(true);
        let before = cache.epoch();
        cache.invalidate();
        let account = Account {
            id: "a".into(),
            username: "a".into(),
            display_name: "A".into(),
            role: careplan_model::Role::Practitioner,
            person_id: None,
            organisation: None,
            disabled: false,
        };
        let token = CachedToken {
            account,
            last_used: None,
        };
        cache.put_token("hash".into(), token.clone(), before);
        assert!(cache.token("hash").is_none());
        cache.put_token("hash".into(), token, cache.epoch());
        assert!(cache.token("hash").is_some());
        assert!(!cache.holds(before));
        assert!(cache.holds(cache.epoch()));
        assert!(cache.holds(None));
    }

    #[test]
    fn a_cache_that_is_off_keeps_nothing_and_vouches_for_nothing() {
        let cache = ReadCache::new(false);
        assert_eq!(cache.epoch(), None);
        assert!(!cache.holds(Some(0)));
        assert!(cache.holds(None));
    }

    #[test]
    fn the_earliest_epoch_decides() {
        assert_eq!(earliest(Some(3), Some(5)), Some(3));
        assert_eq!(earliest(None, Some(5)), Some(5));
        assert_eq!(earliest(Some(3), None), Some(3));
        assert_eq!(earliest(None, None), None);
    }
}
