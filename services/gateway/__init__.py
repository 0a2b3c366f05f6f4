"""HTTP gateway: event ingest, webhooks and the run API (see issue: typed events)."""
