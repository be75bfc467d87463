"""One writer at a time: load, build and push take this lock on the warehouse file.

DuckDB lets one process write a file (and a read-only opener blocks writers too), so
two msgmetrics commands must not overlap. The lock waits up to `timeout` seconds and
then fails with a message that says what holds it.
"""

from __future__ import annotations

import contextlib
import os
from typing import Iterator

from filelock import FileLock, Timeout

from .settings import Warehouse


class WarehouseBusy(RuntimeError):
    pass


@contextlib.contextmanager
def writer_lock(warehouse: Warehouse, what: str, timeout: float | None = None) -> Iterator[None]:
    warehouse.ensure_parent()
    wait = float(os.environ.get("MSGMETRICS_LOCK_TIMEOUT", "600")) if timeout is None else timeout
    lock = FileLock(str(warehouse.lock_path), timeout=wait)
    try:
        lock.acquire()
    except Timeout:
        raise WarehouseBusy(
            f"{what}: another msgmetrics command has been writing {warehouse.path} for more than "
            f"{wait:.0f}s (lock {warehouse.lock_path}). Wait for it to finish, or raise "
            "MSGMETRICS_LOCK_TIMEOUT; DuckDB allows one writer at a time."
        ) from None
    try:
        yield
    finally:
        lock.release()
