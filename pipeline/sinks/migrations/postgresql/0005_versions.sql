-- Deletions and edits are evidence: a post row is never removed, and every later version is kept.
ALTER TABLE posts ADD COLUMN edited_at timestamptz;
ALTER TABLE posts ADD COLUMN deleted_at timestamptz;
CREATE TABLE post_versions (
    uid             text COLLATE "C" NOT NULL,
    version         text COLLATE "C" NOT NULL,
    edited_at       timestamptz,
    text            text NOT NULL,
    content_warning text,
    media           jsonb NOT NULL,
    lang            text NOT NULL,
    retrieved_at    timestamptz NOT NULL,
    source          text NOT NULL,
    sha256          text,
    raw             bytea NOT NULL,
    PRIMARY KEY (uid, version)
);
CREATE TABLE deletions (
    uid          text COLLATE "C" PRIMARY KEY,
    platform     text NOT NULL,
    id           text NOT NULL,
    deleted_at   timestamptz NOT NULL,
    retrieved_at timestamptz NOT NULL,
    source       text NOT NULL,
    sha256       text,
    raw          bytea NOT NULL
);
