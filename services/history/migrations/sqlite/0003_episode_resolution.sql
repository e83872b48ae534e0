-- A firing alert and its resolution are two rows of one episode (fingerprint and start). A firing row
-- records when its episode's resolution says it ended (ended_at, NULL while none arrived): the writer
-- sets it in the batch that brings the resolution (services/history/_write.py, MARK_ENDED), so "still
-- firing" reads the few rows a partial index holds, not a search per firing row; on a long history that
-- search read every firing row ever stored to find the few still firing.
ALTER TABLE alerts ADD COLUMN ended_at INTEGER;
CREATE INDEX alerts_episode ON alerts (fingerprint, starts_at, status);
UPDATE alerts SET ended_at = (
    SELECT MAX(COALESCE(r.ends_at, r.received_at)) FROM alerts r
    WHERE r.fingerprint = alerts.fingerprint AND r.starts_at = alerts.starts_at AND r.status = 'resolved'
) WHERE status = 'firing';
-- What the console's "firing" lists, newest first: few rows, however long the history.
CREATE INDEX alerts_still_firing ON alerts (status, ended_at, received_at, id)
    WHERE status = 'firing' AND ended_at IS NULL;
