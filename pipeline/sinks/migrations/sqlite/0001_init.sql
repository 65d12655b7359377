-- hashwatch store, version 1. The tables are a public contract: see README.md "The store".
CREATE TABLE posts (
    uid                TEXT PRIMARY KEY,      -- "<platform>:<id>"
    platform           TEXT NOT NULL,
    id                 TEXT NOT NULL,
    url                TEXT,
    author_id          TEXT NOT NULL,
    author_handle      TEXT,
    author_name        TEXT,
    created_at         TEXT NOT NULL,         -- ISO 8601, UTC
    text               TEXT NOT NULL,         -- for a repost, the original's full text
    lang               TEXT NOT NULL,         -- detected (or inherited) language, "und" if unknown
    lang_confidence    REAL NOT NULL,
    lang_backend       TEXT NOT NULL,
    platform_lang      TEXT,
    repost_of          TEXT,                  -- uid of the original when this is a retweet
    quote_of           TEXT,
    reply_to           TEXT,
    amplification      INTEGER NOT NULL DEFAULT 0,
    possibly_sensitive INTEGER NOT NULL DEFAULT 0,
    cluster_id         TEXT,
    cluster_size       INTEGER,
    media_count        INTEGER NOT NULL DEFAULT 0,
    has_video          INTEGER NOT NULL DEFAULT 0,
    video_duration_ms  INTEGER NOT NULL DEFAULT 0,
    media_reused       INTEGER NOT NULL DEFAULT 0,
    collector          TEXT NOT NULL,
    retrieved_at       TEXT NOT NULL,
    source             TEXT NOT NULL,
    processed_at       TEXT NOT NULL,
    raw                TEXT NOT NULL          -- the platform payload as it arrived
);
CREATE INDEX posts_created_at ON posts (created_at);
CREATE INDEX posts_lang ON posts (lang);
CREATE INDEX posts_repost_of ON posts (repost_of);

CREATE TABLE media (
    uid         TEXT NOT NULL REFERENCES posts (uid),
    media_key   TEXT NOT NULL,
    type        TEXT NOT NULL,                -- photo, video, animated_gif, audio, unknown
    url         TEXT,
    preview_url TEXT,
    duration_ms INTEGER,
    width       INTEGER,
    height      INTEGER,
    alt_text    TEXT,
    variants    TEXT NOT NULL DEFAULT '[]',   -- JSON list of {url, content_type, bit_rate}
    PRIMARY KEY (uid, media_key)
);
CREATE INDEX media_key ON media (media_key);

CREATE TABLE hashtags (
    uid        TEXT NOT NULL REFERENCES posts (uid),
    tag        TEXT NOT NULL,                 -- as written
    normalized TEXT NOT NULL,                 -- the campaign-wide key
    PRIMARY KEY (uid, normalized)
);
CREATE INDEX hashtags_normalized ON hashtags (normalized);
