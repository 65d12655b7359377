-- Deletions and edits are evidence: a post row is never removed, and every later version is kept.
ALTER TABLE posts ADD COLUMN edited_at TEXT;   -- the latest edit the platform reported
ALTER TABLE posts ADD COLUMN deleted_at TEXT;  -- when the platform said it was deleted
CREATE TABLE post_versions (                   -- versions after the first (which is the post row)
    uid             TEXT NOT NULL,
    version         TEXT NOT NULL,             -- the platform's version id, else a content hash
    edited_at       TEXT,
    text            TEXT NOT NULL,
    content_warning TEXT,
    media           TEXT NOT NULL,             -- JSON list of media items
    lang            TEXT NOT NULL,
    retrieved_at    TEXT NOT NULL,
    source          TEXT NOT NULL,
    sha256          TEXT,
    raw             BLOB NOT NULL,             -- the version's payload, byte for byte
    PRIMARY KEY (uid, version)
);
CREATE TABLE deletions (                       -- the delete events, also for posts never seen
    uid          TEXT PRIMARY KEY,
    platform     TEXT NOT NULL,
    id           TEXT NOT NULL,
    deleted_at   TEXT NOT NULL,
    retrieved_at TEXT NOT NULL,
    source       TEXT NOT NULL,
    sha256       TEXT,
    raw          BLOB NOT NULL
);
