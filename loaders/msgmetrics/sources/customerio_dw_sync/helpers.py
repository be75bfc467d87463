"""Pure helpers of the Data Warehouse Sync source: name files, read one Parquet file
into Arrow with DuckDB (typed, lenient, one row per key), and drop rows the warehouse
already holds in a newer version."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import duckdb
import pyarrow as pa

from .settings import (
    BIGINT, BOOL, FILE_NAME, FILE_NAME_HELP, FILE_TYPES, TEXT, TIMESTAMP, TYPE_ALIASES, FileType,
)


class SkipFile(Exception):
    """The file cannot be loaded; the message is the reason recorded in the quarantine."""


@dataclass(frozen=True)
class ExportFile:
    """What a file's name says: its type, schema version, workspace and sequence number."""

    file_type: FileType
    type_name: str
    schema_version: int
    workspace_id: str
    seq: int


def classify(url: str) -> ExportFile:
    """The export file named by `url`, or SkipFile with the reason."""
    name = unquote(Path(urlparse(url).path).name)
    match = FILE_NAME.match(name)
    if not match:
        raise SkipFile(f"file name does not match {FILE_NAME_HELP}")
    type_name = match["type"].lower()
    type_name = TYPE_ALIASES.get(type_name, type_name)
    if type_name not in FILE_TYPES:
        raise SkipFile(f"unknown file type '{match['type']}' (known: {', '.join(FILE_TYPES)})")
    return ExportFile(FILE_TYPES[type_name], type_name, int(match["version"]), match["workspace"], int(match["seq"]))


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


_INTEGER = ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT", "UINTEGER",
            "UBIGINT", "UHUGEINT")
_FLOAT = ("FLOAT", "DOUBLE", "REAL")


def _typed(column: str, duck_type: str, kind: str) -> str:
    """SQL that turns `column` of the file's type into the column's kind."""
    c, t = _q(column), duck_type.upper()
    is_int, is_float = t in _INTEGER, t in _FLOAT or t.startswith("DECIMAL")
    nested = t.startswith(("STRUCT", "MAP")) or t.endswith("]")
    if kind == TEXT:
        if is_float:  # ids written as floats: 101.0 -> '101'
            return f"case when {c} = trunc({c}) then cast(cast({c} as hugeint) as varchar) else cast({c} as varchar) end"
        return f"cast(to_json({c}) as varchar)" if nested else f"cast({c} as varchar)"
    if kind == BIGINT:
        return f"try_cast({c} as bigint)"
    if kind == BOOL:
        return f"({c} <> 0)" if is_int or is_float else f"try_cast({c} as boolean)"
    if kind == TIMESTAMP:
        if is_int or is_float:
            # unix seconds (Customer.io's convention); values this large can only be milliseconds
            return f"case when abs({c}) >= 100000000000 then to_timestamp({c} / 1000.0) else to_timestamp({c}) end"
        if t.startswith("TIMESTAMP") or t == "DATE":
            return f"cast({c} as timestamptz)"  # naive times are UTC (the session time zone)
        return f"coalesce(try_cast({c} as timestamptz), to_timestamp(try_cast({c} as double)))"
    raise ValueError(kind)


UNREADABLE = "cannot read Parquet: "


def _unreadable(exc: Exception, local_path: Path) -> str:
    # without the local path: for a bucket file it is a temporary copy's
    return UNREADABLE + str(exc).splitlines()[0].replace(str(local_path), local_path.name)


_NULL_TYPE = {TEXT: "varchar", BIGINT: "bigint", BOOL: "boolean", TIMESTAMP: "timestamptz"}
_LINEAGE = ("_version", "_source_seq", "_source_file", "_row_number", "_loaded_at")


class ExportReader:
    """Reads export files with one in-memory DuckDB connection (a connection per file costs
    more than reading a small file)."""

    def __init__(self):
        self.con = duckdb.connect()
        self.con.execute("set TimeZone = 'UTC'; set enable_progress_bar = false")

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> "ExportReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def read(self, local_path: Path, export: ExportFile, source_file: str, loaded_at: str
             ) -> tuple[pa.Table, pa.Table, int]:
        """(rows, quarantined rows, superseded rows) of one export file.

        rows: every known column typed (null when the file lacks it), unknown columns as they
        are, then the lineage columns; one row per key (the highest `_version`, then the last
        row). quarantined: rows without their key or a required column, with the row as JSON
        and the reason.
        """
        try:
            return self._read(local_path, export, source_file, loaded_at)
        finally:
            self.con.execute("drop table if exists typed; drop view if exists src")

    def _read(self, local_path, export, source_file, loaded_at):
        spec, con = export.file_type, self.con
        try:
            path_literal = "'" + str(local_path).replace("'", "''") + "'"
            con.execute(f"create temp view src as select * from read_parquet({path_literal}, file_row_number = true)")
            described = con.execute("describe src").fetchall()
        except duckdb.Error as exc:
            raise SkipFile(_unreadable(exc, local_path)) from None
        actual = {name.lower(): (name, duck_type) for name, duck_type, *_ in described if name != "file_row_number"}
        missing = [c for c in spec.required if c not in actual]
        if missing:
            raise SkipFile(f"missing required column(s): {', '.join(missing)}")

        select = []
        for column, kind in spec.columns.items():
            if column in actual:
                select.append(f"{_typed(actual[column][0], actual[column][1], kind)} as {_q(column)}")
            elif column == "workspace_id":
                select.append(f"cast({_literal(export.workspace_id)} as varchar) as {_q(column)}")
            else:
                select.append(f"cast(null as {_NULL_TYPE[kind]}) as {_q(column)}")
        for lower, (name, _) in actual.items():  # columns we do not know: kept as they are
            if lower not in spec.columns and lower not in _LINEAGE and lower != (spec.derived_key or ("",))[0]:
                select.append(_q(name))
        if spec.derived_key:
            column, parts = spec.derived_key
            joined = ", ".join(f"coalesce(cast({_q(p)} as varchar), '')" for p in parts)
            select.append(f"md5(concat_ws(chr(31), {joined})) as {_q(column)}")
        needed = list(dict.fromkeys((spec.key, *spec.required)))
        missing_list = ", ".join(f"case when {_q(c)} is null then '{c}' end" for c in needed)
        try:
            # typed rows, lineage, and for rows lacking a needed value the reason
            con.execute(f"""
                create temp table typed as
                select
                    * exclude (file_row_number),
                    coalesce(seq_num, {export.seq}) as _version,
                    cast({export.seq} as bigint) as _source_seq,
                    cast({_literal(source_file)} as varchar) as _source_file,
                    file_row_number + 1 as _row_number,
                    cast({_literal(loaded_at)} as timestamptz) as _loaded_at,
                    nullif('missing ' || concat_ws(', ', {missing_list}), 'missing ') as _reject_reason
                from (select {', '.join(select)}, file_row_number from src)
            """)
        except duckdb.Error as exc:
            raise SkipFile(_unreadable(exc, local_path)) from None

        ((good, bad),) = con.execute(
            "select count(*) filter (where _reject_reason is null), count(_reject_reason) from typed").fetchall()
        rows = con.sql(f"""
            select * exclude (_reject_reason, version_rank) from (
                select *, row_number() over (
                    partition by {_q(spec.key)} order by _version desc, _row_number desc) as version_rank
                from typed where _reject_reason is null
            ) where version_rank = 1
            order by _row_number
        """).to_arrow_table()
        quarantined = _EMPTY_QUARANTINE
        if bad:
            original = ", ".join(f"{_q(name)} := src.{_q(name)}" for name, _ in actual.values())
            quarantined = con.sql(f"""
                select
                    md5(concat_ws('|', t._source_file, cast(t._row_number as varchar), t._reject_reason))
                        as quarantine_id,
                    t._source_file as source_file,
                    t._row_number as row_number,
                    t._reject_reason as reason,
                    cast(to_json(struct_pack({original})) as varchar) as raw_row,
                    t._loaded_at as quarantined_at
                from typed t
                join src on src.file_row_number + 1 = t._row_number
                where t._reject_reason is not null
                order by t._row_number
            """).to_arrow_table()
        return rows, quarantined, good - rows.num_rows


def _literal(value: str) -> str:
    return "'" + str(value).replace("'", "''") + "'"


_EMPTY_QUARANTINE = pa.table({
    "quarantine_id": pa.array([], pa.string()), "source_file": pa.array([], pa.string()),
    "row_number": pa.array([], pa.int64()), "reason": pa.array([], pa.string()),
    "raw_row": pa.array([], pa.string()), "quarantined_at": pa.array([], pa.timestamp("us", "UTC")),
})


def read_export_file(local_path: Path, export: ExportFile, source_file: str, loaded_at: str
                     ) -> tuple[pa.Table, pa.Table, int]:
    """ExportReader.read with a connection of its own (for a single file)."""
    with ExportReader() as reader:
        return reader.read(local_path, export, source_file, loaded_at)


def file_quarantine_row(source_file: str, reason: str, loaded_at: str) -> pa.Table:
    """One quarantine row for a whole file that could not be loaded."""
    con = duckdb.connect()
    try:
        return con.sql("""
            select md5(concat_ws('|', $f, '', $r)) as quarantine_id, cast($f as varchar) as source_file,
                   cast(null as bigint) as row_number, cast($r as varchar) as reason,
                   cast(null as varchar) as raw_row, cast($t as timestamptz) as quarantined_at
        """, params={"f": source_file, "r": reason, "t": loaded_at}).to_arrow_table()
    finally:
        con.close()


def latest_per_key(table: pa.Table, key: str) -> tuple[pa.Table, int]:
    """One row per key, the highest `_version` (then the latest file and row); and how many were dropped."""
    con = duckdb.connect()
    try:
        con.register("batch", table)
        latest = con.sql(f"""
            select * exclude (row_rank) from (
                select *, row_number() over (
                    partition by {_q(key)} order by _version desc, _source_seq desc, _source_file desc, _row_number desc
                ) as row_rank
                from batch
            ) where row_rank = 1
        """).to_arrow_table()
        return latest, table.num_rows - latest.num_rows
    finally:
        con.close()


def drop_superseded(table: pa.Table, key: str, existing: pa.Table) -> tuple[pa.Table, int]:
    """Rows of `table` newer than the warehouse's version of their key (`existing`: key, _version).

    A row whose key the warehouse holds with the same or a higher version is dropped, so
    an older file loaded late never overwrites what a newer one brought.
    """
    if existing.num_rows == 0:
        return table, 0
    con = duckdb.connect()
    try:
        con.register("batch", table)
        con.register("existing", existing)
        kept = con.sql(f"""
            select batch.* from batch
            left join existing on existing.{_q(key)} = batch.{_q(key)}
            where existing.{_q(key)} is null or batch._version > existing._version
        """).to_arrow_table()
        return kept, table.num_rows - kept.num_rows
    finally:
        con.close()
