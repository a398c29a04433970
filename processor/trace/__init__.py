"""Event tracing: where did event X go?

Each stage (gateway or source, router, sink worker) writes a small JSON record per event
it handles to ``kbridge.trace``, keyed by the event id (:mod:`.record`), through a
fire-and-forget writer that never waits on the hot path (:mod:`.writer`). ``kbridge
trace`` and ``GET /v1/events/<id>/trace`` read one partition of that topic from a time
offset to rebuild the event's timeline (:mod:`.lookup`). See docs/tracing.md.
"""
