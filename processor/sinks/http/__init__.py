"""The one HTTP delivery stack of every HTTP sink: webhook, HTTP function and the IM robots.

``client`` (pooled, redirect-free clients over ``ssrf``'s guarded transport: every new
connection goes to an address the SSRF guard vetted), ``status`` (the one status table and
``Retry-After`` parser: HTTP outcome -> delivered, retriable, backpressure or fatal),
``ratelimit`` (the one per-destination limiter, on :mod:`processor.clock`), ``auth``
(connections: basic, API key, OAuth client credentials), ``signing``
(``X-Kbridge-Signature``), ``binding`` (CloudEvents HTTP binding) and ``redact`` (what of a
URL may be logged). Each module does one job; the IM sinks (:mod:`processor.sinks.im`) are
chat-format adapters on the same pieces.
"""
