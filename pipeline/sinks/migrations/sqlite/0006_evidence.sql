-- Evidence: each record names the run that collected it (collections.id) and the SHA-256 of
-- the exact bytes it was made from, and those bytes are kept. posts.raw (TEXT) holds them when
-- they are valid UTF-8, which SQLite stores unchanged; otherwise raw holds them decoded with
-- U+FFFD and raw_bytes holds the bytes. So a post's exact bytes are raw_bytes, else raw.
ALTER TABLE posts ADD COLUMN sha256 TEXT;          -- hex SHA-256 of the exact bytes
ALTER TABLE posts ADD COLUMN collection TEXT;      -- the run (collections.id) that collected it
ALTER TABLE posts ADD COLUMN context TEXT;         -- JSON the payload is read with (X page items)
ALTER TABLE posts ADD COLUMN raw_bytes BLOB;       -- the bytes, when raw cannot be them
ALTER TABLE post_versions ADD COLUMN collection TEXT;
ALTER TABLE post_versions ADD COLUMN context TEXT;
ALTER TABLE deletions ADD COLUMN collection TEXT;
