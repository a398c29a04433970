"""kbridge: a Kafka-native event bridge.

The import package is ``processor``; the distribution and the CLI are ``kbridge``.
"""

__version__ = "0.1.0"
