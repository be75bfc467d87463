"""Synchronous client for Amplitude's Behavioral Cohorts API (reference §4).

* ``list_cohorts()`` / ``find_cohort_id(name)`` use ``GET /api/3/cohorts``, never the
  ``/api/5/cohorts/request`` download endpoints (those count against a 500/month quota).
* ``upload()`` creates a static cohort, or replaces the whole membership of an existing
  one (``existing_cohort_id``), with ``id_type: BY_USER_ID``.
* ``update_membership()`` adds then removes user ids with ``id_type: BY_NAME`` (the
  membership endpoint's name for user ids): every ADD chunk first, then every REMOVE
  chunk, one request at a time. Amplitude answers 429 to concurrent changes of one
  cohort, so nothing here is parallel.

Auth is HTTP Basic ``api_key:secret_key`` on ``config.rest_url``.

Status handling:

* 200: done.
* 401: ``AmplitudeAuthError``; 403: ``AmplitudeForbiddenError``. Fatal, nothing more is sent.
* 429, 5xx, 408, timeouts, connection errors: the same request is resent with full-jitter
  exponential backoff until ``config.max_retry_seconds`` has passed since it was first
  tried, then ``AmplitudeUnavailableError``. Membership changes are idempotent, so a
  request Amplitude applied before failing is safe to resend. A *create* is not: before
  resending one, the client lists the cohorts and, if a cohort of that name appeared
  since the first try, resends the upload as a replace of that cohort.
* 404: ``AmplitudeCohortNotFoundError``; other 4xx: ``AmplitudeError`` with the body's
  ``message``/``error``.

Error messages and logs never contain the API key or the secret key. The client is not
thread-safe.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable
from urllib.parse import urlsplit

import requests

from .client import (
    AmplitudeAuthError,
    AmplitudeConfig,
    AmplitudeConfigError,
    AmplitudeError,
    AmplitudeForbiddenError,
    AmplitudeUnavailableError,
    HttpClientBase,
    _mask,
)

log = logging.getLogger(__name__)

LIST_PATH = "/api/3/cohorts"
UPLOAD_PATH = "/api/3/cohorts/upload"
MEMBERSHIP_PATH = "/api/3/cohorts/membership"
MAX_IDS_PER_REQUEST = 100_000  # "Single requests are limited to 100,000 identifiers" (§4.1)
DEFAULT_CHUNK_SIZE = 10_000
COHORT_ENV_VARS = {
    "secret_key": "AMPLITUDE_SECRET_KEY",
    "app_id": "AMPLITUDE_APP_ID",
    "cohort_owner": "AMPLITUDE_COHORT_OWNER",
}

IdsCallback = Callable[[list[str]], None]


class AmplitudeCohortNotFoundError(AmplitudeError):
    """Amplitude answered 404: the cohort id is unknown (deleted, or another project's)."""


@dataclass
class CohortUploadResult:
    """What one ``upload_result()`` call did.

    ``ids_sent`` counts distinct ids sent; ``matched``/``totals``/``invalid_ids_sample``
    come from Amplitude's ``metadata`` (``None``/empty when absent), ``metadata`` is the
    whole object. ``replaced`` is true when an existing cohort's membership was replaced
    (asked for, or after a create that had already been applied was retried).
    """

    cohort_id: str
    name: str
    ids_sent: int
    replaced: bool
    matched: int | None = None
    totals: int | None = None
    invalid_ids_sample: list[str] = field(default_factory=list)
    metadata: dict = field(default_factory=dict)
    sent_requests: int = 0
    retries: int = 0


@dataclass
class MembershipResult:
    """What one ``update_membership()`` call did (so far, when attached to an error).

    ``add_requested``/``remove_requested`` count the distinct ids sent per operation;
    ``skipped_add``/``skipped_remove`` are the union of Amplitude's ``skipped_ids``
    (ids it does not know, so not members). ``add_requests``/``remove_requests`` count
    accepted chunks; ``sent_requests`` counts HTTP attempts, retries included.
    """

    cohort_id: str
    add_requested: int = 0
    remove_requested: int = 0
    skipped_add: set[str] = field(default_factory=set)
    skipped_remove: set[str] = field(default_factory=set)
    add_requests: int = 0
    remove_requests: int = 0
    sent_requests: int = 0
    retries: int = 0

    @property
    def added(self) -> int:
        """Ids sent with ADD that Amplitude did not skip."""
        return self.add_requested - len(self.skipped_add)

    @property
    def removed(self) -> int:
        """Ids sent with REMOVE that Amplitude did not skip."""
        return self.remove_requested - len(self.skipped_remove)


@dataclass
class _Stats:
    sent_requests: int = 0
    retries: int = 0


def _distinct(ids: Iterable[str], what: str) -> list[str]:
    if isinstance(ids, str):
        raise TypeError(f"{what} must be a list of user id strings, not one string")
    out = list(dict.fromkeys(ids))
    bad = [i for i in out if not isinstance(i, str) or not i.strip()]
    if bad:
        raise TypeError(f"{what} must be non-empty strings (Amplitude user ids); got {bad[:3]!r}")
    return out


def _chunks(ids: list[str], size: int) -> list[list[str]]:
    return [ids[i:i + size] for i in range(0, len(ids), size)]


class AmplitudeCohortsClient(HttpClientBase):
    """Behavioral Cohorts API client; needs ``secret_key``, ``app_id`` and ``cohort_owner``."""

    def __init__(self, config: AmplitudeConfig, *args: Any, **kwargs: Any):
        missing = [env for name, env in COHORT_ENV_VARS.items() if not getattr(config, name)]
        if missing:
            raise AmplitudeConfigError(
                "the Amplitude Behavioral Cohorts API needs AMPLITUDE_SECRET_KEY (the project's secret key), "
                "AMPLITUDE_APP_ID (the project id) and AMPLITUDE_COHORT_OWNER (an Amplitude login email); "
                f"not set: {', '.join(missing)}"
            )
        super().__init__(config, *args, **kwargs)

    @property
    def host(self) -> str:
        return urlsplit(self.config.rest_url).netloc or self.config.rest_url

    # -- public API -------------------------------------------------------

    def list_cohorts(self) -> list[dict]:
        """All cohorts of the project (``GET /api/3/cohorts``), archived ones included."""
        return self._list(_Stats())

    def find_cohort_id(self, name: str, cohorts: list[dict] | None = None) -> str | None:
        """The id of the non-archived cohort called exactly ``name``, or None.

        ``cohorts``: a list from ``list_cohorts()`` to search instead of asking Amplitude again
        (one list call for a whole sync instead of one per cohort). When several share the name,
        the most recently modified one wins (with a warning).
        """
        listed = self.list_cohorts() if cohorts is None else cohorts
        found = [c for c in listed if c.get("name") == name and not c.get("archived")]
        if not found:
            return None
        if len(found) > 1:
            log.warning("%d Amplitude cohorts are named %r; using the most recently modified", len(found), name)
        best = max(enumerate(found), key=lambda pair: (_number(pair[1].get("lastMod")), pair[0]))[1]
        return str(best["id"])

    def upload(self, name: str, user_ids: Iterable[str], existing_cohort_id: str | None = None,
               published: bool = True) -> str:
        """Create a cohort of ``user_ids`` (or replace ``existing_cohort_id``'s members); return its id.

        See :meth:`upload_result` for the details and Amplitude's matched/invalid report.
        """
        return self.upload_result(name, user_ids, existing_cohort_id, published).cohort_id

    def upload_result(self, name: str, user_ids: Iterable[str], existing_cohort_id: str | None = None,
                      published: bool = True) -> CohortUploadResult:
        """``POST /api/3/cohorts/upload`` with ``id_type: BY_USER_ID`` and ``skip_invalid_ids: true``.

        Refuses locally an empty id list (Amplitude rejects it) and more than 100,000 ids
        (its single-request limit: upload the first 100,000, then ``update_membership``
        the rest). Ids Amplitude does not know are skipped and sampled in the result.
        """
        if not isinstance(name, str) or not name.strip():
            raise ValueError("a cohort name must be a non-empty string")
        ids = _distinct(user_ids, "user_ids")
        if not ids:
            raise ValueError(
                f"cannot upload cohort {name!r} with no user ids: Amplitude rejects an empty ids list. "
                "Upload it once it has a member, or empty an existing cohort with update_membership(remove=...)"
            )
        if len(ids) > MAX_IDS_PER_REQUEST:
            raise ValueError(
                f"cannot upload {len(ids):,} ids in one request (Amplitude's limit is {MAX_IDS_PER_REQUEST:,}): "
                "upload the first 100,000 and add the rest with update_membership"
            )
        stats = _Stats()
        body: dict[str, Any] = {
            "name": name, "app_id": self.config.app_id, "id_type": "BY_USER_ID", "ids": ids,
            "owner": self.config.cohort_owner, "published": bool(published), "skip_invalid_ids": True,
        }
        if existing_cohort_id is not None:
            body["existing_cohort_id"] = str(existing_cohort_id)
        on_retry = None
        if existing_cohort_id is None:
            # A create is not idempotent: remember which cohorts of this name exist, so a
            # retry after an answer we never saw can replace the cohort it created instead.
            before = {str(c.get("id")) for c in self._list(stats) if c.get("name") == name}

            def on_retry() -> None:
                if "existing_cohort_id" in body:
                    return
                created = [c for c in self._list(stats)
                           if c.get("name") == name and str(c.get("id")) not in before]
                if created:
                    body["existing_cohort_id"] = str(created[-1]["id"])
                    log.warning("Amplitude created cohort %r (%s) before failing; resending as a replace",
                                name, body["existing_cohort_id"])

        status, payload = self._request("POST", UPLOAD_PATH, body, stats, on_retry=on_retry)
        self._raise_for(status, payload, UPLOAD_PATH, stats, cohort_id=existing_cohort_id)
        cohort_id = payload.get("cohortId")
        if not cohort_id:
            raise AmplitudeError(f"Amplitude's upload answer from {self.host} has no cohortId: {payload!r:.300}")
        metadata = payload.get("metadata") if isinstance(payload.get("metadata"), dict) else {}
        sample = metadata.get("invalid_ids_sample")
        result = CohortUploadResult(
            cohort_id=str(cohort_id), name=name, ids_sent=len(ids), replaced="existing_cohort_id" in body,
            matched=metadata.get("matched") if isinstance(metadata.get("matched"), int) else None,
            totals=metadata.get("totals") if isinstance(metadata.get("totals"), int) else None,
            invalid_ids_sample=[str(i) for i in sample] if isinstance(sample, list) else [],
            metadata=metadata, sent_requests=stats.sent_requests, retries=stats.retries,
        )
        log.info("Amplitude cohort %r (%s) %s with %d ids: matched %s, invalid sample %d",
                 name, result.cohort_id, "replaced" if result.replaced else "created", len(ids),
                 result.matched, len(result.invalid_ids_sample))
        return result

    def update_membership(
        self,
        cohort_id: str,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        on_added: IdsCallback | None = None,
        on_removed: IdsCallback | None = None,
    ) -> MembershipResult:
        """Add then remove user ids (``id_type: BY_NAME``), one request at a time.

        Every ADD chunk is sent before any REMOVE chunk; chunks hold at most ``chunk_size``
        ids (capped at 100,000). After each chunk Amplitude accepted, ``on_added`` gets the
        chunk's ids that are now members (the chunk minus ``skipped_ids``) and ``on_removed``
        gets the whole chunk (none of them is a member afterwards, skipped or not). An id in
        both ``add`` and ``remove`` is refused (ValueError). On a fatal error or an exhausted
        retry budget the exception's ``result`` holds the counts so far.
        """
        if isinstance(chunk_size, bool) or not isinstance(chunk_size, int) or chunk_size < 1:
            raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
        if not isinstance(cohort_id, str) or not cohort_id:
            raise ValueError(f"cohort_id must be a non-empty string, got {cohort_id!r}")
        size = min(chunk_size, MAX_IDS_PER_REQUEST)
        adds, removes = _distinct(add, "add"), _distinct(remove, "remove")
        both = set(adds) & set(removes)
        if both:
            raise ValueError(f"{len(both)} ids are in both add and remove, e.g. {sorted(both)[:3]!r}")
        result = MembershipResult(cohort_id=cohort_id, add_requested=len(adds), remove_requested=len(removes))
        stats = _Stats()
        try:
            for operation, ids, callback in (("ADD", adds, on_added), ("REMOVE", removes, on_removed)):
                for chunk in _chunks(ids, size):
                    skipped = self._membership_chunk(cohort_id, operation, chunk, stats)
                    if operation == "ADD":
                        result.add_requests += 1
                        result.skipped_add |= skipped
                        applied = [i for i in chunk if i not in skipped]
                    else:
                        result.remove_requests += 1
                        result.skipped_remove |= skipped
                        applied = chunk
                    result.sent_requests, result.retries = stats.sent_requests, stats.retries
                    if callback is not None:
                        callback(applied)
        except AmplitudeError as exc:
            result.sent_requests, result.retries = stats.sent_requests, stats.retries
            exc.result = result  # type: ignore[attr-defined]
            raise
        result.sent_requests, result.retries = stats.sent_requests, stats.retries
        log.info("Amplitude cohort %s: added %d (skipped %d), removed %d (skipped %d) in %d requests",
                 cohort_id, result.added, len(result.skipped_add), result.removed,
                 len(result.skipped_remove), result.add_requests + result.remove_requests)
        return result

    # -- internals --------------------------------------------------------

    def _list(self, stats: _Stats) -> list[dict]:
        status, payload = self._request("GET", LIST_PATH, None, stats)
        self._raise_for(status, payload, LIST_PATH, stats)
        cohorts = payload.get("cohorts")
        if not isinstance(cohorts, list):
            raise AmplitudeError(f"Amplitude's cohort list from {self.host} has no 'cohorts' array")
        return [c for c in cohorts if isinstance(c, dict)]

    def _membership_chunk(self, cohort_id: str, operation: str, chunk: list[str], stats: _Stats) -> set[str]:
        body = {
            "cohort_id": cohort_id, "count_group": "User", "skip_invalid_ids": True,
            "memberships": [{"ids": chunk, "id_type": "BY_NAME", "operation": operation}],
        }
        status, payload = self._request("POST", MEMBERSHIP_PATH, body, stats)
        self._raise_for(status, payload, MEMBERSHIP_PATH, stats, cohort_id=cohort_id)
        skipped: set[str] = set()
        for entry in payload.get("memberships_result") or []:
            if isinstance(entry, dict) and isinstance(entry.get("skipped_ids"), list):
                skipped.update(str(i) for i in entry["skipped_ids"])
        return skipped & set(chunk)

    def _redact(self, text: str) -> str:
        for secret in (self.config.secret_key, self.config.api_key):
            if secret:
                text = text.replace(secret, _mask(secret))
        return text

    def _request(self, method: str, path: str, body: dict | None, stats: _Stats,
                 on_retry: Callable[[], None] | None = None) -> tuple[int, dict]:
        """Send one request, retrying 429/5xx/408/timeouts; return (status, json) of the last answer."""
        cfg = self.config
        headers = {"User-Agent": self._user_agent, "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = "application/json"
        auth = (cfg.api_key, cfg.secret_key or "")
        url = cfg.rest_url + path
        start = self._clock()
        attempt = 0
        while True:
            data = None if body is None else json.dumps(body, separators=(",", ":")).encode("utf-8")
            stats.sent_requests += 1
            try:
                resp = self._session.request(method, url, data=data, headers=headers, auth=auth,
                                             timeout=cfg.timeout_s)
            except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
                problem = f"{type(exc).__name__} after up to {cfg.timeout_s:g} s"
                log.warning("Amplitude %s %s %s: no answer (%s)", self.host, method, path, problem)
            else:
                payload = self._payload(resp)
                if resp.status_code != 200:
                    log.warning("Amplitude %s %s %s answered HTTP %s: %s", self.host, method, path,
                                resp.status_code, _detail(payload))
                if not (resp.status_code >= 500 or resp.status_code in (408, 429)):
                    return resp.status_code, payload
                problem = f"HTTP {resp.status_code} {_detail(payload)}".strip()
            elapsed = self._clock() - start
            if elapsed >= cfg.max_retry_seconds:
                raise AmplitudeUnavailableError(
                    f"Amplitude at {self.host} did not take {method} {path} for {elapsed:.1f} s "
                    f"(max_retry_seconds={cfg.max_retry_seconds:g}); last problem: {problem}. "
                    "Chunks accepted earlier stay applied; the rest were not sent."
                )
            self._backoff(attempt, elapsed)
            attempt += 1
            stats.retries += 1
            if on_retry is not None:
                on_retry()

    def _payload(self, resp: requests.Response) -> dict:
        try:
            data = resp.json()
        except ValueError:
            data = None
        if not isinstance(data, dict):
            data = {"error": resp.text[:500]} if resp.status_code != 200 else {}
        for key in ("error", "message"):
            if isinstance(data.get(key), str):
                data[key] = self._redact(data[key])
        return data

    def _raise_for(self, status: int, payload: dict, path: str, stats: _Stats, cohort_id: str | None = None) -> None:
        if status == 200:
            return
        detail = _detail(payload)
        cfg = self.config
        where = f"region {cfg.region!r}" + (", host overridden by AMPLITUDE_API_URL" if cfg.api_url else "")
        if status == 401 or (status == 400 and "invalid api key" in detail.lower()):
            raise AmplitudeAuthError(
                f"Amplitude rejected the API key / secret key pair (HTTP {status} {detail or 'no detail'}) "
                f"at {self.host} ({where}). The cohort API needs AMPLITUDE_API_KEY and AMPLITUDE_SECRET_KEY "
                "of the same project, and an EU project's keys work only on the EU host "
                "(AMPLITUDE_REGION=eu). Nothing further was sent."
            )
        if status == 403:
            raise AmplitudeForbiddenError(
                f"Amplitude at {self.host} answered 403 Forbidden for {path} ({detail or 'no detail'}): the keys "
                "lack access to this project's cohorts, or its firewall blocked the request. Nothing further was sent."
            )
        if status == 404 and path != LIST_PATH:
            raise AmplitudeCohortNotFoundError(
                f"Amplitude at {self.host} does not know cohort {cohort_id!r} ({detail or 'HTTP 404'}): "
                "it may have been deleted; look it up again with find_cohort_id or upload it anew."
            )
        raise AmplitudeError(
            f"Amplitude at {self.host} answered HTTP {status} to {path}: {detail or 'no detail'}. "
            "Nothing further was sent."
        )


def _detail(payload: dict) -> str:
    parts = [str(payload[k]) for k in ("type", "message", "error") if payload.get(k)]
    return ": ".join(parts)


def _number(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return 0.0
