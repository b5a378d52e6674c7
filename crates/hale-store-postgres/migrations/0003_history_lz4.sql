-- The stored JSON is compressed with LZ4 rather than PostgreSQL's default pglz: LZ4 decompresses
-- several times faster, and every read, search page and export decompresses it, while it costs
-- about the same space. Rows written before this migration keep pglz until they are rewritten;
-- both read the same. A server built without LZ4 (`--with-lz4`, which the PostgreSQL packages of
-- Debian, Ubuntu and the official images have) keeps pglz.
DO $$
BEGIN
    ALTER TABLE history ALTER COLUMN json SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
