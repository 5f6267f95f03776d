//! Connections for reads.
//!
//! PostgreSQL reads use sqlx's pool. SQLite reads use a few connections of the store's own: a
//! pooled connection costs, on every release, a spawned task and a ping of the connection's
//! worker thread, which for a small read is as much again as the read itself. A local file has
//! no connection to lose, so nothing needs that check.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::any::AnyConnectOptions;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, AnyPool, ConnectOptions, Connection, Executor};

use crate::StoreError;

/// Where reads get their connection.
#[derive(Debug, Clone)]
pub(crate) enum Readers {
    Own(Arc<Own>),
    Pool(AnyPool),
}

#[derive(Debug)]
pub(crate) struct Own {
    slots: Vec<tokio::sync::Mutex<Option<AnyConnection>>>,
    next: AtomicUsize,
    options: AnyConnectOptions,
}

/// A connection lent for one read.
pub(crate) enum ReadConn<'a> {
    Own(tokio::sync::MutexGuard<'a, Option<AnyConnection>>),
    Pool(PoolConnection<Any>),
}

impl Deref for ReadConn<'_> {
    type Target = AnyConnection;

    fn deref(&self) -> &AnyConnection {
        match self {
            ReadConn::Own(slot) => slot.as_ref().expect("opened before it is lent"),
            ReadConn::Pool(conn) => conn,
        }
    }
}

impl DerefMut for ReadConn<'_> {
    fn deref_mut(&mut self) -> &mut AnyConnection {
        match self {
            ReadConn::Own(slot) => slot.as_mut().expect("opened before it is lent"),
            ReadConn::Pool(conn) => conn,
        }
    }
}

impl Readers {
    /// `count` SQLite connections to the database at `options`, opened when first needed.
    pub(crate) fn own(options: AnyConnectOptions, count: usize) -> Readers {
        Readers::Own(Arc::new(Own {
            slots: (0..count.max(1))
                .map(|_| tokio::sync::Mutex::new(None))
                .collect(),
            next: AtomicUsize::new(0),
            options,
        }))
    }

    /// A connection: a free one if there is one, else the next in turn once it is free.
    pub(crate) async fn get(&self) -> Result<ReadConn<'_>, StoreError> {
        let own = match self {
            Readers::Pool(pool) => return Ok(ReadConn::Pool(pool.acquire().await?)),
            Readers::Own(own) => own,
        };
        let n = own.slots.len();
        let start = own.next.fetch_add(1, Ordering::Relaxed) % n;
        let free = (0..n).find_map(|i| own.slots[(start + i) % n].try_lock().ok());
        let mut slot = match free {
            Some(slot) => slot,
            None => own.slots[start].lock().await,
        };
        if slot.is_none() {
            let mut conn = own.options.connect().await?;
            conn.execute(crate::SQLITE_PRAGMAS).await?;
            *slot = Some(conn);
        }
        Ok(ReadConn::Own(slot))
    }

    /// Closes every connection, waiting for reads under way.
    pub(crate) async fn close(&self) {
        match self {
            Readers::Pool(pool) => pool.close().await,
            Readers::Own(own) => {
                for slot in &own.slots {
                    if let Some(conn) = slot.lock().await.take() {
                        let _ = conn.close().await;
                    }
                }
            }
        }
    }
}
