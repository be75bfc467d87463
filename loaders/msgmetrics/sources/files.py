"""Find input files in local paths or any bucket URL that dlt's filesystem source reads."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator
from urllib.parse import unquote, urlparse

from dlt.sources.filesystem import filesystem


@dataclass(frozen=True)
class InputFile:
    url: str  # stable identity of the file (file:// for local paths)
    fingerprint: str  # changes when the file changes (modification time and size)
    _item: object  # dlt FileItemDict, used to open remote files
    size: int = 0  # bytes

    def local_path(self) -> contextlib.AbstractContextManager[Path]:
        """A local path to read: the file itself when local, else a temporary copy."""
        if self.url.startswith("file://"):
            return contextlib.nullcontext(Path(unquote(urlparse(self.url).path)))
        return _temporary_copy(self._item, Path(urlparse(self.url).path).name)


@contextlib.contextmanager
def _temporary_copy(item, name: str) -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="msgmetrics-") as tmp:
        target = Path(tmp) / name
        with item.open(compression="disable") as src, open(target, "wb") as dst:
            shutil.copyfileobj(src, dst)
        yield target


def _split(location: str, default_glob: str) -> tuple[str, str]:
    """(bucket_url, file_glob) for a path or URL naming a file or a folder."""
    if "://" not in location:
        path = Path(location).expanduser().resolve()
        if not path.exists():
            raise FileNotFoundError(f"{location}: no such file or folder")
        if path.is_file():
            return path.parent.as_uri(), path.name
        return path.as_uri(), default_glob
    parsed = urlparse(location)
    name = Path(parsed.path).name
    if "." in name:  # looks like a file: list its folder, match its name
        return location[: len(location) - len(name)].rstrip("/"), name
    return location.rstrip("/"), default_glob


class StillBeingWritten(FileNotFoundError):
    """The locations hold no finished file, only files a webhook receiver is still writing."""


def list_input_files(locations: list[str], default_glob: str) -> list[InputFile]:
    """Every file under the given locations, sorted by URL, each once."""
    found: dict[str, InputFile] = {}
    for location in locations:
        bucket_url, file_glob = _split(location, default_glob)
        # iterating a dlt resource yields its items one by one (pages are flattened)
        for item in filesystem(bucket_url=bucket_url, file_glob=file_glob):
            fingerprint = f"{item['modification_date'].isoformat()}:{item['size_in_bytes']}"
            found[item["file_url"]] = InputFile(item["file_url"], fingerprint, item, size=item["size_in_bytes"])
    if not found:
        still_open = _still_open_hint(locations)
        if still_open:
            raise StillBeingWritten(f"no finished input files in {', '.join(locations)} yet: {still_open}")
        raise FileNotFoundError(
            f"no input files found in {', '.join(locations)} (pattern {default_glob!r}); "
            "check the path or pass the file names explicitly"
        )
    return [found[url] for url in sorted(found)]


def _still_open_hint(locations: list[str]) -> str | None:
    """Says so when a local folder only holds files `msgmetrics serve-webhooks` is still writing."""
    for location in locations:
        path = Path(location).expanduser()
        if "://" not in location and path.is_dir() and any(path.glob("*.open")):
            return (f"{location} only holds files a webhook receiver is still writing (*.open); they are "
                    "loaded once the receiver finishes them (every --rotate-seconds, and on shutdown)")
    return None
