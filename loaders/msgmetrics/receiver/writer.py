"""Durable, group-committed, rotating JSONL files.

One writer thread owns the active file. Request handlers ``submit`` a line with a token; the
thread takes every line submitted since its last pass, writes them with one ``write``, makes
them durable with one ``fdatasync`` (data and file size), and only then hands the tokens to
``on_commit``: the server answers 200 from there. Many requests share one sync (group commit),
so throughput follows the number of requests in flight, not the disk's sync latency.

Files:

* ``webhooks-<UTC time>.open``  the active file; not matched by the loader's ``**/*.jsonl*``
* ``webhooks-<UTC time>.jsonl`` a finished file: renamed from ``.open`` on rotation (size or age)
  and on shutdown, never written again, so the loader's mtime+size check sees it complete

A new file's directory entry is synced before its first line is acknowledged, and so is each
rename. A ``.open`` file left by a crash is finished when the next receiver starts: cut after its
last newline (bytes after it were never acknowledged) and renamed. A lock file keeps a second
receiver out of the folder. A write or sync error fails that batch (the server answers 503, so
Customer.io retries), cuts the file back to its last committed byte and finishes it; the next
batch starts a new file.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import filelock

from .settings import ACTIVE_SUFFIX, FILE_PREFIX, FINISHED_SUFFIX, LOCK_NAME

log = logging.getLogger(__name__)

CommitCallback = Callable[[list[Any], "OSError | None"], None]


class WriterError(RuntimeError):
    """The writer cannot start (folder busy or not writable) or is closed."""


@dataclass
class WriterStats:
    lines_committed: int = 0
    bytes_committed: int = 0
    batches: int = 0
    files_finished: int = 0
    write_errors: int = 0
    last_error: str | None = None


def _sync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


_datasync = getattr(os, "fdatasync", os.fsync)


def _complete_length(fd: int, size: int) -> int:
    """Length of the file up to and including its last newline (0 if it has none)."""
    end = size
    while end > 0:
        start = max(0, end - (1 << 20))
        chunk = os.pread(fd, end - start, start)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return start + newline + 1
        end = start
    return 0


class DurableJsonlWriter:
    def __init__(
        self,
        out_dir: Path,
        *,
        on_commit: CommitCallback,
        rotate_bytes: int,
        rotate_seconds: float,
        durable: bool = True,  # False only for bench/bench_receiver.py's "cost of fsync" run
    ) -> None:
        self.out_dir = Path(out_dir)
        self.rotate_bytes = rotate_bytes
        self.rotate_seconds = rotate_seconds
        self.stats = WriterStats()
        self._on_commit = on_commit
        self._durable = durable
        self._cond = threading.Condition()
        self._pending: list[tuple[bytes, Any]] = []
        self._closing = False
        self._thread: threading.Thread | None = None
        self._lock: filelock.FileLock | None = None
        # the active file (writer thread only)
        self._fd: int | None = None
        self._active: Path | None = None
        self._opened_at = 0.0
        self._committed = 0
        self._lines = 0
        self._last_name = ""

    # ------------------------------------------------------------------ lifecycle
    def open(self) -> list[Path]:
        """Lock the folder, finish files a crashed run left open, start the writer thread.

        Returns the files finished by that recovery."""
        try:
            self.out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise WriterError(f"cannot create the output folder {self.out_dir}: {exc}") from None
        if not os.access(self.out_dir, os.W_OK):
            raise WriterError(f"the output folder {self.out_dir} is not writable")
        lock = filelock.FileLock(str(self.out_dir / LOCK_NAME))
        try:
            lock.acquire(timeout=0)
        except filelock.Timeout:
            raise WriterError(
                f"another receiver is already writing to {self.out_dir} (it holds {LOCK_NAME}); "
                "give each receiver its own --out folder") from None
        self._lock = lock
        recovered = self._recover()
        self._thread = threading.Thread(target=self._run, name="webhook-writer", daemon=True)
        self._thread.start()
        return recovered

    def close(self) -> None:
        """Commit everything submitted, finish the active file, release the folder."""
        with self._cond:
            self._closing = True
            self._cond.notify()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def submit(self, line: bytes, token: Any) -> None:
        """Queue one line (ending in a newline); ``on_commit`` gets ``token`` once it is durable."""
        with self._cond:
            if self._closing:
                raise WriterError("the receiver is shutting down")
            self._pending.append((line, token))
            if len(self._pending) == 1:
                self._cond.notify()

    @property
    def active_file(self) -> str | None:
        active = self._active
        return active.name if active else None

    # ------------------------------------------------------------------ writer thread
    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._closing:
                    wait = self._rotation_wait()
                    if wait is not None and wait <= 0:
                        break
                    self._cond.wait(wait)
                batch, self._pending = self._pending, []
                closing = self._closing  # submit refuses after this, so nothing is left behind
            if batch:
                self._commit(batch)
            if self._fd is not None and (
                self._committed >= self.rotate_bytes
                or time.monotonic() - self._opened_at >= self.rotate_seconds
                or closing
            ):
                self._finish_active()
            if closing:
                return

    def _rotation_wait(self) -> float | None:
        if self._fd is None:
            return None  # nothing to rotate: an empty file is never created
        return self._opened_at + self.rotate_seconds - time.monotonic()

    def _commit(self, batch: list[tuple[bytes, Any]]) -> None:
        data = b"".join(line for line, _ in batch)
        tokens = [token for _, token in batch]
        try:
            if self._fd is None:
                self._open_new()
            view = memoryview(data)
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
            if self._durable:
                _datasync(self._fd)
        except OSError as exc:
            self.stats.write_errors += 1
            self.stats.last_error = f"{type(exc).__name__}: {exc}"
            log.error("could not store %d webhook(s) in %s: %s; answering 503 so Customer.io retries them",
                      len(batch), self._active or self.out_dir, exc)
            self._abandon_active()
            self._notify(tokens, exc)
            return
        self._committed += len(data)
        self._lines += len(batch)
        self.stats.lines_committed += len(batch)
        self.stats.bytes_committed += len(data)
        self.stats.batches += 1
        self.stats.last_error = None
        self._notify(tokens, None)

    def _notify(self, tokens: list[Any], error: OSError | None) -> None:
        try:
            self._on_commit(tokens, error)
        except Exception:  # the writer thread must survive a faulty callback
            log.exception("the commit callback failed")

    def _open_new(self) -> None:
        now = datetime.now(timezone.utc)
        while True:
            name = f"{FILE_PREFIX}{now:%Y%m%dT%H%M%S.%f}Z"
            if name > self._last_name and not (self.out_dir / f"{name}{FINISHED_SUFFIX}").exists():
                path = self.out_dir / f"{name}{ACTIVE_SUFFIX}"
                try:
                    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_APPEND | os.O_CLOEXEC, 0o640)
                    break
                except FileExistsError:
                    pass
            now += timedelta(microseconds=1)  # names stay unique and in order, even if the clock steps back
        self._last_name = name
        self._fd, self._active = fd, path
        self._opened_at, self._committed, self._lines = time.monotonic(), 0, 0
        if self._durable:
            _sync_dir(self.out_dir)  # the new name must survive a crash before its first line is acknowledged
        log.debug("writing %s", path.name)

    def _finish_active(self) -> None:
        fd, path = self._fd, self._active
        self._fd = self._active = None
        if fd is None or path is None:
            return
        try:
            if self._committed == 0:
                os.close(fd)
                path.unlink()
                return
            if self._durable:
                _datasync(fd)
            os.close(fd)
            final = path.with_suffix(FINISHED_SUFFIX)
            os.rename(path, final)
            if self._durable:
                _sync_dir(self.out_dir)
            self.stats.files_finished += 1
            log.info("finished %s: %d webhook(s), %d bytes", final.name, self._lines, self._committed)
        except OSError as exc:
            log.error("could not finish %s (%s); it is finished when the receiver next starts", path, exc)

    def _abandon_active(self) -> None:
        """After a failed write or sync: cut the file back to its committed bytes and finish it."""
        if self._fd is None:
            return
        try:
            os.ftruncate(self._fd, self._committed)
        except OSError as exc:
            log.error("could not cut %s back to %d bytes (%s): an unacknowledged line may remain; "
                      "the loader quarantines it if incomplete", self._active, self._committed, exc)
        self._finish_active()

    # ------------------------------------------------------------------ recovery
    def _recover(self) -> list[Path]:
        finished = []
        for path in sorted(self.out_dir.glob(f"{FILE_PREFIX}*{ACTIVE_SUFFIX}")):
            fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
            try:
                size = os.fstat(fd).st_size
                keep = _complete_length(fd, size)
                if keep < size:
                    os.ftruncate(fd, keep)
                os.fsync(fd)
            finally:
                os.close(fd)
            if keep == 0:
                path.unlink()
                log.warning("removed %s left by a previous run: it held no complete line", path.name)
                continue
            final = path.with_suffix(FINISHED_SUFFIX)
            os.rename(path, final)
            finished.append(final)
            log.warning("finished %s left open by a previous run (%d bytes kept%s)", final.name, keep,
                        f", {size - keep} bytes of an unacknowledged partial line dropped" if keep < size else "")
        if finished:
            _sync_dir(self.out_dir)
        return finished
