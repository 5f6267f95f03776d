//! The statements of one change, written with `$1…$n` and their values, to run inside the
//! caller's transaction: on SQLite by the SQLite writer thread, each statement prepared once per
//! connection (`run_rusqlite`); on PostgreSQL one after another through sqlx (`run`).

use sqlx::AnyConnection;

/// A value bound to a statement.
#[derive(Debug, Clone)]
pub(crate) enum Arg {
    Int(i64),
    Text(String),
    MaybeText(Option<String>),
    MaybeInt(Option<i64>),
}

impl From<i64> for Arg {
    fn from(v: i64) -> Arg {
        Arg::Int(v)
    }
}

impl From<String> for Arg {
    fn from(v: String) -> Arg {
        Arg::Text(v)
    }
}

impl From<&str> for Arg {
    fn from(v: &str) -> Arg {
        Arg::Text(v.to_owned())
    }
}

impl From<Option<String>> for Arg {
    fn from(v: Option<String>) -> Arg {
        Arg::MaybeText(v)
    }
}

impl From<Option<i64>> for Arg {
    fn from(v: Option<i64>) -> Arg {
        Arg::MaybeInt(v)
    }
}

/// Statements to run in order, inside the caller's transaction.
#[derive(Debug, Default, Clone)]
pub(crate) struct Script {
    statements: Vec<(std::borrow::Cow<'static, str>, Vec<Arg>)>,
}

type AnyQuery<'q> = sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>;

fn bind_all<'q>(mut query: AnyQuery<'q>, args: &[Arg]) -> AnyQuery<'q> {
    for arg in args {
        query = match arg.clone() {
            Arg::Int(v) => query.bind(v),
            Arg::Text(v) => query.bind(v),
            Arg::MaybeText(v) => query.bind(v),
            Arg::MaybeInt(v) => query.bind(v),
        };
    }
    query
}

impl Script {
    pub(crate) fn push(&mut self, sql: &'static str, args: Vec<Arg>) {
        self.statements.push((sql.into(), args));
    }

    /// Adds a statement whose text is built by the store (say, a multi-row insert); every value
    /// must still be a bound parameter.
    pub(crate) fn push_built(&mut self, sql: String, args: Vec<Arg>) {
        self.statements.push((sql.into(), args));
    }

    /// Runs the statements one after another on a synchronous SQLite connection (the SQLite
    /// writer's), each prepared once per connection, binding `$k` by its name.
    pub(crate) fn run_rusqlite(&self, conn: &rusqlite::Connection) -> rusqlite::Result<()> {
        for (statement, args) in &self.statements {
            let mut prepared = conn.prepare_cached(statement)?;
            for (i, arg) in args.iter().enumerate() {
                let name = format!("${}", i + 1);
                let index = prepared
                    .parameter_index(&name)?
                    .ok_or(rusqlite::Error::InvalidParameterName(name))?;
                match arg {
                    Arg::Int(v) => prepared.raw_bind_parameter(index, v)?,
                    Arg::Text(v) => prepared.raw_bind_parameter(index, v)?,
                    Arg::MaybeText(v) => prepared.raw_bind_parameter(index, v)?,
                    Arg::MaybeInt(v) => prepared.raw_bind_parameter(index, v)?,
                }
            }
            // Any rows a statement gives are not wanted; stepping to the end runs it.
            let mut rows = prepared.raw_query();
            while rows.next()?.is_some() {}
        }
        Ok(())
    }

    /// Runs the statements one after another through sqlx (PostgreSQL: its extended protocol
    /// takes one statement per prepared query).
    pub(crate) async fn run(&self, conn: &mut AnyConnection) -> Result<(), sqlx::Error> {
        for (statement, args) in &self.statements {
            // Our own statement text; every value is a bound parameter.
            bind_all(
                sqlx::query(sqlx::AssertSqlSafe(statement.to_string())),
                args,
            )
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}
