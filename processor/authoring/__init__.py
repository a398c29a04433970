"""Rule authoring without Kafka: ``kbridge route`` (one event through kbridge.yaml) and
``kbridge test`` (YAML test files of events and expectations).

Both run the router's own pure core (:mod:`processor.router.core`) and the sinks' own
rendering code offline, so what they show is what the pipeline would send.
"""
