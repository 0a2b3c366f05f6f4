"""The router: the Faust state machine of every run (see issue: durable functions)."""
