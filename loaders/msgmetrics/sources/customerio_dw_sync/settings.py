"""What Customer.io's Data Warehouse Sync writes (customerio-formats.md §3).

The column lists come from public user DDL, not from official docs (§3.3), so they are
read leniently: a known column a file lacks is loaded as null, a column we do not know
is kept as it is, and known columns get one type whatever the file used (ids as text,
times as UTC timestamps, flags as booleans), so a table's schema does not drift between
files.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# `<type>_v<schema version>_<workspace id>_<sequence>.parquet`, e.g.
# `attributes_v4_111528_241600000000311123.parquet` (§3.2; the pattern is an inference).
FILE_NAME = re.compile(
    r"^(?P<type>[a-z][a-z_]*?)_v(?P<version>\d+)_(?P<workspace>\d+)_(?P<seq>\d+)\.parquet$", re.IGNORECASE
)
FILE_NAME_HELP = "<type>_v<version>_<workspace id>_<sequence>.parquet"

# Files picked up when a folder or bucket is given.
DEFAULT_FILE_GLOB = "**/*.parquet"

# Column kinds and the SQL type each becomes.
TEXT, BIGINT, BOOL, TIMESTAMP = "text", "bigint", "bool", "timestamp"


@dataclass(frozen=True)
class FileType:
    """One kind of export file and the raw table it lands in."""

    table: str
    key: str  # the row's identity: dlt merges on it, the highest version wins
    required: tuple[str, ...]  # a file without these columns cannot be loaded
    columns: dict[str, str]  # known column -> kind
    # derived key: (column name, the columns it is made of); for change logs without an id
    derived_key: tuple[str, tuple[str, ...]] | None = None


_DELIVERIES = {
    "workspace_id": TEXT, "delivery_id": TEXT, "internal_customer_id": TEXT, "subject_id": TEXT,
    "event_id": TEXT, "delivery_type": TEXT, "campaign_id": TEXT, "action_id": TEXT, "newsletter_id": TEXT,
    "content_id": TEXT, "trigger_id": TEXT, "created_at": TIMESTAMP, "transactional_message_id": TEXT,
    "seq_num": BIGINT,
}
_METRICS = {
    "event_id": TEXT, "workspace_id": TEXT, "delivery_id": TEXT, "metric": TEXT, "reason": TEXT,
    "link_id": TEXT, "link_url": TEXT, "created_at": TIMESTAMP, "seq_num": BIGINT,
    # newer files only
    "proxied": BOOL, "prefetched": BOOL, "machine": BOOL, "user_agent": TEXT, "email_client": TEXT,
    "inbox_domain": TEXT, "inbox_provider": TEXT, "mx_host": TEXT,
}
_PEOPLE = {
    "workspace_id": TEXT, "customer_id": TEXT, "internal_customer_id": TEXT, "deleted": BOOL,
    "suppressed": BOOL, "created_at": TIMESTAMP, "updated_at": TIMESTAMP, "email_addr": TEXT,
    "seq_num": BIGINT,  # not in the public DDL; used when present
}
_SUBJECTS = {
    "workspace_id": TEXT, "subject_name": TEXT, "internal_customer_id": TEXT, "campaign_type": TEXT,
    "campaign_id": TEXT, "event_id": TEXT, "trigger_id": TEXT, "started_campaign_at": TIMESTAMP,
    "created_at": TIMESTAMP, "seq_num": BIGINT,
}
_OUTPUTS = {
    "workspace_id": TEXT, "output_id": TEXT, "subject_name": TEXT, "output_type": TEXT, "action_id": TEXT,
    "explanation": TEXT, "delivery_id": TEXT, "draft": BOOL, "link_tracked": BOOL, "split_test_index": BIGINT,
    "branch_index": BIGINT, "delay_ends_at": TIMESTAMP, "manual_segment_id": TEXT,
    "add_to_manual_segment": BOOL, "created_at": TIMESTAMP, "seq_num": BIGINT,
}
_DELIVERY_CONTENTS = {
    "workspace_id": TEXT, "delivery_id": TEXT, "campaign_id": TEXT, "action_id": TEXT, "newsletter_id": TEXT,
    "content_id": TEXT, "from": TEXT, "reply_to": TEXT, "bcc": TEXT, "recipient": TEXT, "subject": TEXT,
    "body": TEXT, "body_amp": TEXT, "body_plain": TEXT, "preheader": TEXT, "url": TEXT, "method": TEXT,
    "headers": TEXT, "type": TEXT, "seq_num": BIGINT,
}
_ATTRIBUTES = {
    "workspace_id": TEXT, "internal_customer_id": TEXT, "attribute_name": TEXT, "attribute_value": TEXT,
    "timestamp": TIMESTAMP, "seq_num": BIGINT,
}

FILE_TYPES: dict[str, FileType] = {
    "deliveries": FileType("deliveries", "delivery_id", ("delivery_id",), _DELIVERIES),
    "metrics": FileType("metrics", "event_id", ("event_id", "delivery_id", "metric"), _METRICS),
    "people": FileType("people", "internal_customer_id", ("internal_customer_id",), _PEOPLE),
    "subjects": FileType("subjects", "subject_name", ("subject_name",), _SUBJECTS),
    "outputs": FileType("outputs", "output_id", ("output_id",), _OUTPUTS),
    # optional: loaded when present, not modelled yet
    "delivery_contents": FileType("delivery_contents", "delivery_id", ("delivery_id",), _DELIVERY_CONTENTS),
    "attributes": FileType(
        "attributes", "attribute_change_id", ("internal_customer_id", "attribute_name"), _ATTRIBUTES,
        derived_key=("attribute_change_id", ("internal_customer_id", "attribute_name", "timestamp")),
    ),
}
# Other spellings seen for the same file types (singular names, the content file).
TYPE_ALIASES = {
    "delivery": "deliveries", "metric": "metrics", "person": "people", "subject": "subjects",
    "output": "outputs", "content": "delivery_contents", "contents": "delivery_contents",
    "delivery_content": "delivery_contents", "attribute": "attributes",
}

# Columns msgmetrics adds to every row.
LINEAGE_COLUMNS = {
    "_version": "bigint",  # seq_num, or the file's sequence number when the row has none
    "_source_seq": "bigint",  # the sequence number in the file name
    "_source_file": "text",
    "_row_number": "bigint",  # row of that file (1-based)
    "_loaded_at": "timestamp",  # with time zone
}

QUARANTINE_TABLE = "dw_sync_quarantine"

# Rows of one table handed to dlt at once (each yielded table costs dlt a file).
BATCH_ROWS = 250_000
# Keys looked up per destination query when an older version may have arrived late.
LOOKUP_CHUNK = 5_000
