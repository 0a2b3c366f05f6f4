"""Kafka client errors as the shared taxonomy."""

from __future__ import annotations

from confluent_kafka import KafkaError

from weir.errors import BrokerUnavailableError, PayloadTooLargeError, SendFailedError, WeirError

_UNAVAILABLE = {
    KafkaError._MSG_TIMED_OUT,
    KafkaError._TIMED_OUT,
    KafkaError._TRANSPORT,
    KafkaError._ALL_BROKERS_DOWN,
    KafkaError._TIMED_OUT_QUEUE,
    KafkaError.REQUEST_TIMED_OUT,
    KafkaError.NOT_ENOUGH_REPLICAS,
    KafkaError.NOT_ENOUGH_REPLICAS_AFTER_APPEND,
    KafkaError.LEADER_NOT_AVAILABLE,
    KafkaError.NOT_LEADER_FOR_PARTITION,
    KafkaError.UNKNOWN_TOPIC_OR_PART,
}
_TOO_LARGE = {KafkaError.MSG_SIZE_TOO_LARGE, KafkaError.INVALID_MSG_SIZE}


def kafka_error(error: KafkaError, what: str) -> WeirError:
    detail = {"kafka_error": error.name(), "kafka_code": error.code()}
    message = f"{what}: {error.str()}"
    if error.code() in _TOO_LARGE:
        return PayloadTooLargeError(message, detail=detail)
    if error.code() in _UNAVAILABLE or error.retriable():
        return BrokerUnavailableError(message, detail=detail)
    return SendFailedError(message, detail=detail)
