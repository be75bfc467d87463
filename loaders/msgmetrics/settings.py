"""Where things live and which environment variables change them.

Everything has a working default for the embedded DuckDB set-up, so no profile or
config file has to be written by hand.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

# The dbt project is the repository root (the package lives in loaders/msgmetrics).
PROJECT_DIR = Path(os.environ.get("MSGMETRICS_PROJECT_DIR", Path(__file__).resolve().parents[2]))
# profiles.yml used by the CLI: DuckDB at $MSGMETRICS_WAREHOUSE.
PROFILES_DIR = Path(__file__).resolve().parent / "dbt_profile"
DEFAULT_WAREHOUSE = Path("warehouse") / "msgmetrics.duckdb"

RAW_WEBHOOKS_DATASET = "raw_customerio"
RAW_ORDERS_DATASET = "raw_shop"
RAW_API_DATASET = "raw_customerio_api"
RAW_DW_SYNC_DATASET = "raw_customerio_dw"
LEDGER_SCHEMA = "msgmetrics_ledger"


def quiet_third_party_telemetry() -> None:
    """dlt and dbt phone home by default; our machines have no internet and users' data stays put."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    os.environ.setdefault("DBT_SEND_ANONYMOUS_USAGE_STATS", "false")
    os.environ.setdefault("DO_NOT_TRACK", "1")
    # dlt warns once per Arrow batch that the Arrow nullability differs from its schema
    # hints (harmless: the hints win); errors still raise. Override to see warnings.
    os.environ.setdefault("RUNTIME__LOG_LEVEL", "ERROR")


@dataclass(frozen=True)
class Warehouse:
    """The DuckDB file and the folders kept beside it."""

    path: Path

    @classmethod
    def resolve(cls, path: str | os.PathLike | None = None) -> "Warehouse":
        chosen = path or os.environ.get("MSGMETRICS_WAREHOUSE") or DEFAULT_WAREHOUSE
        return cls(Path(chosen).expanduser().resolve())

    @property
    def pipelines_dir(self) -> Path:
        """dlt's local working state; the durable copy lives in the warehouse itself."""
        return self.path.parent / ".dlt_pipelines"

    @property
    def lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def ensure_parent(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)


def replace_file(path: Path, text: str) -> None:
    """Write `path` whole (through a temporary file beside it): readers never see half of it."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
