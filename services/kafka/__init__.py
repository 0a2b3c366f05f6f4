"""The local development broker (Apache Kafka, KRaft, one node, no Docker)."""

from services.kafka.broker import BrokerStatus, LocalBroker, answers_metadata

__all__ = ["BrokerStatus", "LocalBroker", "answers_metadata"]
