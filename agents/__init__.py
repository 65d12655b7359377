"""Collector agents: they read a platform (or a file, or a generator) and publish Post v1."""
