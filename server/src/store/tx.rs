//! The narrow interface between the allocation rules and a database: an open transaction
//! that runs one statement per call. The rules ([`super::rules`]) are written once against
//! it; each backend implements it and keeps only what really differs (connections, when and
//! how transactions begin and end, retries).
//!
//! Statements are written once, in PostgreSQL's spelling (`$1` placeholders, row-lock
//! clauses); [`sqlite_text`] derives SQLite's spelling mechanically. Values cross the
//! interface as [`Value`] (arguments) and [`Row`] (results), with every integer an `i64`:
//! a backend whose columns are narrower (PostgreSQL's `INTEGER`) converts with a check,
//! never by truncation or saturation.

use std::future::Future;

use super::StoreError;

/// An argument of a statement.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Value<'a> {
    /// SQL NULL.
    Null,
    /// An integer (stored as `INTEGER` or `BIGINT`).
    Int(i64),
    /// Text.
    Text(&'a str),
}

impl From<i64> for Value<'_> {
    fn from(v: i64) -> Self {
        Value::Int(v)
    }
}

impl<'a> From<&'a str> for Value<'a> {
    fn from(v: &'a str) -> Self {
        Value::Text(v)
    }
}

impl<'a> From<&'a String> for Value<'a> {
    fn from(v: &'a String) -> Self {
        Value::Text(v)
    }
}

impl<'a, T: Into<Value<'a>>> From<Option<T>> for Value<'a> {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// The arguments of a statement, in placeholder order: `args![campaign, sub]`.
macro_rules! args {
    ($($a:expr),* $(,)?) => {
        &[$($crate::store::tx::Value::from($a)),*]
    };
}
pub(crate) use args;

/// A column of a result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    /// SQL NULL.
    Null,
    /// An integer column, whatever its width.
    Int(i64),
    /// A text column.
    Text(String),
}

/// A result row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Row(pub(crate) Vec<Cell>);

impl Row {
    fn cell(&self, i: usize) -> Result<&Cell, StoreError> {
        self.0
            .get(i)
            .ok_or_else(|| StoreError::new(format!("a result row has no column {i}")))
    }

    /// Column `i`, which must be a non-null integer.
    pub(crate) fn int(&self, i: usize) -> Result<i64, StoreError> {
        self.opt_int(i)?
            .ok_or_else(|| StoreError::new(format!("column {i} is NULL, expected an integer")))
    }

    /// Column `i`, an integer or NULL.
    pub(crate) fn opt_int(&self, i: usize) -> Result<Option<i64>, StoreError> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Int(v) => Ok(Some(*v)),
            Cell::Text(_) => Err(StoreError::new(format!(
                "column {i} is text, expected an integer"
            ))),
        }
    }

    /// Column `i`, which must be non-null text.
    pub(crate) fn text(&self, i: usize) -> Result<String, StoreError> {
        self.opt_text(i)?
            .ok_or_else(|| StoreError::new(format!("column {i} is NULL, expected text")))
    }

    /// Column `i`, text or NULL.
    pub(crate) fn opt_text(&self, i: usize) -> Result<Option<String>, StoreError> {
        match self.cell(i)? {
            Cell::Null => Ok(None),
            Cell::Text(s) => Ok(Some(s.clone())),
            Cell::Int(_) => Err(StoreError::new(format!(
                "column {i} is an integer, expected text"
            ))),
        }
    }
}

/// An open transaction of one backend. Each call runs exactly one statement; beginning,
/// committing and rolling back belong to the backend, which alone knows its locking and
/// retry strategy.
///
/// The futures of a synchronous backend (SQLite) are ready at once; PostgreSQL's are real.
pub(crate) trait Tx {
    /// Runs a statement that returns no rows; answers how many rows it changed.
    fn execute(
        &mut self,
        sql: &'static str,
        args: &[Value<'_>],
    ) -> impl Future<Output = Result<u64, StoreError>>;

    /// Runs a statement that returns rows (a `SELECT`, or a change with `RETURNING`).
    fn query(
        &mut self,
        sql: &'static str,
        args: &[Value<'_>],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>>;

    /// Runs schema changes without arguments (a migration step).
    fn batch(&mut self, sql: &'static str) -> impl Future<Output = Result<(), StoreError>>;

    /// Runs one statement that returns rows once per argument list, in order, as if by
    /// [`Tx::query`] one after the other. A backend with a network between it and the
    /// database sends them all at once (PostgreSQL pipelines them: one round trip).
    fn query_many(
        &mut self,
        sql: &'static str,
        args: &[Vec<Value<'_>>],
    ) -> impl Future<Output = Result<Vec<Vec<Row>>, StoreError>> {
        async move {
            let mut out = Vec::with_capacity(args.len());
            for a in args {
                out.push(self.query(sql, a).await?);
            }
            Ok(out)
        }
    }

    /// Runs one statement that returns no rows once per argument list, in order, as
    /// [`Tx::query_many`] does; answers how many rows each run changed.
    fn execute_many(
        &mut self,
        sql: &'static str,
        args: &[Vec<Value<'_>>],
    ) -> impl Future<Output = Result<Vec<u64>, StoreError>> {
        async move {
            let mut out = Vec::with_capacity(args.len());
            for a in args {
                out.push(self.execute(sql, a).await?);
            }
            Ok(out)
        }
    }

    /// Says that the next statement is the transaction's last: if it succeeds, the rules run
    /// no other statement and the transaction commits. A backend with a network between it
    /// and the database may send the `COMMIT` with that statement (PostgreSQL pipelines it:
    /// one round trip less); the call still returns only once the `COMMIT` has answered, and
    /// if the statement fails the database commits nothing (the transaction is aborted, its
    /// `COMMIT` rolls back). A statement after that one is an error. Other backends ignore
    /// it and commit as usual.
    fn commit_with_next(&mut self) {}

    /// Whether [`Tx::query_arrays`] runs on this backend: PostgreSQL's array parameters.
    fn has_arrays(&self) -> bool {
        false
    }

    /// Runs ONE statement for every argument list of `args` at once, on a backend with
    /// array parameters ([`Tx::has_arrays`]): parameter `$k` receives the `k`-th argument of
    /// every list, in order, as one array (the statement reads them back as rows with
    /// `unnest($1::text[], …) WITH ORDINALITY`). The statement is PostgreSQL's only, the
    /// batch form of a statement both databases run once per list ([`Tx::query_many`]); it
    /// saves the per-statement work of a pipeline (one Bind/Execute, one executor start and
    /// one answer per list). Every list has the same length. A backend without arrays
    /// answers an error.
    fn query_arrays(
        &mut self,
        sql: &'static str,
        args: &[Vec<Value<'_>>],
    ) -> impl Future<Output = Result<Vec<Row>, StoreError>> {
        let _ = (sql, args);
        async { Err(StoreError::new("this database has no array parameters")) }
    }
}

/// Row-lock clauses, in the order they are removed for SQLite (longest first).
const ROW_LOCKS: [&str; 2] = [" FOR UPDATE SKIP LOCKED", " FOR UPDATE"];

/// SQLite's spelling of a statement written for PostgreSQL: `$n` placeholders become `?n`
/// (SQLite would read `$1` as a *named* parameter, numbered by first appearance), and
/// row-lock clauses go, because SQLite has none: `BEGIN IMMEDIATE` already holds the
/// database's write lock for the whole transaction.
///
/// Statements never use `$` in any other role, nor a row-lock clause spelled other than
/// [`ROW_LOCKS`] after one space.
pub(crate) fn sqlite_text(sql: &str) -> String {
    let mut out = sql.replace('$', "?");
    for clause in ROW_LOCKS {
        out = out.replace(clause, "");
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn sqlite_text_numbers_placeholders_and_drops_row_locks() {
        assert_eq!(
            sqlite_text("SELECT a FROM t WHERE x = $1 AND y = $12 ORDER BY a FOR UPDATE"),
            "SELECT a FROM t WHERE x = ?1 AND y = ?12 ORDER BY a"
        );
        assert_eq!(
            sqlite_text(
                "UPDATE t SET a = $2 WHERE k = (SELECT k FROM t LIMIT 1 FOR UPDATE SKIP LOCKED)"
            ),
            "UPDATE t SET a = ?2 WHERE k = (SELECT k FROM t LIMIT 1)"
        );
    }

    #[test]
    fn rows_answer_typed_columns_and_name_a_mismatch() {
        let row = Row(vec![Cell::Int(3), Cell::Text("x".into()), Cell::Null]);
        assert_eq!(row.int(0).unwrap(), 3);
        assert_eq!(row.text(1).unwrap(), "x");
        assert_eq!(row.opt_text(2).unwrap(), None);
        assert_eq!(row.opt_int(2).unwrap(), None);
        assert!(row.int(1).is_err());
        assert!(row.text(2).is_err());
        assert!(
            row.int(3).is_err(),
            "a missing column is an error, not a panic"
        );
    }

    #[test]
    fn arguments_convert_from_rust_values() {
        let label: Option<&str> = None;
        let name = String::from("n");
        let got: &[Value<'_>] = args![7_i64, "a", &name, label, Some(2_i64)];
        assert_eq!(
            got,
            [
                Value::Int(7),
                Value::Text("a"),
                Value::Text("n"),
                Value::Null,
                Value::Int(2)
            ]
        );
    }
}
