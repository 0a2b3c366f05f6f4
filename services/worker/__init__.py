"""The worker: stateless executor calling the user's app over signed HTTP."""
