//! The SQL of Hale's database stores: the search planner and every read statement, built once
//! for both backends as text and parameters in the dialect of SQLite or of PostgreSQL.
//!
//! The two stores share a schema (one table per index type, `resource` and `history`, the
//! `compartment` table; see each backend's `migrations/`), so a search, a history page or a
//! Patient's record is the same statement in both, up to spelling. That spelling is
//! [`Dialect`]: placeholders, boolean literals, join hints (`CROSS JOIN`, `INDEXED BY` and the
//! unary `+` that SQLite's planner reads as "do not use an index here"), JSON lists, full text,
//! and the functions the two name differently. Everything else, and above all the scope condition
//! on every alias of `resource`, is one piece of code.
//!
//! The crate only appends text and parameters: it runs nothing and links no driver. A backend
//! looks up search parameter ids for the planner ([`ParamLookup`]), binds [`Value`]s with its
//! driver, and reads the rows back.
#![warn(missing_docs)]

pub mod history;
pub mod plan;
pub mod record;
pub mod reindex;
pub mod scope;
pub mod search;

use bytes::Bytes;
use hale_fhir::{FhirVersion, Instant};
use hale_store::{Method, Owner, StoreError, StoredResource};

/// A parameter's value, independent of the driver that binds it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// SQL `NULL`.
    Null,
    /// An integer (`INTEGER`, `BIGINT`; PostgreSQL also binds it to `INTEGER` and `SMALLINT`
    /// columns and to floating point ones where the statement asks for those).
    Integer(i64),
    /// A floating point number.
    Real(f64),
    /// Text.
    Text(String),
}

/// The SQL dialect a statement is written in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: `?` placeholders, integers as booleans, FTS5, JSON1, planner hints.
    Sqlite,
    /// PostgreSQL: `$n` placeholders, `TRUE`/`FALSE`, `tsvector` full text, `jsonb`, no hints.
    Postgres,
}

impl Dialect {
    /// The condition that always holds.
    pub fn true_(self) -> &'static str {
        match self {
            Dialect::Sqlite => "1",
            Dialect::Postgres => "TRUE",
        }
    }

    /// The condition that never holds.
    pub fn false_(self) -> &'static str {
        match self {
            Dialect::Sqlite => "0",
            Dialect::Postgres => "FALSE",
        }
    }

    /// A join whose order the statement fixes: SQLite's `CROSS JOIN` tells its planner (which
    /// has no statistics here) to keep the order written. PostgreSQL plans joins by its
    /// statistics and writes a plain `JOIN`.
    pub fn cross_join(self) -> &'static str {
        match self {
            Dialect::Sqlite => "CROSS JOIN",
            Dialect::Postgres => "JOIN",
        }
    }

    /// Appends `{column} = ` and a resource type, which comes from the FHIR tables and never
    /// from a request's text. SQLite binds it, so that one statement serves every type.
    /// PostgreSQL gets it written in: a prepared statement's generic plan then knows how many
    /// rows the type has, and a search without criteria can keep that plan instead of planning
    /// at every execution, without scanning a rare type's rows through every type's.
    pub fn resource_type(self, sql: &mut Sql, column: &str, resource_type: &'static str) {
        match self {
            Dialect::Postgres if resource_type.bytes().all(|b| b.is_ascii_alphanumeric()) => {
                sql.push(&format!("{column} = '{resource_type}'"));
            }
            _ => {
                sql.push(&format!("{column} = "));
                sql.bind(resource_type);
            }
        }
    }

    /// ` INDEXED BY {index}` in SQLite, nothing in PostgreSQL.
    pub fn indexed_by(self, index: &str) -> String {
        match self {
            Dialect::Sqlite => format!(" INDEXED BY {index}"),
            Dialect::Postgres => String::new(),
        }
    }

    /// `expression` marked as not to be looked up through an index: SQLite's unary `+`.
    pub fn unindexed(self, expression: &str) -> String {
        match self {
            Dialect::Sqlite => format!("+{expression}"),
            Dialect::Postgres => expression.to_owned(),
        }
    }

    /// The null-safe inequality operator (`a IS NOT b` in SQLite).
    pub fn is_distinct_from(self) -> &'static str {
        match self {
            Dialect::Sqlite => "IS NOT",
            Dialect::Postgres => "IS DISTINCT FROM",
        }
    }

    /// A table of the elements of the JSON array bound to the one placeholder it holds, each in
    /// column `value`, with the alias `alias`.
    pub fn json_rows(self, alias: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_each(?) {alias}"),
            Dialect::Postgres => format!("jsonb_array_elements(CAST(? AS text)::jsonb) {alias}"),
        }
    }

    /// An element of [`Dialect::json_rows`] (or a field of one, `expression` being `j.value ->> 1`
    /// and the like, which is text already) as text.
    pub fn json_text(self, expression: &str) -> String {
        match self {
            Dialect::Sqlite => expression.to_owned(),
            Dialect::Postgres if expression.contains("->>") => expression.to_owned(),
            Dialect::Postgres => format!("({expression} #>> '{{}}')"),
        }
    }

    /// An element of [`Dialect::json_rows`] as an integer.
    pub fn json_integer(self, expression: &str) -> String {
        match self {
            Dialect::Sqlite => expression.to_owned(),
            Dialect::Postgres => format!("({expression})::integer"),
        }
    }

    /// The opening of `column IN (subquery)` for a subquery of a few rows, such as the targets of
    /// one page's includes; [`Dialect::in_few_end`] closes it. PostgreSQL writes
    /// `column = ANY(ARRAY(subquery))`, which runs the subquery once, first, and then seeks
    /// `column` row by row. With `IN`, the generic plan of a prepared statement, which cannot know
    /// how few the rows are, may scan a whole type and probe the subquery for each of its rows:
    /// 600 ms instead of 4 ms for ten Patients' Encounters among a million resources.
    pub fn in_few(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("{column} IN ("),
            Dialect::Postgres => format!("{column} = ANY(ARRAY("),
        }
    }

    /// The end of [`Dialect::in_few`].
    pub fn in_few_end(self) -> &'static str {
        match self {
            Dialect::Sqlite => ")",
            Dialect::Postgres => "))",
        }
    }

    /// The character after every character a resource's text can hold, as an SQL expression.
    pub fn last_character(self) -> &'static str {
        match self {
            Dialect::Sqlite => "char(1114111)",
            Dialect::Postgres => "chr(1114111)",
        }
    }
}

/// Text and parameters, appended in the order their placeholders appear. Placeholders are
/// written `?`; [`Sql::text_for`] numbers them for PostgreSQL.
#[derive(Default, Debug, Clone)]
pub struct Sql {
    /// The statement's text, with `?` placeholders.
    pub text: String,
    /// One value per placeholder, in order.
    pub params: Vec<Value>,
}

impl Sql {
    /// Appends text.
    pub fn push(&mut self, text: &str) {
        self.text.push_str(text);
    }

    /// Appends a placeholder and its value.
    pub fn bind(&mut self, value: impl IntoValue) {
        self.text.push('?');
        self.params.push(value.into_value());
    }

    /// Appends another fragment, text and parameters.
    pub fn append(&mut self, other: Sql) {
        self.text.push_str(&other.text);
        self.params.extend(other.params);
    }

    /// Appends one placeholder per value, separated by commas (the inside of an `IN (…)`).
    pub fn bind_list<V: IntoValue>(&mut self, values: impl IntoIterator<Item = V>) {
        for (idx, value) in values.into_iter().enumerate() {
            if idx > 0 {
                self.push(", ");
            }
            self.bind(value);
        }
    }

    /// Appends `parts` joined by ` OR `, or false (what a disjunction of nothing is) when there
    /// are none.
    pub fn append_any(&mut self, dialect: Dialect, parts: impl IntoIterator<Item = Sql>) {
        let mut parts = parts.into_iter().peekable();
        if parts.peek().is_none() {
            self.push(dialect.false_());
        }
        for (idx, part) in parts.enumerate() {
            if idx > 0 {
                self.push(" OR ");
            }
            self.append(part);
        }
    }

    /// The text as `dialect` writes placeholders: as they are for SQLite, numbered `$1`, `$2`, …
    /// for PostgreSQL. Builders never put a `?` inside a literal, but one there is kept.
    pub fn text_for(&self, dialect: Dialect) -> std::borrow::Cow<'_, str> {
        if dialect == Dialect::Sqlite {
            return std::borrow::Cow::Borrowed(&self.text);
        }
        let mut text = String::with_capacity(self.text.len() + self.params.len() * 2);
        let (mut n, mut quoted) = (0, false);
        for c in self.text.chars() {
            match c {
                '\'' => {
                    quoted = !quoted;
                    text.push(c);
                }
                '?' if !quoted => {
                    n += 1;
                    text.push('$');
                    text.push_str(&n.to_string());
                }
                c => text.push(c),
            }
        }
        std::borrow::Cow::Owned(text)
    }
}

/// A value that can be bound to a placeholder.
pub trait IntoValue {
    /// The value.
    fn into_value(self) -> Value;
}

impl IntoValue for &str {
    fn into_value(self) -> Value {
        Value::Text(self.to_owned())
    }
}

impl IntoValue for String {
    fn into_value(self) -> Value {
        Value::Text(self)
    }
}

impl IntoValue for i64 {
    fn into_value(self) -> Value {
        Value::Integer(self)
    }
}

impl IntoValue for f64 {
    fn into_value(self) -> Value {
        Value::Real(self)
    }
}

impl IntoValue for Value {
    fn into_value(self) -> Value {
        self
    }
}

/// How the planner finds search parameter ids: index rows name their parameter by the id of
/// `(fhir_version, resource type, code)` in the `search_param` table.
pub trait ParamLookup {
    /// The id of `code` on `resource_type`, `None` for a parameter no row was ever written with.
    fn one(
        &self,
        fhir_version: &str,
        resource_type: &str,
        code: &str,
    ) -> Result<Option<i64>, StoreError>;
    /// The ids of `code` on every type that has it (a system search without `_type`).
    fn every_type(&self, fhir_version: &str, code: &str) -> Result<Vec<i64>, StoreError>;
    /// The ids of every code of `resource_type`.
    fn every_code(&self, fhir_version: &str, resource_type: &str) -> Result<Vec<i64>, StoreError>;
}

/// The columns of a row selected with [`scope::COLUMNS`], as a backend read them.
pub struct ResourceRow {
    /// `r.fhir_version`.
    pub fhir_version: String,
    /// `r.type`.
    pub resource_type: String,
    /// `r.id`.
    pub id: String,
    /// `h.version_id`.
    pub version_id: i64,
    /// `h.last_updated`.
    pub last_updated: i64,
    /// `h.method`.
    pub method: String,
    /// `h.seq`.
    pub seq: i64,
    /// `r.owner_app`.
    pub owner_app: Option<i64>,
    /// `r.owner_user`.
    pub owner_user: Option<i64>,
    /// `h.json`.
    pub json: Bytes,
}

impl From<ResourceRow> for StoredResource {
    fn from(row: ResourceRow) -> Self {
        let method = Method::parse(&row.method).unwrap_or(Method::Put);
        StoredResource {
            fhir_version: FhirVersion::from_path_segment(&row.fhir_version)
                .unwrap_or(FhirVersion::R4),
            resource_type: row.resource_type,
            id: row.id,
            version_id: row.version_id as u64,
            last_updated: Instant(row.last_updated),
            deleted: method == Method::Delete,
            seq: row.seq,
            owner: row.owner_app.map(|app| Owner {
                app,
                user: row.owner_user,
            }),
            method,
            json: row.json,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_writes_the_resource_type_in_and_sqlite_binds_it() {
        let mut pg = Sql::default();
        Dialect::Postgres.resource_type(&mut pg, "r.type", "Condition");
        assert_eq!(pg.text, "r.type = 'Condition'");
        assert!(pg.params.is_empty());
        let mut sqlite = Sql::default();
        Dialect::Sqlite.resource_type(&mut sqlite, "r.type", "Condition");
        assert_eq!(sqlite.text, "r.type = ?");
        assert_eq!(sqlite.params.len(), 1);
        // Anything but letters and digits is bound, whatever the dialect.
        let mut odd = Sql::default();
        Dialect::Postgres.resource_type(&mut odd, "r.type", "Condition' OR 'x'='x");
        assert_eq!(odd.text_for(Dialect::Postgres), "r.type = $1");
    }

    #[test]
    fn postgres_numbers_placeholders_outside_literals() {
        let mut sql = Sql::default();
        sql.push("SELECT '?' WHERE a = ");
        sql.bind(1_i64);
        sql.push(" AND b IN (");
        sql.bind_list(["x", "y"]);
        sql.push(")");
        assert_eq!(
            sql.text_for(Dialect::Postgres),
            "SELECT '?' WHERE a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(sql.text_for(Dialect::Sqlite), sql.text);
    }
}
