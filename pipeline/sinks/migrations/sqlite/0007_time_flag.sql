-- Why a post's created_at was not believed ("future", "before-platform"): the post was
-- placed in event time by when it was retrieved instead. NULL: created_at was used.
ALTER TABLE posts ADD COLUMN time_flag TEXT;
