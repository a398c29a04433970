"""Engines driving the routing core: ``faust`` (default) and ``native`` (confluent-kafka)."""

BUS_TOPIC_PATTERN = r"^kbridge\.bus\.[A-Za-z0-9_-]+$"
"""Every bus ingress topic (and no dead-letter topic): new buses are picked up live."""
