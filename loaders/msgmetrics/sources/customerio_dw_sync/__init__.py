"""dlt source for Customer.io Data Warehouse Sync exports (Parquet files in a folder or bucket).

Customer.io writes Deliveries, Metrics, People, Subjects, Outputs (and optionally Content
and Attributes) files about every 15 minutes, each holding the rows that changed since the
previous export (customerio-formats.md §3). The file type comes from the file name
(`<type>_v<version>_<workspace>_<seq>.parquet`). Each file is read by DuckDB into an Arrow
table (typed leniently, see settings.py) and merged into its raw table on the table's key
(delete-insert), keeping the highest `seq_num`:

* within a file and within one load: one row per key, the highest version;
* across loads: a row is dropped when the warehouse already holds its key with the same
  or a higher version, so an older file that shows up late never overwrites a newer row.

Files that cannot be loaded (unknown type, unreadable, missing key columns) and rows
without a key go to the quarantine table with the reason. Which files were read is kept
in the resource state, stored with the data: only new or changed files are read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator
from urllib.parse import urlparse

import dlt
import pyarrow as pa
import pyarrow.compute as pc

from ..files import InputFile, list_input_files
from .helpers import (
    UNREADABLE, ExportReader, SkipFile, classify, drop_superseded, file_quarantine_row, latest_per_key,
)
from .settings import (
    BATCH_ROWS, DEFAULT_FILE_GLOB, FILE_TYPES, LOOKUP_CHUNK, QUARANTINE_TABLE, FileType,
)

log = logging.getLogger(__name__)


@dataclass
class DwSyncReadStats:
    """Counts filled in while the resource runs, for the CLI to report."""

    files_read: int = 0
    files_skipped: int = 0  # unchanged since their last load
    files_quarantined: int = 0
    rows_read: dict[str, int] = field(default_factory=dict)  # table -> rows kept from the files
    superseded: int = 0  # older versions dropped (same key, lower seq_num)
    rows_quarantined: int = 0
    quarantine_reasons: dict[str, int] = field(default_factory=dict)

    @property
    def quarantined(self) -> int:
        return self.files_quarantined + self.rows_quarantined

    def count_reason(self, reason: str, n: int = 1) -> None:
        self.quarantine_reasons[reason] = self.quarantine_reasons.get(reason, 0) + n


QUARANTINE_COLUMNS = {
    "quarantine_id": {"data_type": "text"},
    "source_file": {"data_type": "text"},
    "row_number": {"data_type": "bigint"},
    "reason": {"data_type": "text"},
    "raw_row": {"data_type": "text"},
    "quarantined_at": {"data_type": "timestamp"},
}


def _table_hints(spec: FileType):
    return dlt.mark.make_hints(
        table_name=spec.table,
        write_disposition={"disposition": "merge", "strategy": "delete-insert"},
        primary_key=spec.key,
        # within one load package dlt keeps the row with the highest _version per key
        columns={"_version": {"data_type": "bigint", "dedup_sort": "desc"}},
    )


@dlt.source(name="customerio_dw_sync", max_table_nesting=0)
def customerio_dw_sync(
    locations: list[str],
    file_glob: str = DEFAULT_FILE_GLOB,
    reread: bool = False,
    stats: DwSyncReadStats | None = None,
):
    """Data Warehouse Sync Parquet files at `locations` (paths or URLs, files or folders)."""
    return dw_sync_files(locations, file_glob, reread, stats or DwSyncReadStats())


def _order(files: list[InputFile]) -> list[tuple[InputFile, object]]:
    """(file, ExportFile or SkipFile) in export order: by sequence number, then name."""
    out = []
    for f in files:
        try:
            out.append((f, classify(f.url)))
        except SkipFile as exc:
            out.append((f, exc))
    return sorted(out, key=lambda p: (getattr(p[1], "seq", -1), p[0].url))


def _folder_prefixes(locations: list[str]) -> list[str]:
    """URL prefixes of the locations that are folders (files gone from them are forgotten)."""
    prefixes = []
    for location in locations:
        if "://" not in location:
            path = Path(location).expanduser().resolve()
            if path.is_dir():
                prefixes.append(path.as_uri().rstrip("/") + "/")
        elif "." not in Path(urlparse(location).path).name:
            prefixes.append(location.rstrip("/") + "/")
    return prefixes


class _Warehouse:
    """What the destination already holds: newest version per key, read through dlt's dataset."""

    def __init__(self):
        self._dataset = None
        self._max: dict[str, int | None] = {}

    def _table(self, name: str):
        if self._dataset is None:
            self._dataset = dlt.current.pipeline().dataset()
        try:
            return self._dataset.table(name)
        except ValueError:  # not loaded yet
            return None

    def max_version(self, name: str) -> int | None:
        if name not in self._max:
            table = self._table(name)
            self._max[name] = table.select("_version").max().fetchall()[0][0] if table is not None else None
        return self._max[name]

    def versions(self, name: str, key: str, keys: list) -> pa.Table:
        """(key, _version) of the given keys in the warehouse."""
        table = self._table(name)
        found = []
        for i in range(0, len(keys), LOOKUP_CHUNK):  # fetchall: dlt's .arrow() needs duckdb 1's API
            found += table.select(key, "_version").where(key, "in", keys[i:i + LOOKUP_CHUNK]).fetchall()
        return pa.table({key: pa.array([k for k, _ in found], pa.string()),
                         "_version": pa.array([v for _, v in found], pa.int64())})


@dlt.resource(name="dw_sync_files")
def dw_sync_files(locations: list[str], file_glob: str, reread: bool, stats: DwSyncReadStats) -> Iterator:
    files_done: dict[str, str] = dlt.current.resource_state().setdefault("files", {})
    listed = list_input_files(locations, file_glob)
    with ExportReader() as reader:
        yield from _Run(files_done, reread, stats, reader).items(_order(listed))
    # forget files that are gone from a folder we listed (Customer.io advises expiring them),
    # so the state does not grow with every export ever made
    present = {f.url for f in listed}
    for prefix in _folder_prefixes(locations):
        for url in [u for u in files_done if u.startswith(prefix) and u not in present]:
            del files_done[url]


class _Run:
    """One pass over the listed files: read, batch per table, drop what the warehouse has newer."""

    def __init__(self, files_done: dict[str, str], reread: bool, stats: DwSyncReadStats, reader: ExportReader):
        self.files_done, self.reread, self.stats, self.reader = files_done, reread, stats, reader
        self.loaded_at = datetime.now(timezone.utc).isoformat()
        self.warehouse = _Warehouse()
        self.pending: dict[str, list[pa.Table]] = {}
        self.table_hints = {name: _table_hints(spec) for name, spec in FILE_TYPES.items()}
        self.quarantine_hints = dlt.mark.make_hints(
            table_name=QUARANTINE_TABLE,
            write_disposition={"disposition": "merge", "strategy": "delete-insert"},
            primary_key="quarantine_id",
            columns=QUARANTINE_COLUMNS,
        )

    def items(self, ordered: list[tuple[InputFile, object]]) -> Iterator:
        stats = self.stats
        for number, (input_file, export) in enumerate(ordered, start=1):
            if not self.reread and self.files_done.get(input_file.url) == input_file.fingerprint:
                stats.files_skipped += 1
                log.debug("[%d/%d] %s unchanged since its last load, skipped", number, len(ordered), input_file.url)
                continue
            try:
                if isinstance(export, SkipFile):
                    raise export
                with input_file.local_path() as local_path:
                    rows, bad_rows, superseded = self.reader.read(local_path, export, input_file.url, self.loaded_at)
            except SkipFile as exc:
                yield self._skipped(input_file, str(exc), f"[{number}/{len(ordered)}]")
                continue
            stats.files_read += 1
            stats.superseded += superseded
            table = export.file_type.table
            stats.rows_read[table] = stats.rows_read.get(table, 0) + rows.num_rows
            if bad_rows.num_rows:
                stats.rows_quarantined += bad_rows.num_rows
                for reason in bad_rows.column("reason").to_pylist():
                    stats.count_reason(reason)
                yield dlt.mark.with_hints(bad_rows, self.quarantine_hints, create_table_variant=True)
            # progress: every file at debug level, every twentieth (and the last) at info
            level = logging.INFO if number % 20 == 0 or number == len(ordered) else logging.DEBUG
            log.log(level, "[%d/%d] %s: %d %s rows", number, len(ordered), input_file.url, rows.num_rows, table)
            if rows.num_rows:
                self.pending.setdefault(export.type_name, []).append(rows)
                if sum(t.num_rows for t in self.pending[export.type_name]) >= BATCH_ROWS:
                    yield from self._flush(export.type_name)
            # committed with the load package: only when the whole load succeeds
            self.files_done[input_file.url] = input_file.fingerprint
        for type_name in list(self.pending):
            yield from self._flush(type_name)

    def _skipped(self, input_file: InputFile, reason: str, progress: str):
        self.stats.files_quarantined += 1
        self.stats.count_reason(reason)
        log.warning("%s %s skipped: %s", progress, input_file.url, reason)
        # a file that cannot be read may still be uploading: try it again next run; a name or
        # columns we cannot use will not change unless the file does (then it is read again)
        if not reason.startswith(UNREADABLE):
            self.files_done[input_file.url] = input_file.fingerprint
        return dlt.mark.with_hints(file_quarantine_row(input_file.url, reason, self.loaded_at),
                                   self.quarantine_hints, create_table_variant=True)

    def _flush(self, type_name: str) -> Iterator:
        spec = FILE_TYPES[type_name]
        batch, dropped = latest_per_key(
            pa.concat_tables(self.pending.pop(type_name), promote_options="permissive"), spec.key)
        newest = self.warehouse.max_version(spec.table)
        if newest is not None:  # only rows not newer than everything loaded before need a look-up
            maybe_old = pc.less_equal(batch.column("_version"), newest)
            if pc.any(maybe_old).as_py():
                keys = batch.filter(maybe_old).column(spec.key).to_pylist()
                batch, late = drop_superseded(batch, spec.key, self.warehouse.versions(spec.table, spec.key, keys))
                dropped += late
                if late:
                    log.info("%s: %d row(s) older than the warehouse's version ignored", spec.table, late)
        self.stats.superseded += dropped
        if batch.num_rows:
            yield dlt.mark.with_hints(batch, self.table_hints[type_name], create_table_variant=True)
