-- A firing alert and its resolution are two rows of one episode (fingerprint and start). Lists ask,
-- for each firing row they show, whether its resolution arrived: is it still firing? This index
-- answers that for a row in one lookup.
CREATE INDEX alerts_episode ON alerts (fingerprint, starts_at, status);
