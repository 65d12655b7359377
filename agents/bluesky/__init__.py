"""Bluesky: Jetstream live, searchPosts backfill, and the post record mapping."""
