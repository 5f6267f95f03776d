//! Several statements sent as one: on SQLite a whole commit's statements go to the connection's
//! worker thread in a single round trip (each statement is otherwise a thread hand-off, which
//! profiling showed to be most of a write's CPU time); on PostgreSQL, whose extended protocol
//! allows one statement per prepared query, they run one after another.
//!
//! Statements are written with `$1…$n` as usual; `push` renumbers them into one parameter list,
//! which sqlx's SQLite driver binds by number across statements.

use sqlx::AnyConnection;

use crate::Backend;

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

/// Rewrites `$k` as `$(k + offset)`.
fn renumber(sql: &str, offset: usize, out: &mut String) {
    let mut chars = sql.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c != '$' {
            out.push(c);
            continue;
        }
        let mut digits = String::new();
        while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
            digits.push(*d);
            chars.next();
        }
        match digits.parse::<usize>() {
            Ok(n) => out.push_str(&format!("${}", n + offset)),
            Err(_) => out.push('$'),
        }
    }
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

    /// Runs `parts` one after another as a single SQLite statement list: one round trip to the
    /// connection's worker thread. Statements after a failing one do not run.
    pub(crate) async fn run_sqlite_parts(
        parts: &[&Script],
        conn: &mut AnyConnection,
    ) -> Result<(), sqlx::Error> {
        let mut sql = String::new();
        let mut args = Vec::new();
        for part in parts {
            for (statement, statement_args) in &part.statements {
                renumber(statement, args.len(), &mut sql);
                sql.push_str(";\n");
                args.extend(statement_args.iter().cloned());
            }
        }
        // The text is our own statements joined; every value is a bound parameter.
        bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
            .execute(&mut *conn)
            .await?;
        Ok(())
    }

    pub(crate) async fn run(
        &self,
        conn: &mut AnyConnection,
        backend: Backend,
    ) -> Result<(), sqlx::Error> {
        match backend {
            Backend::Sqlite => Script::run_sqlite_parts(&[self], conn).await?,
            Backend::Postgres => {
                for (statement, args) in &self.statements {
                    // Our own statement text; every value is a bound parameter.
                    bind_all(
                        sqlx::query(sqlx::AssertSqlSafe(statement.to_string())),
                        args,
                    )
                    .execute(&mut *conn)
                    .await?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_renumbered_after_earlier_statements() {
        let mut out = String::new();
        renumber(
            "INSERT INTO t (a, b) VALUES ($1, $2) -- $x stays",
            3,
            &mut out,
        );
        assert_eq!(out, "INSERT INTO t (a, b) VALUES ($4, $5) -- $x stays");
        out.clear();
        renumber("UPDATE t SET a = $10 WHERE b = $2", 0, &mut out);
        assert_eq!(out, "UPDATE t SET a = $10 WHERE b = $2");
    }
}
