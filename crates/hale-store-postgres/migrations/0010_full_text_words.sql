-- Full text is now stored as the words Hale makes of it (`pending::TsVector` in src/pending.rs,
-- the words of `hale_search::normalize::text_words`), which SQLite's full-text index makes too,
-- instead of the words of `to_tsvector('simple', …)`, which kept `loinc.org` or `José` whole,
-- and searches look for Hale's words. Rows written before would miss such searches, so the
-- index is marked as built by other rules: `hale serve` rebuilds it before answering (as
-- `hale reindex` does), which also rewrites every `full_text` row.
UPDATE meta SET value = value || ' (full text by to_tsvector)' WHERE key = 'index_fingerprint';
