-- Collection gaps: windows in which a collector was down, so nobody mistakes an outage for silence.
CREATE TABLE gaps (
    id        text COLLATE "C" PRIMARY KEY,  -- collector + start
    collector text NOT NULL,
    start     timestamptz NOT NULL,
    "end"     timestamptz,        -- NULL while the outage is open
    reason    text NOT NULL,
    recovered bigint NOT NULL DEFAULT 0
);
