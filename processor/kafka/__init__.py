"""Kafka clients: config model, acks=all producer, consumer factory, topics."""

from processor.kafka.admin import TopicSpec, ensure_topics
from processor.kafka.config import KafkaClientConfig
from processor.kafka.consumer import make_consumer
from processor.kafka.producer import Producer

__all__ = ["KafkaClientConfig", "Producer", "TopicSpec", "ensure_topics", "make_consumer"]
