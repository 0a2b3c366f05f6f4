"""The example app `make dev` serves: a shop with a few durable functions."""
