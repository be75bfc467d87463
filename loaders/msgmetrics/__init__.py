"""msgmetrics: Customer.io message activity -> DuckDB -> dbt cohorts -> Amplitude."""

from .settings import quiet_third_party_telemetry

__version__ = "0.1.0"

# Before dlt or dbt is imported anywhere: no telemetry from users' machines by default.
quiet_third_party_telemetry()
