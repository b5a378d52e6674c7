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
}

const KEY: [&str; 3] = ["rid", "ord", "param"];

macro_rules! index_table {
    ($name:literal, [$($column:literal),*], [$($ty:expr),*]) => {
        Table {
            name: $name,
            columns: &[KEY[0], KEY[1], KEY[2], $($column),*],
            types: &[Type::INT8, Type::INT4, Type::INT4, $($ty),*],
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
};

pub(crate) const COMPARTMENT: Table = Table {
    name: "compartment",
    columns: &["rid", "patient_id", "type", "id"],
    types: &[Type::INT8, Type::TEXT, Type::TEXT, Type::TEXT],
};

/// The words of `_content` and `_text`, each with the resource type's lexeme, as [`TsVector`]s.
pub(crate) const FULL_TEXT: Table = Table {
    name: "full_text",
    columns: &["rid", "content", "narrative"],
    types: &[Type::INT8, Type::TS_VECTOR, Type::TS_VECTOR],
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

/// Collected rows past which a write transaction sends them when the server has nothing of its
/// left to store: at the start of a transaction, or when the server stored the last part before
/// the closure prepared the next. Waiting for [`EARLY_ROWS`] then left the server idle while it
/// held the write lock.
pub(crate) const IDLE_ROWS: usize = 512;

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
        debug_assert_eq!(cells.len(), table.columns.len(), "{}", table.name);
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
            if rows.len() >= COPY_ROWS {
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
    let width = table.columns.len();
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
            text.push_str(&format!("${}", row * width + column + 1));
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

/// The words of a text as a `tsvector` (`full_text`'s columns), made by Hale
/// ([`hale_search::normalize::folded_words`]) rather than by the server's `to_tsvector`, so that
/// PostgreSQL finds the words SQLite's full-text index finds, and so that the rows can go through
/// `COPY`. Parsing text took about a fifth of the server's time in ingest (W1), under the write
/// lock.
///
/// The binary form is the number of lexemes, then each lexeme NUL-terminated with a count of
/// positions (none, as searches only ask whether a word is there). PostgreSQL keeps lexemes
/// distinct and sorted bytewise, a shorter one first on a common prefix: the order of `str`.
/// A lexeme is at most 2,047 bytes and all of them at most 1 MiB: longer words are left out, as
/// `to_tsvector` left them out, and so are the words past the last that fits. The vector is
/// kept in that binary form, made from words borrowed from one folded string: a `BTreeSet` of
/// words allocated one by one took 12% of the Hale process's samples in ingest (W1), under
/// the write lock.
#[derive(Debug)]
pub(crate) struct TsVector(Vec<u8>);

/// The longest lexeme a `tsvector` holds, in bytes.
const MAX_LEXEME: usize = (1 << 11) - 1;
/// The most bytes of lexemes a `tsvector` holds.
const MAX_LEXEMES: usize = (1 << 20) - 1;

impl TsVector {
    /// The words of `text` (none when there is no text) and the lexeme `extra`.
    pub(crate) fn of(text: Option<&str>, extra: &str) -> TsVector {
        let folded = text.map(hale_search::normalize::folded_words);
        let words = folded.as_deref().unwrap_or_default().split_terminator(' ');
        let mut lexemes: Vec<&str> = std::iter::once(extra)
            .chain(words.filter(|word| word.len() <= MAX_LEXEME))
            .collect();
        // Past PostgreSQL's limit on a vector's lexemes, the words that come first in the text
        // are kept. The distinct words are at most all of them, so the limit only needs
        // checking in order when the folded text is that long.
        if folded
            .as_ref()
            .is_some_and(|f| extra.len() + f.len() > MAX_LEXEMES)
        {
            let mut seen = std::collections::HashSet::new();
            let mut size = 0;
            lexemes.retain(|word| {
                if size > MAX_LEXEMES || !seen.insert(*word) {
                    return false;
                }
                size += word.len();
                size <= MAX_LEXEMES
            });
        }
        lexemes.sort_unstable();
        lexemes.dedup();
        // The binary form `COPY` sends: the number of lexemes, then each one's bytes, a NUL and
        // no positions.
        let mut binary =
            Vec::with_capacity(4 + lexemes.iter().map(|lexeme| lexeme.len() + 3).sum::<usize>());
        binary.extend_from_slice(&(lexemes.len() as i32).to_be_bytes());
        for lexeme in lexemes {
            binary.extend_from_slice(lexeme.as_bytes());
            binary.extend_from_slice(&[0, 0, 0]);
        }
        TsVector(binary)
    }
}

impl ToSql for TsVector {
    fn to_sql(
        &self,
        _: &Type,
        out: &mut bytes::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }

    fn accepts(ty: &Type) -> bool {
        *ty == Type::TS_VECTOR
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
    fn many_rows_go_through_copy() {
        let mut pending = Pending::default();
        for n in 0..COPY_ROWS as i64 {
            pending.push(&URI, row(n));
            pending.push(
                &FULL_TEXT,
                vec![
                    Box::new(n),
                    Box::new(TsVector::of(Some("a b"), "@Basic")),
                    Box::new(TsVector::of(None, "@Basic")),
                ],
            );
        }
        pending.push(
            &DATE,
            vec![
                Box::new(1_i64),
                Box::new(0_i32),
                Box::new(1_i32),
                Box::new(0_i64),
                Box::new(1_i64),
            ],
        );
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
            [
                "COPY full_text (rid, content, narrative) FROM STDIN BINARY",
                "COPY idx_uri (rid, ord, param, value) FROM STDIN BINARY"
            ]
        );
        assert_eq!(sends.len(), 3, "the one date row goes as a statement");
    }

    /// Lexemes go out distinct and in PostgreSQL's order, without positions; words too long for
    /// a lexeme are left out.
    #[test]
    fn a_tsvector_holds_each_word_once_in_order() {
        let long = "x".repeat(MAX_LEXEME + 1);
        let vector = TsVector::of(
            Some(&format!("Blood blood-pressure b {long} ab")),
            "@Observation",
        );
        let mut out = bytes::BytesMut::new();
        vector.to_sql(&Type::TS_VECTOR, &mut out).unwrap();
        let mut expected = Vec::new();
        expected.extend_from_slice(&5_i32.to_be_bytes());
        for lexeme in ["@Observation", "ab", "b", "blood", "pressure"] {
            expected.extend_from_slice(lexeme.as_bytes());
            expected.extend_from_slice(&[0, 0, 0]);
        }
        assert_eq!(&out[..], &expected[..]);
    }

    #[test]
    fn a_tsvector_past_the_size_limit_keeps_the_first_words() {
        // Distinct words of 1,000 letters, each repeated: the repeats take no room, and the
        // words past 1 MiB are left out, whatever their order in the vector.
        let word = |n: usize| format!("{}{n:04}", "w".repeat(996));
        let text: Vec<String> = (0..1100).flat_map(|n| [word(n), word(n)]).collect();
        let vector = TsVector::of(Some(&text.join(" ")), "@Basic");
        let count = i32::from_be_bytes(vector.0[..4].try_into().unwrap());
        let fit = (MAX_LEXEMES - "@Basic".len()) / 1000;
        assert_eq!(count as usize, 1 + fit);
        let kept = String::from_utf8_lossy(&vector.0);
        assert!(kept.contains(&word(fit - 1)) && !kept.contains(&word(fit)));
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
