-- Times are microseconds since the epoch (UTC) in both backends: exact cursors, integer days.
-- Every filter has an index ending in the time: a value few rows (or none) have must not scan them all.
CREATE TABLE alerts (
    seq INTEGER PRIMARY KEY,  -- stable rowid for the full-text index
    id TEXT NOT NULL UNIQUE,
    received_at INTEGER NOT NULL,
    analyzed_at INTEGER NOT NULL,
    starts_at INTEGER NOT NULL,
    ends_at INTEGER,
    fingerprint TEXT NOT NULL,
    alertname TEXT NOT NULL,
    status TEXT NOT NULL,
    severity TEXT NOT NULL,
    namespace TEXT NOT NULL,
    service TEXT NOT NULL,
    category TEXT NOT NULL,
    summary TEXT NOT NULL,
    analyzer TEXT NOT NULL,
    degraded INTEGER NOT NULL,
    incident_id TEXT NOT NULL,
    confidence REAL NOT NULL,
    llm_calls INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    search_text TEXT NOT NULL,
    body BLOB NOT NULL  -- the message: zlib-compressed JSON
);
CREATE INDEX alerts_received ON alerts (received_at, id);
CREATE INDEX alerts_severity ON alerts (severity, received_at, id);
CREATE INDEX alerts_category ON alerts (category, received_at, id);
CREATE INDEX alerts_status ON alerts (status, received_at, id);
CREATE INDEX alerts_analyzer ON alerts (analyzer, received_at, id);
CREATE INDEX alerts_service ON alerts (service, received_at, id);
CREATE INDEX alerts_namespace ON alerts (namespace, received_at, id);
-- Few alerts are degraded: a partial index costs the others nothing (queries say `degraded = 1`).
CREATE INDEX alerts_degraded ON alerts (received_at, id) WHERE degraded = 1;
CREATE INDEX alerts_incident ON alerts (incident_id, received_at, id);

-- Whole words (unicode61 tokens), kept in step with the table by triggers.
CREATE VIRTUAL TABLE alerts_fts USING fts5(search_text, content='alerts', content_rowid='seq');
CREATE TRIGGER alerts_fts_insert AFTER INSERT ON alerts BEGIN
    INSERT INTO alerts_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;
CREATE TRIGGER alerts_fts_delete AFTER DELETE ON alerts BEGIN
    INSERT INTO alerts_fts (alerts_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
END;
CREATE TRIGGER alerts_fts_update AFTER UPDATE OF search_text ON alerts BEGIN
    INSERT INTO alerts_fts (alerts_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
    INSERT INTO alerts_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;

CREATE TABLE incidents (
    seq INTEGER PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    sequence INTEGER NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    opened_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    resolved_at INTEGER,
    category TEXT NOT NULL,
    summary TEXT NOT NULL,
    member_count INTEGER NOT NULL,
    firing_count INTEGER NOT NULL,
    llm_calls INTEGER NOT NULL,
    degraded INTEGER NOT NULL,
    search_text TEXT NOT NULL,
    body BLOB NOT NULL  -- the message: zlib-compressed JSON
);
CREATE INDEX incidents_updated ON incidents (updated_at, id);
CREATE INDEX incidents_opened ON incidents (opened_at);
CREATE INDEX incidents_status ON incidents (status, updated_at, id);
CREATE INDEX incidents_severity ON incidents (severity, updated_at, id);
CREATE INDEX incidents_category ON incidents (category, updated_at, id);

CREATE VIRTUAL TABLE incidents_fts USING fts5(search_text, content='incidents', content_rowid='seq');
CREATE TRIGGER incidents_fts_insert AFTER INSERT ON incidents BEGIN
    INSERT INTO incidents_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;
CREATE TRIGGER incidents_fts_delete AFTER DELETE ON incidents BEGIN
    INSERT INTO incidents_fts (incidents_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
END;
CREATE TRIGGER incidents_fts_update AFTER UPDATE OF search_text ON incidents BEGIN
    INSERT INTO incidents_fts (incidents_fts, rowid, search_text) VALUES ('delete', old.seq, old.search_text);
    INSERT INTO incidents_fts (rowid, search_text) VALUES (new.seq, new.search_text);
END;

-- One verdict per target: a later one replaces an earlier one.
CREATE TABLE feedback (
    target_id TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    target TEXT NOT NULL,
    verdict TEXT NOT NULL,
    category TEXT NOT NULL,
    corrected_category TEXT NOT NULL,
    given_at INTEGER NOT NULL,
    body BLOB NOT NULL  -- the message: zlib-compressed JSON
);
CREATE INDEX feedback_given ON feedback (given_at);
