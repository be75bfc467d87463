"""`msgmetrics serve-webhooks`: a receiver for Customer.io reporting webhooks.

Modules, one job each:

* :mod:`.settings`  defaults, header and environment variable names
* :mod:`.signature` ``X-CIO-Signature`` / ``X-CIO-Timestamp`` check (HMAC-SHA256, replay window)
* :mod:`.body`      a request body -> one JSONL line (or a reason to answer 400)
* :mod:`.writer`    durable, group-committed, rotating JSONL files (``*.open`` while written)
* :mod:`.server`    the aiohttp application, health endpoint and graceful shutdown

Finished files are named ``webhooks-<UTC time>.jsonl`` and match the loader's ``**/*.jsonl*``
glob; the file being written is ``webhooks-<UTC time>.open`` and does not, so
``msgmetrics load webhooks DIR`` only ever reads finished files.
"""
