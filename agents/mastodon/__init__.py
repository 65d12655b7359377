"""Mastodon: hashtag streams on each instance, caught up through the tag timeline.

``content`` (HTML to text), ``payload`` (Status to Post v1), ``archive`` (API pages and stream
captures in ``hashwatch run``), ``known`` (local status ids to uris), ``sse`` (the event-stream
parser), ``api`` (the REST calls), ``stream`` (the live collector).
"""
