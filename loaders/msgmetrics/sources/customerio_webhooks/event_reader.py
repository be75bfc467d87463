"""Read groups of webhook files into Arrow, keeping the first copy of each event.

`EventReader` owns one scratch DuckDB (in memory, spilling to a temporary folder past
its memory limit) for a whole load. For each group of files it

1. scans the lines once (`helpers.scan_sql`) into a narrow table: line key, event id,
   quarantine reason, and the raw text of bad lines only;
2. keeps, per event id, the first good line (file order, then line order) unless an
   earlier group of this load kept that id, or the destination already stores it
   (asked through `stored_ids`, when given);
3. streams the kept lines, parsed once more for `timestamp` and `data`, as Arrow
   record batches (`events`), and the bad lines verbatim (`quarantined`).

So a retried webhook in the same file, in another file of the load, or in an earlier
load is stored once, memory is bounded by one group plus the ids this load kept, and
nothing per row happens in Python.
"""

from __future__ import annotations

import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import duckdb
import pyarrow as pa

from .helpers import LINE_KEY_BITS, read_sql, scan_sql

# Ids -> those of them the destination already stores (both one-column tables `event_id`).
StoredIds = Callable[[pa.Table], pa.Table]

LINE_MASK = (1 << LINE_KEY_BITS) - 1
# Record batches DuckDB may compute ahead while dlt writes the previous ones (both
# release the GIL, so on two cores they overlap).
PREFETCH_BATCHES = 2


@dataclass
class FileCounts:
    """What one file held."""

    events: int = 0  # good lines (before dedup)
    unknown: int = 0  # good lines with an object_type/metric pair outside the spec
    kept: int = 0  # events this load adds
    quarantined: int = 0
    reasons: dict[str, int] = field(default_factory=dict)


class EventReader:
    """A scratch DuckDB for one load: reads groups of files, remembers the ids kept."""

    def __init__(self, loaded_at: str, stored_ids: StoredIds | None = None, memory_limit: str = "1GB"):
        self.loaded_at = loaded_at
        self.stored_ids = stored_ids
        self._spill = tempfile.mkdtemp(prefix="msgmetrics-webhooks-")
        self.con = duckdb.connect(config={"memory_limit": memory_limit, "temp_directory": self._spill})
        self.con.execute("set enable_progress_bar = false")
        # No query of this connection relies on the order rows are stored or streamed in (the
        # line numbers come from a streaming window, which DuckDB keeps in file order whatever
        # this says; see helpers._READ_LINES): ~40 % off the scan, ~1.3 s of a 1M-event load.
        self.con.execute("set preserve_insertion_order = false")
        self.con.execute("create table seen (event_id varchar)")
        self._urls: list[str] = []

    def close(self) -> None:
        try:
            self.con.close()
        finally:
            shutil.rmtree(self._spill, ignore_errors=True)

    def __enter__(self) -> "EventReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------ one group
    def scan(self, local_paths: list[Path], urls: list[str]) -> list[FileCounts]:
        """Scan a group of files and decide which lines are kept; returns counts per file."""
        self._paths, self._urls = [str(p) for p in local_paths], list(urls)
        self.con.execute(f"create or replace table scan as {scan_sql(len(local_paths))}", self._file_params())
        # first good copy of each id in the group, unless an earlier group kept it
        self.con.execute("""
            create or replace table kept as
            with firsts as (
                select event_id, min(line_key) as line_key from scan where reason is null group by event_id
            )
            select * from firsts f where not exists (select 1 from seen s where s.event_id = f.event_id)
        """)
        if self.stored_ids is not None:
            ids = self.con.sql("select event_id from kept").to_arrow_table()
            if ids.num_rows:
                stored = self.stored_ids(ids)
                if stored.num_rows:
                    self.con.register("stored_batch", stored)
                    self.con.execute("delete from kept where event_id in (select event_id from stored_batch)")
                    self.con.unregister("stored_batch")
        self.con.execute("insert into seen select event_id from kept")
        return self._counts(len(local_paths))

    def _file_params(self) -> dict:
        return {f"file_{i}": p for i, p in enumerate(self._paths)}

    def _counts(self, file_count: int) -> list[FileCounts]:
        counts = [FileCounts() for _ in range(file_count)]
        for index, reason, lines, unknown in self.con.execute(f"""
            select line_key >> {LINE_KEY_BITS}, reason, count(*), count(*) filter (where not is_known_event)
            from scan group by all
        """).fetchall():
            if reason is None:
                counts[index].events, counts[index].unknown = lines, unknown
            else:
                counts[index].quarantined += lines
                counts[index].reasons[reason] = lines
        for index, kept in self.con.execute(
                f"select line_key >> {LINE_KEY_BITS}, count(*) from kept group by all").fetchall():
            counts[index].kept = kept
        return counts

    def events(self, batch_rows: int = 100_000) -> Iterator[pa.RecordBatch]:
        """The kept events of the scanned group as Arrow record batches (streamed)."""
        params = {**self._file_params(), **{f"url_{i}": u for i, u in enumerate(self._urls)},
                  "loaded_at": self.loaded_at}
        # DuckDB cannot estimate how many lines read_csv gives and would build the join's
        # hash table on the lines (the whole group in memory): keep it on `kept`
        self.con.execute("set disabled_optimizers = 'build_side_probe_side'")
        try:
            reader = self.con.sql(read_sql(len(self._paths), "kept"), params=params).to_arrow_reader(batch_rows)
            try:
                yield from _prefetched(reader, PREFETCH_BATCHES)
            finally:
                reader.close()
        finally:
            self.con.execute("reset disabled_optimizers")

    def quarantined(self) -> pa.Table:
        """The scanned group's bad lines, verbatim, with file, line number and reason."""
        urls = " ".join(f"when {i} then $url_{i}" for i in range(len(self._urls)))
        return self.con.sql(f"""
            with bad as (
                select case line_key >> {LINE_KEY_BITS} {urls} end as source_file,
                       line_key & {LINE_MASK} as line_number, raw_line, reason
                from scan where reason is not null
            )
            select md5(source_file || ':' || line_number || ':' || raw_line) as quarantine_id,
                   source_file, line_number, raw_line, reason, $loaded_at::timestamptz as quarantined_at
            from bad order by source_file, line_number
        """, params={**{f"url_{i}": u for i, u in enumerate(self._urls)}, "loaded_at": self.loaded_at}
        ).to_arrow_table()


def _prefetched(reader: pa.RecordBatchReader, depth: int) -> Iterator[pa.RecordBatch]:
    """The reader's non-empty batches, read `depth` ahead in a thread."""
    batches: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()
    done = object()

    def produce() -> None:
        try:
            for batch in reader:
                while not stop.is_set():
                    try:
                        batches.put(batch, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            item = done
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            item = exc
        while not stop.is_set():
            try:
                batches.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    thread = threading.Thread(target=produce, name="webhook-batches", daemon=True)
    thread.start()
    try:
        while True:
            item = batches.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            if item.num_rows:
                yield item
    finally:
        stop.set()
        thread.join()
