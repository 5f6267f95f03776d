//! The statements of one change, written with `$1…$n` and their values, to run inside the
//! caller's transaction: on SQLite by the SQLite writer thread, each statement prepared once per
//! connection (`run_rusqlite`); on PostgreSQL one after another through sqlx (`run`).

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
    /// From which statement on the rest may run as one PostgreSQL statement (see
    /// [`Script::one_snapshot_from`]).
    one_snapshot_from: Option<usize>,
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

    /// Declares that the statements from the `first` on (0: all) are each an `INSERT`, `UPDATE`
    /// or `DELETE` that reads only rows as they were before them: none reads a row that another
    /// of them writes, and no two write the same row. PostgreSQL then runs those as one statement
    /// of data-modifying `WITH` clauses, which all see the same snapshot: one round trip instead
    /// of one per statement. They run in no set order among themselves, so a statement that must
    /// take its locks before the others (a version row, the optimistic lock) stays before
    /// `first`. The statements before `first` run one by one, first. SQLite, which has no
    /// data-modifying `WITH`, runs every statement one by one as ever.
    pub(crate) fn one_snapshot_from(&mut self, first: usize) {
        self.one_snapshot_from = Some(first);
    }

    /// The statements from `first` on as one: each but the last a `WITH` clause, their `$k`
    /// renumbered after the parameters of the statements before them.
    fn as_one_statement(&self, first: usize) -> (String, Vec<Arg>) {
        let mut args = Vec::new();
        let mut shifted: Vec<String> = self.statements[first..]
            .iter()
            .map(|(statement, statement_args)| {
                let sql = shift_parameters(statement, args.len());
                args.extend(statement_args.iter().cloned());
                sql
            })
            .collect();
        let main = shifted.pop().expect("at least one statement");
        if shifted.is_empty() {
            return (main, args);
        }
        let clauses: Vec<String> = shifted
            .iter()
            .enumerate()
            .map(|(i, sql)| format!("s{i} AS ({sql})"))
            .collect();
        (format!("WITH {} {main}", clauses.join(", ")), args)
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

    /// Runs the statements through sqlx: one after another (PostgreSQL's extended protocol takes
    /// one statement per prepared query), or on PostgreSQL as one statement if the script is
    /// [`one_snapshot_from`](Script::one_snapshot_from) a statement on.
    pub(crate) async fn run(
        &self,
        conn: &mut AnyConnection,
        backend: Backend,
    ) -> Result<(), sqlx::Error> {
        let together = match self.one_snapshot_from {
            Some(first) if backend == Backend::Postgres && self.statements.len() > first + 1 => {
                first
            }
            _ => self.statements.len(),
        };
        for (statement, args) in &self.statements[..together] {
            // Our own statement text; every value is a bound parameter.
            bind_all(
                sqlx::query(sqlx::AssertSqlSafe(statement.to_string())),
                args,
            )
            .execute(&mut *conn)
            .await?;
        }
        if together < self.statements.len() {
            let (sql, args) = self.as_one_statement(together);
            bind_all(sqlx::query(sqlx::AssertSqlSafe(sql)), &args)
                .execute(&mut *conn)
                .await?;
        }
        Ok(())
    }
}

/// `sql` with every parameter `$k` written `$(k + by)`. Text in single quotes, double quotes
/// (identifiers) and comments is left as it is.
fn shift_parameters(sql: &str, by: usize) -> String {
    if by == 0 {
        return sql.to_owned();
    }
    let mut out = String::with_capacity(sql.len() + 16);
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' => {
                out.push(c);
                // To the closing quote; a doubled quote inside is two closings back to back.
                for q in chars.by_ref() {
                    out.push(q);
                    if q == c {
                        break;
                    }
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                out.push(c);
                for q in chars.by_ref() {
                    out.push(q);
                    if q == '\n' {
                        break;
                    }
                }
            }
            '$' if chars.peek().is_some_and(char::is_ascii_digit) => {
                let mut n = 0usize;
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    n = n * 10 + d as usize;
                    chars.next();
                }
                out.push('$');
                out.push_str(&(n + by).to_string());
            }
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_renumbered_outside_quotes_and_comments() {
        assert_eq!(
            shift_parameters(
                "UPDATE t SET a = $1, b = $12 WHERE c = '$1' AND \"$2\" = $2 -- $3\n",
                5
            ),
            "UPDATE t SET a = $6, b = $17 WHERE c = '$1' AND \"$2\" = $7 -- $3\n"
        );
        assert_eq!(shift_parameters("SELECT $1", 0), "SELECT $1");
    }

    #[test]
    fn a_script_in_one_snapshot_becomes_one_statement_of_with_clauses() {
        let mut script = Script::default();
        script.push(
            "INSERT INTO a (x, y) VALUES ($1, $2)",
            vec![1.into(), "p".into()],
        );
        script.push(
            "UPDATE b SET x = $1 WHERE y = $2",
            vec![2.into(), "q".into()],
        );
        script.push("DELETE FROM c WHERE x = $1", vec![3.into()]);
        script.one_snapshot_from(0);
        let (sql, args) = script.as_one_statement(0);
        assert_eq!(
            sql,
            "WITH s0 AS (INSERT INTO a (x, y) VALUES ($1, $2)), s1 AS (UPDATE b SET x = $3 WHERE y = $4) \
             DELETE FROM c WHERE x = $5"
        );
        let (sql, args_from_1) = script.as_one_statement(1);
        assert_eq!(
            sql,
            "WITH s0 AS (UPDATE b SET x = $1 WHERE y = $2) DELETE FROM c WHERE x = $3"
        );
        assert_eq!(args_from_1.len(), 3);
        let ints: Vec<Option<i64>> = args
            .iter()
            .map(|a| match a {
                Arg::Int(v) => Some(*v),
                _ => None,
            })
            .collect();
        assert_eq!(ints, [Some(1), None, Some(2), None, Some(3)]);
    }
}
