-- hashwatch store, version 1, PostgreSQL. The same tables and columns as the SQLite store
-- (migrations/sqlite/0001_init.sql, documented in README.md "The store"), with native types:
-- timestamptz for times, boolean for flags, bigint for integers, jsonb for JSON payloads.
-- Keys and indexed text columns use COLLATE "C": byte order, like SQLite's BINARY, and the
-- cheapest comparisons for index upkeep. media and hashtags rows name their post by uid
-- without a foreign key, as in SQLite (which runs with foreign_keys=OFF); the store writes a
-- post and its rows in one transaction.
CREATE TABLE posts (
    uid                text COLLATE "C" PRIMARY KEY,  -- "<platform>:<id>"
    platform           text NOT NULL,
    id                 text NOT NULL,
    url                text,
    author_id          text NOT NULL,
    author_handle      text,
    author_name        text,
    created_at         timestamptz NOT NULL,
    text               text NOT NULL,         -- for a repost, the original's full text
    lang               text COLLATE "C" NOT NULL,  -- detected (or inherited) language, "und" if unknown
    lang_confidence    double precision NOT NULL,
    lang_backend       text NOT NULL,
    platform_lang      text,
    repost_of          text COLLATE "C",  -- uid of the original when this is a retweet
    quote_of           text,
    reply_to           text,
    amplification      bigint NOT NULL DEFAULT 0,
    possibly_sensitive boolean NOT NULL DEFAULT false,
    cluster_id         text,
    cluster_size       bigint,
    media_count        bigint NOT NULL DEFAULT 0,
    has_video          boolean NOT NULL DEFAULT false,
    video_duration_ms  bigint NOT NULL DEFAULT 0,
    media_reused       bigint NOT NULL DEFAULT 0,
    collector          text NOT NULL,
    retrieved_at       timestamptz NOT NULL,
    source             text NOT NULL,
    processed_at       timestamptz NOT NULL,
    -- The platform payload as it arrived, parsed. Text PostgreSQL cannot store (NUL, lone
    -- surrogates, invalid UTF-8) is cleaned out of every column; when that changed the payload,
    -- or it is not JSON at all (then raw is a JSON string of its cleaned text), raw_bytes
    -- keeps the original byte for byte. NULL means raw is the payload as received (as jsonb:
    -- the same content, with jsonb's spacing and key order).
    raw                jsonb NOT NULL,
    raw_bytes          bytea
) WITH (fillfactor = 90);  -- room for HOT updates: amplification changes with every repost
CREATE INDEX posts_created_at ON posts (created_at);
CREATE INDEX posts_lang ON posts (lang);
CREATE INDEX posts_repost_of ON posts (repost_of);

CREATE TABLE media (
    uid         text COLLATE "C" NOT NULL,    -- posts.uid (not enforced, as in SQLite)
    media_key   text COLLATE "C" NOT NULL,
    type        text NOT NULL,                -- photo, video, animated_gif, audio, unknown
    url         text,
    preview_url text,
    duration_ms bigint,
    width       bigint,
    height      bigint,
    alt_text    text,
    variants    jsonb NOT NULL DEFAULT '[]',  -- list of {url, content_type, bit_rate}
    PRIMARY KEY (uid, media_key)
);
CREATE INDEX media_key ON media (media_key);

CREATE TABLE hashtags (
    uid        text COLLATE "C" NOT NULL,     -- posts.uid (not enforced, as in SQLite)
    tag        text NOT NULL,                 -- as written
    normalized text COLLATE "C" NOT NULL,     -- the campaign-wide key
    PRIMARY KEY (uid, normalized)
);
CREATE INDEX hashtags_normalized ON hashtags (normalized);
