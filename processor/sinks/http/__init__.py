"""The one HTTP delivery stack of every HTTP sink: webhook, HTTP function and the IM robots.

``wire`` (the webhook and HTTP function path: a lean pooled HTTP/1.1 client whose every new
connection goes to an address the SSRF guard vetted), ``client`` (pooled, redirect-free
httpx clients over ``ssrf``'s guarded transport, for the IM robots and OAuth token fetches),
``status`` (the one status table and ``Retry-After`` parser: HTTP outcome -> delivered,
retriable, backpressure or fatal),
``ratelimit`` (the one per-destination limiter, on :mod:`processor.clock`), ``auth``
(connections: basic, API key, OAuth client credentials), ``signing``
(``X-Kbridge-Signature``), ``binding`` (CloudEvents HTTP binding) and ``redact`` (what of a
URL may be logged). Each module does one job; the IM sinks (:mod:`processor.sinks.im`) are
chat-format adapters on the same pieces.
"""
