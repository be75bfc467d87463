"""Defaults of the webhook receiver (customerio-formats.md §1.1-1.2)."""

# The signing key shown on Customer.io's Reporting Webhooks page.
SIGNING_KEY_ENV = "CUSTOMERIO_WEBHOOK_SIGNING_KEY"

# Test-only: when set to N (>= 1), the server exits (os._exit) right after the batch holding its
# N-th accepted body is fsynced and before any answer for that batch is sent. It simulates a
# crash between the write and the 200; tests/python/test_receiver.py uses it. Read by the server only.
TEST_EXIT_AFTER_COMMIT_ENV = "MSGMETRICS_RECEIVER_TEST_EXIT_AFTER_COMMIT"
TEST_EXIT_CODE = 70

TIMESTAMP_HEADER = "X-CIO-Timestamp"
SIGNATURE_HEADER = "X-CIO-Signature"

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
# n8n's choice (customerio-formats §1.2); Customer.io documents none. Applies both ways (clock skew).
DEFAULT_REPLAY_WINDOW_S = 300
# The loader reads lines of up to 16 MiB (customerio_webhooks/helpers.py max_line_size).
DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
DEFAULT_ROTATE_BYTES = 64 * 1024 * 1024
DEFAULT_ROTATE_SECONDS = 300
# Customer.io gives up after 4 s; a body not durable by then gets a 503 (not in Customer.io's
# list of codes that delay the retry by an hour) instead of a timeout.
DEFAULT_ANSWER_TIMEOUT_S = 3.0
# Graceful shutdown: open connections get this long to finish (answers say "Connection: close"),
# then requests still in flight get this long (no handler takes more than the answer timeout).
DEFAULT_DRAIN_S = 1.0
DEFAULT_SHUTDOWN_TIMEOUT_S = DEFAULT_ANSWER_TIMEOUT_S + 1.0

HEALTH_PATH = "/healthz"

# sys.setswitchinterval for the receiver process (Python's default is 5 ms); see server.run.
GIL_SWITCH_INTERVAL_S = 0.001

FILE_PREFIX = "webhooks-"
FINISHED_SUFFIX = ".jsonl"
ACTIVE_SUFFIX = ".open"
LOCK_NAME = ".msgmetrics-receiver.lock"
