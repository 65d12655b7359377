-- Collection runs: which collector ran when, with what config and rules (hashwatch.collections).
CREATE TABLE collections (
    id            TEXT PRIMARY KEY,
    collector     TEXT NOT NULL,
    campaign      TEXT,
    config        TEXT,           -- the campaign config file as read
    config_sha256 TEXT,
    rules         TEXT NOT NULL,  -- JSON list: what the platform was asked for
    parameters    TEXT NOT NULL,  -- JSON object: the run's options
    software      TEXT NOT NULL,
    host          TEXT NOT NULL,
    started_at    TEXT NOT NULL,  -- ISO 8601, UTC
    stopped_at    TEXT,           -- NULL while running (or if it never said it stopped)
    outcome       TEXT
);
ALTER TABLE gaps ADD COLUMN source TEXT;
ALTER TABLE gaps ADD COLUMN collection TEXT;
