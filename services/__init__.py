"""What operators run: the local broker, the registry, the gateway, the router and the worker.

Each subpackage owns one service and says in its docstring what it owns.
"""
