//! The rows a write transaction has decided but not yet sent.
//!
//! Sending each row as it is decided costs a round trip per row: a Synthea patient Bundle of 700
//! resources with 20 index rows each would wait for thousands of answers, one after another,
//! under the cluster-wide write lock. Instead a transaction collects its inserts here, table by
//! table, and sends them together before anything reads them (see `Tx::flush`): as multi-row
//! `INSERT … VALUES` statements in one pipeline, or with `COPY … FROM STDIN BINARY` where a table
//! has many rows (a bulk `hale import` chunk, a large Bundle), which is PostgreSQL's fastest way
//! in. Both take the same rows, so what a row holds is written down once, in [`Table`].

use bytes::BufMut;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

/// One value of a row, in the type of its column.
pub(crate) type Cell = Box<dyn ToSql + Sync + Send>;

/// A table the write path inserts into, with its columns in the order rows give them.
pub(crate) struct Table {
    pub(crate) name: &'static str,
    pub(crate) columns: &'static [&'static str],
    /// The column types, as `COPY … BINARY` needs them exactly.
    pub(crate) types: &'static [Type],
    /// How `INSERT … VALUES` stores the row, where its values are not stored as given. A table
    /// with it cannot go through `COPY`.
    pub(crate) computed: Option<Computed>,
}

/// The expressions that store a row whose columns are computed from its cells by the server.
pub(crate) struct Computed {
    /// Cells per row, which may be more than the table's columns.
    pub(crate) cells: usize,
    /// Each column's expression, `{n}` standing for the row's cell n.
    pub(crate) columns: &'static [&'static str],
}

impl Table {
    /// Cells per row.
    fn cells(&self) -> usize {
        self.computed
            .as_ref()
            .map_or(self.columns.len(), |computed| computed.cells)
    }
}

const KEY: [&str; 3] = ["rid", "ord", "param"];

macro_rules! index_table {
    ($name:literal, [$($column:literal),*], [$($ty:expr),*]) => {
        Table {
            name: $name,
            columns: &[KEY[0], KEY[1], KEY[2], $($column),*],
            types: &[Type::INT8, Type::INT4, Type::INT4, $($ty),*],
            computed: None,
        }
    };
}

pub(crate) const RESOURCE: Table = Table {
    name: "resource",
    columns: &[
        "rid",
        "fhir_version",
        "type",
        "id",
        "owner_app",
        "owner_user",
        "version_id",
        "last_updated",
        "deleted",
        "seq",
    ],
    types: &[
        Type::INT8,
        Type::TEXT,
        Type::TEXT,
        Type::TEXT,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT2,
        Type::INT8,
    ],
    computed: None,
};

pub(crate) const HISTORY: Table = Table {
    name: "history",
    columns: &["seq", "rid", "version_id", "last_updated", "method", "json"],
    types: &[
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::INT8,
        Type::TEXT,
        Type::BYTEA,
    ],
    computed: None,
};

pub(crate) const COMPARTMENT: Table = Table {
    name: "compartment",
    columns: &["rid", "patient_id", "type", "id"],
    types: &[Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT],
    computed: None,
};

/// `_content` and `_text`, turned into `tsvector`s by the server, with the same configuration
/// that searching them uses, each with the resource type's lexeme
/// (`hale_store_sql::plan::type_lexeme`, the row's fourth cell) added.
pub(crate) const FULL_TEXT: Table = Table {
    name: "full_text",
    columns: &["rid", "content", "narrative"],
    types: &[Type::INT8, Type::TEXT, Type::TEXT],
    computed: Some(Computed {
        cells: 4,
        columns: &[
            "{0}",
            "to_tsvector('simple', coalesce({1}, '')) || array_to_tsvector(ARRAY[{3}::text])",
            "to_tsvector('simple', coalesce({2}, '')) || array_to_tsvector(ARRAY[{3}::text])",
        ],
    }),
};

pub(crate) const STRING: Table = index_table!(
    "idx_string",
    ["normalized", "exact"],
    [Type::TEXT, Type::TEXT]
);
pub(crate) const TOKEN: Table = index_table!(
    "idx_token",
    ["system", "value", "text", "of_type"],
    [Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT]
);
pub(crate) const REFERENCE: Table = index_table!(
    "idx_reference",
    ["target_type", "target_id", "url", "version"],
    [Type::TEXT, Type::TEXT, Type::TEXT, Type::TEXT]
);
pub(crate) const DATE: Table = index_table!("idx_date", ["low", "high"], [Type::INT8, Type::INT8]);
pub(crate) const NUMBER: Table = index_table!(
    "idx_number",
    ["value", "low", "high"],
    [Type::FLOAT8, Type::FLOAT8, Type::FLOAT8]
);
pub(crate) const QUANTITY: Table = index_table!(
    "idx_quantity",
    ["value", "low", "high", "system", "unit"],
    [
        Type::FLOAT8,
        Type::FLOAT8,
        Type::FLOAT8,
        Type::TEXT,
        Type::TEXT
    ]
);
pub(crate) const URI: Table = index_table!("idx_uri", ["value"], [Type::TEXT]);
pub(crate) const COMPOSITE: Table = index_table!("idx_composite", ["components"], [Type::JSONB]);

/// Every table, in the order a flush sends them.
const TABLES: [&Table; 12] = [
    &RESOURCE,
    &HISTORY,
    &COMPARTMENT,
    &FULL_TEXT,
    &STRING,
    &TOKEN,
    &REFERENCE,
    &DATE,
    &NUMBER,
    &QUANTITY,
    &URI,
    &COMPOSITE,
];

/// From this many rows on, a table's rows go through `COPY`: below it, the statements of a
/// pipeline cost less than `COPY`'s own round trips.
pub(crate) const COPY_ROWS: usize = 1024;

/// Rows per `INSERT … VALUES` statement, largest first. A few fixed sizes keep the number of
/// prepared statements per table small while a large batch needs few statements.
const VALUES_ROWS: [usize; 4] = [256, 32, 4, 1];

/// Collected rows past which a write transaction starts sending them while it goes on
/// (`Tx::put`): a large Bundle's rows then reach the server in parts, which it stores while the
/// closure prepares the next resources, on the other core.
pub(crate) const EARLY_ROWS: usize = 4096;

/// The rows collected for each table.
#[derive(Default)]
pub(crate) struct Pending {
    rows: [Vec<Vec<Cell>>; TABLES.len()],
}

/// One statement of a flush.
pub(crate) enum Batch {
    /// `INSERT … VALUES` with the cells of its rows, in order.
    Values(String, Vec<Cell>),
    /// `COPY … FROM STDIN BINARY` and its rows.
    Copy(String, &'static [Type], Vec<Vec<Cell>>),
}

impl Pending {
    /// Adds a row of `table`; `cells` follow its columns.
    pub(crate) fn push(&mut self, table: &Table, cells: Vec<Cell>) {
        debug_assert_eq!(cells.len(), table.cells(), "{}", table.name);
        let slot = TABLES
            .iter()
            .position(|t| t.name == table.name)
            .expect("every table the write path uses is in TABLES");
        self.rows[slot].push(cells);
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.rows.iter().all(Vec::is_empty)
    }

    /// Rows collected since they were last taken, over every table.
    pub(crate) fn len(&self) -> usize {
        self.rows.iter().map(Vec::len).sum()
    }

    /// Takes every row collected so far as the statements that insert them.
    pub(crate) fn take(&mut self) -> Vec<Batch> {
        let mut sends = Vec::new();
        for (table, rows) in TABLES.iter().zip(self.rows.iter_mut()) {
            let rows = std::mem::take(rows);
            if rows.len() >= COPY_ROWS && table.computed.is_none() {
                let copy = format!(
                    "COPY {} ({}) FROM STDIN BINARY",
                    table.name,
                    table.columns.join(", ")
                );
                sends.push(Batch::Copy(copy, table.types, rows));
                continue;
            }
            let mut rows = rows.into_iter();
            let mut left = rows.len();
            for size in VALUES_ROWS {
                while left >= size {
                    let cells: Vec<Cell> = rows.by_ref().take(size).flatten().collect();
                    sends.push(Batch::Values(values_statement(table, size), cells));
                    left -= size;
                }
            }
        }
        sends
    }
}

/// `INSERT INTO table (columns) VALUES (…), (…)` for `rows` rows, numbered placeholders.
fn values_statement(table: &Table, rows: usize) -> String {
    let width = table.cells();
    let mut text = format!(
        "INSERT INTO {} ({}) VALUES ",
        table.name,
        table.columns.join(", ")
    );
    for row in 0..rows {
        text.push_str(if row == 0 { "(" } else { ", (" });
        for column in 0..table.columns.len() {
            if column > 0 {
                text.push_str(", ");
            }
            let placeholder = |cell: usize| format!("${}", row * width + cell + 1);
            match &table.computed {
                Some(computed) => {
                    let mut expression = computed.columns[column].to_owned();
                    for cell in 0..width {
                        expression = expression.replace(&format!("{{{cell}}}"), &placeholder(cell));
                    }
                    text.push_str(&expression);
                }
                None => text.push_str(&placeholder(column)),
            }
        }
        text.push(')');
    }
    text
}

/// A composite entry's components, sent as `jsonb`: the binary format is a version byte and the
/// JSON text, in `COPY` as in statements.
#[derive(Debug)]
pub(crate) struct Jsonb(pub(crate) String);

impl ToSql for Jsonb {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(n: i64) -> Vec<Cell> {
        vec![
            Box::new(n),
            Box::new(0_i32),
            Box::new(1_i32),
            Box::new("u".to_owned()),
        ]
    }

    #[test]
    fn values_statements_cover_every_row_once_in_fixed_sizes() {
        let mut pending = Pending::default();
        for n in 0..301 {
            pending.push(&URI, row(n));
        }
        let sends = pending.take();
        let sizes: Vec<usize> = sends
            .iter()
            .map(|send| match send {
                Batch::Values(_, cells) => cells.len() / URI.columns.len(),
                Batch::Copy(..) => panic!("301 rows stay below COPY_ROWS"),
            })
            .collect();
        assert_eq!(sizes, [256, 32, 4, 4, 4, 1]);
        assert!(pending.is_empty(), "taking leaves nothing behind");
    }

    #[test]
    fn many_rows_go_through_copy_unless_the_server_must_transform_them() {
        let mut pending = Pending::default();
        for n in 0..COPY_ROWS as i64 {
            pending.push(&URI, row(n));
            pending.push(
                &FULL_TEXT,
                vec![
                    Box::new(n),
                    Box::new(Some("a b".to_owned())),
                    Box::new(None::<String>),
                    Box::new("@Basic".to_owned()),
                ],
            );
        }
        let sends = pending.take();
        let copies: Vec<&str> = sends
            .iter()
            .filter_map(|send| match send {
                Batch::Copy(text, _, rows) => {
                    assert_eq!(rows.len(), COPY_ROWS);
                    Some(text.as_str())
                }
                Batch::Values(..) => None,
            })
            .collect();
        assert_eq!(
            copies,
            ["COPY idx_uri (rid, ord, param, value) FROM STDIN BINARY"]
        );
        assert!(sends.iter().any(|send| matches!(
            send,
            Batch::Values(text, _) if text.starts_with("INSERT INTO full_text")
                && text.contains("to_tsvector('simple', coalesce($2, ''))")
        )));
    }

    #[test]
    fn computed_columns_number_their_cells_row_by_row() {
        assert_eq!(
            values_statement(&FULL_TEXT, 2),
            "INSERT INTO full_text (rid, content, narrative) VALUES \
             ($1, to_tsvector('simple', coalesce($2, '')) || array_to_tsvector(ARRAY[$4::text]), \
             to_tsvector('simple', coalesce($3, '')) || array_to_tsvector(ARRAY[$4::text])), \
             ($5, to_tsvector('simple', coalesce($6, '')) || array_to_tsvector(ARRAY[$8::text]), \
             to_tsvector('simple', coalesce($7, '')) || array_to_tsvector(ARRAY[$8::text]))"
        );
    }

    #[test]
    fn values_statement_numbers_placeholders_row_by_row() {
        assert_eq!(
            values_statement(&DATE, 2),
            "INSERT INTO idx_date (rid, ord, param, low, high) VALUES \
             ($1, $2, $3, $4, $5), ($6, $7, $8, $9, $10)"
        );
    }
}
