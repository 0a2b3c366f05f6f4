"""Webhooks: turn a third party's signed JSON request into a Weir event.

``template`` is the small language that builds event names (and ids) from a
request; ``signatures`` verifies GitHub- and Stripe-style HMAC signatures;
``sources`` reads the ``webhooks`` setting into checked source definitions.
"""
