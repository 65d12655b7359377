-- Alerts: one row per alert id (deterministic: rule + window + subject).
CREATE TABLE alerts (
    id           text COLLATE "C" PRIMARY KEY,
    rule         text NOT NULL,   -- surge, media-surge, copy-paste, new-language, watchlist
    severity     text NOT NULL,   -- info, warning, critical
    subject      text NOT NULL,
    summary      text NOT NULL,
    window_start timestamptz NOT NULL,
    window_end   timestamptz NOT NULL,
    value        double precision NOT NULL,
    threshold    double precision NOT NULL,
    examples     jsonb NOT NULL,  -- list of post uids
    links        jsonb NOT NULL,  -- list of URLs
    raised_at    timestamptz NOT NULL
);
CREATE INDEX alerts_window_start ON alerts (window_start);
