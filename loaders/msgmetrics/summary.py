"""What the warehouse holds now, for the CLI's closing summary."""

from __future__ import annotations

import duckdb

from .settings import Warehouse
from .warehouse_sql import table_exists


def cohort_sizes(warehouse: Warehouse) -> list[tuple[str, int, int]]:
    """(cohort_name, members, members with an Amplitude user id), straight from cohort_membership."""
    con = duckdb.connect(str(warehouse.path))
    try:
        if not table_exists(con, "marts", "cohort_membership"):
            return []
        return con.execute("""
            select cohort_name, count(*) as members, count(amplitude_user_id) as pushable
            from marts.cohort_membership group by cohort_name order by cohort_name
        """).fetchall()
    finally:
        con.close()


def identity_coverage(warehouse: Warehouse) -> list[tuple[str, int, int]]:
    """(measure, resolved, total) from rpt_identity_coverage."""
    con = duckdb.connect(str(warehouse.path))
    try:
        if not table_exists(con, "marts", "rpt_identity_coverage"):
            return []
        return con.execute("""
            select measure, sum(case when is_resolved then n else 0 end), sum(n)
            from marts.rpt_identity_coverage group by measure order by measure desc
        """).fetchall()
    finally:
        con.close()
