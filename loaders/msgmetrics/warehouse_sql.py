"""Small SQL helpers shared by the commands that read the warehouse."""

from __future__ import annotations


def table_exists(con, schema: str, table: str) -> bool:
    return bool(con.execute(
        "select count(*) from information_schema.tables where table_schema = ? and table_name = ?", [schema, table]
    ).fetchone()[0])
