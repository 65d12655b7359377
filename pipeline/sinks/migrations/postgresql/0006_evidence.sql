-- Evidence: each record names the run that collected it (collections.id) and the SHA-256 of
-- the exact bytes it was made from, and those bytes are kept. From this version on
-- posts.raw_bytes always holds the payload byte for byte (jsonb's raw is the query view: its
-- spacing and key order are jsonb's own); rows written before keep raw_bytes NULL unless raw
-- had to be cleaned, and have no sha256.
ALTER TABLE posts ADD COLUMN sha256 text;          -- hex SHA-256 of raw_bytes
ALTER TABLE posts ADD COLUMN collection text;      -- the run (collections.id) that collected it
ALTER TABLE posts ADD COLUMN context jsonb;        -- what the payload is read with (X page items)
ALTER TABLE post_versions ADD COLUMN collection text;
ALTER TABLE post_versions ADD COLUMN context jsonb;
ALTER TABLE deletions ADD COLUMN collection text;
