"""What the Customer.io App API says (customerio-formats.md §2) and our defaults."""

from __future__ import annotations

# §2.1: the two data centers differ only by subdomain; a key only works in its own.
REGION_URLS: dict[str, str] = {"us": "https://api.customer.io", "eu": "https://api-eu.customer.io"}
DEFAULT_REGION = "us"

# §2.2: most App API endpoints allow 10 requests per second (429 + Retry-After above that).
MAX_REQUESTS_PER_S = 10
# The client spaces its request starts 1.075 s / 10 = 107.5 ms apart: 11 starts span 1.075 s,
# so up to 75 ms of jitter between the client and the server's clock cannot put 11 in one
# server-side second (measured: 50 ms was not enough on a loaded machine). At most 9.3/s.
RATE_WINDOW_S = 1.075

# §2.3 / §2.4: /v1/messages pages with `start` = the previous answer's `next`, at most 1000
# rows per page, and serves at most 6 months per request (start_ts/end_ts on `created`).
MESSAGES_PATH = "/v1/messages"
MESSAGES_PAGE_LIMIT = 1000
# 180 days is shorter than any 6 calendar months (181-184 days), so no window is ever refused.
MAX_WINDOW_DAYS = 180
# The read range is cut into at least this many windows, paged side by side by as many
# threads (sharing the limiter): while one waits for an answer, another uses the budget.
DEFAULT_FETCH_THREADS = 3
# A first run without --since reads this far back (what /v1/messages serves without ts).
DEFAULT_BACKFILL_DAYS = 180
# Opens and clicks land on old deliveries: every run re-reads deliveries created this many
# days before the end of the previous run (merged on id, so nothing duplicates).
DEFAULT_REREAD_DAYS = 7

# §2.5: per-delivery metric timestamps (only metrics reached are present).
METRIC_KEYS: tuple[str, ...] = (
    "created", "drafted", "sent", "delivered", "opened", "clicked", "converted", "bounced",
    "spammed", "unsubscribed", "dropped", "failed", "undeliverable",
    "human_opened", "prefetch_opened", "human_clicked", "prefetch_clicked",
)
# §2.5 message fields we keep as columns; anything else lands in `extra_fields` (JSON text).
# `transactional_message_id` is not in the spec's message object: read when present [I].
MESSAGE_ID_FIELDS: tuple[str, ...] = (
    "campaign_id", "action_id", "parent_action_id", "newsletter_id", "content_id", "broadcast_id",
    "transactional_message_id", "trigger_event_id", "msg_template_id", "message_template_id",
)
MESSAGE_TEXT_FIELDS: tuple[str, ...] = ("deduplicate_id", "type", "recipient", "subject", "failure_message")

# Metadata endpoints: (resource, path, response key). Children are fetched per parent id.
CAMPAIGNS = ("campaigns", "/v1/campaigns", "campaigns")
CAMPAIGN_ACTIONS = ("campaign_actions", "/v1/campaigns/{id}/actions", "actions")
NEWSLETTERS = ("newsletters", "/v1/newsletters", "newsletters")
NEWSLETTER_CONTENTS = ("newsletter_contents", "/v1/newsletters/{id}/contents", "contents")
BROADCASTS = ("broadcasts", "/v1/broadcasts", "broadcasts")
BROADCAST_ACTIONS = ("broadcast_actions", "/v1/broadcasts/{id}/actions", "actions")
# The generated clients of the official spec read `messages`; ingestr reads `transactional`.
TRANSACTIONAL = ("transactional_messages", "/v1/transactional", ("messages", "transactional"))
ACTIVITIES = ("activities", "/v1/activities", "activities")
NEWSLETTERS_PAGE_LIMIT = 100
ACTIVITIES_PAGE_LIMIT = 100

MESSAGE_RESOURCES = ("messages",)
METADATA_RESOURCES = (
    "campaigns", "campaign_actions", "newsletters", "newsletter_contents", "broadcasts",
    "broadcast_actions", "transactional_messages",
)
OPTIONAL_RESOURCES = ("activities",)  # history only guaranteed for 30 days (§5.5)
ALL_RESOURCES = MESSAGE_RESOURCES + METADATA_RESOURCES + OPTIONAL_RESOURCES
DEFAULT_RESOURCES = MESSAGE_RESOURCES + METADATA_RESOURCES

MESSAGES_TABLE = "messages"
MESSAGES_QUARANTINE_TABLE = "messages_quarantine"
METADATA_QUARANTINE_TABLE = "metadata_quarantine"

# Messages are handed to dlt in Arrow tables of at least this many rows (fewer, bigger files).
BATCH_ROWS = 50_000
