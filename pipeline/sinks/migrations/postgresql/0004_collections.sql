-- Collection runs: which collector ran when, with what config and rules (hashwatch.collections).
CREATE TABLE collections (
    id            text COLLATE "C" PRIMARY KEY,
    collector     text NOT NULL,
    campaign      text,
    config        text,
    config_sha256 text,
    rules         jsonb NOT NULL,
    parameters    jsonb NOT NULL,
    software      text NOT NULL,
    host          text NOT NULL,
    started_at    timestamptz NOT NULL,
    stopped_at    timestamptz,
    outcome       text
);
ALTER TABLE gaps ADD COLUMN source text;
ALTER TABLE gaps ADD COLUMN collection text;
