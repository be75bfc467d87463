"""msgmetrics: Customer.io message activity -> DuckDB -> dbt cohorts -> Amplitude."""

__version__ = "0.1.0"
