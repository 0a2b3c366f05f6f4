"""The worker: stateless executor calling the user's app over signed HTTP (docs/worker.md).

It owns the path from a task record to its outcome record: consuming every
function's task topic (``consumer``), one call and its retries per task
(``attempts``, ``calls`` over ``http_pool``), which app URLs may be called (``url_policy``),
writing outcomes and history (``reporter``) and committing offsets only up to
the oldest unfinished task (``offsets``). ``worker`` ties them together;
``python -m services.worker`` runs one.
"""
