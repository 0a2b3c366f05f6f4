"""Schema registry speaking the Confluent Schema Registry REST API (see issue: typed events)."""
