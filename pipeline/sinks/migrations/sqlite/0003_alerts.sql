-- Alerts: one row per alert id (deterministic: rule + window + subject).
CREATE TABLE alerts (
    id           TEXT PRIMARY KEY,
    rule         TEXT NOT NULL,   -- surge, media-surge, copy-paste, new-language, watchlist
    severity     TEXT NOT NULL,   -- info, warning, critical
    subject      TEXT NOT NULL,
    summary      TEXT NOT NULL,
    window_start TEXT NOT NULL,   -- ISO 8601, UTC
    window_end   TEXT NOT NULL,
    value        REAL NOT NULL,
    threshold    REAL NOT NULL,
    examples     TEXT NOT NULL,   -- JSON list of post uids
    links        TEXT NOT NULL,   -- JSON list of URLs
    raised_at    TEXT NOT NULL
);
CREATE INDEX alerts_window_start ON alerts (window_start);
