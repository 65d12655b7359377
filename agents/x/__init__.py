"""X (Twitter) API v2: the filtered stream, recent search, rules and the payload mapping."""
