"""What the router, the worker and the gateway share: topic names and Kafka records."""
