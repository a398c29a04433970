"""The running system's status read from Kafka: groups, lag, dead letters (``kbridge status``)."""
