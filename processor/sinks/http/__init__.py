"""HTTP delivery building blocks shared by the webhook and function sinks.

``ssrf`` (refuse private destinations), ``auth`` (connections), ``ratelimit`` (per
destination), ``signing`` (``X-Kbridge-Signature``), ``binding`` (CloudEvents HTTP binding)
and ``status`` (HTTP outcome -> retriable or not). Each module does one job, so IM sinks
can reuse the pieces they need.
"""
