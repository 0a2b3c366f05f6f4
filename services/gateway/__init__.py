"""HTTP gateway: event ingest (``POST /e/{key}``) and webhooks (``POST /webhooks/{source}``).

One job per module: ``app`` (routes), ``body`` (size-limited reading),
``envelope`` (body -> events), ``keys`` (event keys), ``ingest`` (validate
all, then write all), ``encoder`` (the SDK's schema catalog and Avro encoder),
``producer`` (Kafka: acknowledged, atomic arrays), ``problems``
(problem+json), ``openapi``, ``timing`` (Server-Timing), ``webhooks/``
(mapping templates, signatures, sources), ``server`` (settings -> uvicorn),
``testing`` (a real gateway for tests). See docs/gateway.md.
"""
