-- Times are microseconds since the epoch (UTC) in both backends: exact cursors, integer days.
-- Every filter has an index ending in the time: a value few rows (or none) have must not scan them all.
CREATE TABLE alerts (
    id TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL,
    analyzed_at BIGINT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT,
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
    confidence DOUBLE PRECISION NOT NULL,
    llm_calls INTEGER NOT NULL,
    prompt_tokens INTEGER NOT NULL,
    completion_tokens INTEGER NOT NULL,
    search_text TEXT NOT NULL,
    -- 'simple': whole words, no stemming, as SQLite's unicode61 tokens.
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED,
    body BYTEA NOT NULL  -- the message: zlib-compressed JSON
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
CREATE INDEX alerts_search ON alerts USING GIN (search);

CREATE TABLE incidents (
    id TEXT PRIMARY KEY,
    sequence INTEGER NOT NULL,
    status TEXT NOT NULL,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    opened_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    resolved_at BIGINT,
    category TEXT NOT NULL,
    summary TEXT NOT NULL,
    member_count INTEGER NOT NULL,
    firing_count INTEGER NOT NULL,
    llm_calls INTEGER NOT NULL,
    degraded INTEGER NOT NULL,
    search_text TEXT NOT NULL,
    search tsvector GENERATED ALWAYS AS (to_tsvector('simple', search_text)) STORED,
    body BYTEA NOT NULL  -- the message: zlib-compressed JSON
);
CREATE INDEX incidents_updated ON incidents (updated_at, id);
CREATE INDEX incidents_opened ON incidents (opened_at);
CREATE INDEX incidents_status ON incidents (status, updated_at, id);
CREATE INDEX incidents_severity ON incidents (severity, updated_at, id);
CREATE INDEX incidents_category ON incidents (category, updated_at, id);
CREATE INDEX incidents_search ON incidents USING GIN (search);

-- One verdict per target: a later one replaces an earlier one.
CREATE TABLE feedback (
    target_id TEXT PRIMARY KEY,
    id TEXT NOT NULL,
    target TEXT NOT NULL,
    verdict TEXT NOT NULL,
    category TEXT NOT NULL,
    corrected_category TEXT NOT NULL,
    given_at BIGINT NOT NULL,
    body BYTEA NOT NULL  -- the message: zlib-compressed JSON
);
CREATE INDEX feedback_given ON feedback (given_at);
