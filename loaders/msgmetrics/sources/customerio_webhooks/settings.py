"""What the Customer.io reporting-webhook spec says (customerio-formats.md §1.3-1.5)."""

# Envelope fields every event must carry; a line without them is quarantined.
REQUIRED_FIELDS = ("event_id", "object_type", "metric", "timestamp")

# object_type -> metrics listed in the official Reporting Webhooks spec (§1.5).
# Anything else is kept and flagged (`is_known_event = false`): Customer.io adds
# metrics and object types without notice.
KNOWN_METRICS: dict[str, tuple[str, ...]] = {
    "customer": ("subscribed", "unsubscribed", "cio_subscription_preferences_changed"),
    "email": (
        "drafted", "attempted", "sent", "delivered", "opened", "clicked", "converted",
        "unsubscribed", "bounced", "dropped", "spammed", "failed", "undeliverable",
    ),
    "push": (
        "drafted", "attempted", "sent", "delivered", "opened", "clicked", "converted",
        "bounced", "dropped", "failed", "undeliverable",
    ),
    "sms": (
        "drafted", "attempted", "sent", "delivered", "clicked", "converted", "bounced",
        "failed", "undeliverable", "replied",
    ),
    "whatsapp": (
        "drafted", "attempted", "sent", "delivered", "opened", "clicked", "converted",
        "bounced", "dropped", "failed", "undeliverable", "replied",
    ),
    "in_app": ("drafted", "attempted", "sent", "opened", "clicked", "converted", "failed", "undeliverable"),
    "slack": ("drafted", "attempted", "sent", "clicked", "failed", "undeliverable"),
    "webhook": ("drafted", "attempted", "sent", "clicked", "failed", "undeliverable"),
}

# Files picked up when a folder or bucket is given (DuckDB reads .gz transparently).
DEFAULT_FILE_GLOB = "**/*.jsonl*"

EVENTS_TABLE = "webhook_events"
QUARANTINE_TABLE = "webhook_events_quarantine"
