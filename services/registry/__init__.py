"""Weir's schema registry: Confluent Schema Registry's REST API over a compacted Kafka topic.

Modules: :mod:`.app` (HTTP, ``create_app``), :mod:`.routing` (raw-path routing so a
subject may hold an encoded '/'), :mod:`.registry` (the operations and their
Confluent semantics), :mod:`.state` (the state in memory, rebuilt from the log),
:mod:`.store` (the Kafka topic: reader thread and acknowledged writes),
:mod:`.records` (the records' key/value layout), :mod:`.schemas` (Avro parsing and
normal form), :mod:`.compatibility` (levels over Avro's checker), :mod:`.errors`
(Confluent's error codes) and :mod:`.testing` (servers for tests). Run it with
``python -m services.registry``; docs/registry.md has the details.
"""
