-- Collection gaps: windows in which a collector was down, so nobody mistakes an outage for silence.
CREATE TABLE gaps (
    id        TEXT PRIMARY KEY,   -- collector + start
    collector TEXT NOT NULL,
    start     TEXT NOT NULL,      -- ISO 8601, UTC
    "end"     TEXT,               -- NULL while the outage is open
    reason    TEXT NOT NULL,
    recovered INTEGER NOT NULL DEFAULT 0
);
