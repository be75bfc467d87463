"""What the warehouse holds now, for the CLI's closing summary."""

from __future__ import annotations

import duckdb

from .settings import Warehouse
from .warehouse_sql import table_exists


def cohort_sizes(warehouse: Warehouse) -> list[tuple[str, int, int, bool]]:
    """(cohort_name, members, members with an Amplitude user id, pushed), straight from
    cohort_membership; pushed is false for building-block cohorts that are not sent."""
    con = duckdb.connect(str(warehouse.path))
    try:
        if not table_exists(con, "marts", "cohort_membership"):
            return []
        return con.execute("""
            select cohort_name, count(*) as members, count(amplitude_user_id) as pushable,
                   count(amplitude_property) > 0 as pushed
            from marts.cohort_membership group by cohort_name order by cohort_name
        """).fetchall()
    finally:
        con.close()


def audience_sizes(warehouse: Warehouse) -> list[tuple[str, bool, int, int, int, int]]:
    """(audience_name, is_incentive, assigned, assigned with an Amplitude user id, suppressed,
    outranked) from audience_assignments, every audience of dim_audiences included."""
    con = duckdb.connect(str(warehouse.path))
    try:
        if not (table_exists(con, "marts", "audience_assignments") and table_exists(con, "marts", "dim_audiences")):
            return []
        return con.execute("""
            select d.audience_name, d.is_incentive,
                   count(case when a.status = 'assigned' then 1 end),
                   count(case when a.status = 'assigned' then a.amplitude_user_id end),
                   count(case when a.status = 'suppressed' then 1 end),
                   count(case when a.status = 'outranked' then 1 end)
            from marts.dim_audiences as d
            left join marts.audience_assignments as a on a.audience_name = d.audience_name
            group by d.audience_name, d.is_incentive, d.registry_order
            order by d.registry_order
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
