-- 0002: the ebRIM XML of every object compressed with lz4 instead of
-- pglz (PostgreSQL 14+, Debian builds --with-lz4): pglz was a third of the
-- registry's CPU in a 500-entry submission (docs/design/bench.md); lz4
-- compresses about as well at several times the speed. Rows already stored
-- keep pglz until rewritten; both read the same way.
ALTER TABLE submission_sets ALTER COLUMN ebrim SET COMPRESSION lz4;
ALTER TABLE documents ALTER COLUMN ebrim SET COMPRESSION lz4;
ALTER TABLE folders ALTER COLUMN ebrim SET COMPRESSION lz4;
ALTER TABLE associations ALTER COLUMN ebrim SET COMPRESSION lz4;
