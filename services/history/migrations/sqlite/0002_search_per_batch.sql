-- The full-text tables are kept in step by the writer, once per batch (services/history/_write.py):
-- FTS5 writes its pending words out at every statement, so triggers fired by each row of a batch made
-- a segment per row and cost more than the row and all of its indexes. Retention's one DELETE keeps
-- its trigger.
DROP TRIGGER alerts_fts_insert;
DROP TRIGGER alerts_fts_update;
DROP TRIGGER incidents_fts_insert;
DROP TRIGGER incidents_fts_update;
