"""`msgmetrics serve-webhooks`: the real receiver in a subprocess on 127.0.0.1, real HTTP clients,
files checked byte for byte, and `msgmetrics load webhooks` run on the folder it writes."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import random
import re
import resource
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from conftest import REPO, query, run_cli

KEY = "cio-signing-key-for-tests-0123456789abcdef"
EXIT_HOOK_ENV = "MSGMETRICS_RECEIVER_TEST_EXIT_AFTER_COMMIT"


def signature(body: bytes, ts: int | str, key: str = KEY) -> str:
    """Customer.io's X-CIO-Signature, computed here from the spec (customerio-formats §1.2)."""
    return hmac.new(key.encode(), b"v0:" + str(ts).encode() + b":" + body, hashlib.sha256).hexdigest()


def signed(body: bytes, ts: int | None = None, key: str = KEY) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {"X-CIO-Timestamp": str(ts), "X-CIO-Signature": signature(body, ts, key),
            "Content-Type": "application/json"}


class Receiver:
    """`msgmetrics serve-webhooks --port 0 ...` as a subprocess; its log is collected."""

    def __init__(self, out_dir: Path, *args: str, key: str | None = KEY, env: dict | None = None,
                 preexec_fn=None, wrapper: tuple[str, ...] = ()) -> None:
        full_env = {k: v for k, v in os.environ.items()
                    if k not in ("CUSTOMERIO_WEBHOOK_SIGNING_KEY", EXIT_HOOK_ENV)}
        if key is not None:
            full_env["CUSTOMERIO_WEBHOOK_SIGNING_KEY"] = key
        full_env.update(env or {})
        self.out_dir = out_dir
        self.proc = subprocess.Popen(
            [*wrapper, sys.executable, "-m", "msgmetrics.cli", "serve-webhooks", "--out", str(out_dir),
             "--port", "0", *args],
            cwd=REPO, env=full_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=preexec_fn,
        )
        self.lines: list[str] = []
        self._listening = threading.Event()
        self.port: int | None = None
        self.server_pid: int | None = None
        threading.Thread(target=self._read_log, daemon=True).start()
        if not self._listening.wait(30) or self.port is None:
            self.proc.kill()
            raise AssertionError(f"receiver did not start:\n{self.log}")
        self.url = f"http://127.0.0.1:{self.port}/customerio/webhooks"
        self.health_url = f"http://127.0.0.1:{self.port}/healthz"

    def _read_log(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)
            match = re.search(r"listening on http://127\.0\.0\.1:(\d+) .*pid (\d+)", line)
            if match:
                self.port, self.server_pid = int(match.group(1)), int(match.group(2))
                self._listening.set()
        self._listening.set()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def post(self, body: bytes, headers: dict | None = None, session=requests) -> requests.Response:
        return session.post(self.url, data=body, headers=signed(body) if headers is None else headers, timeout=10)

    def health(self) -> requests.Response:
        return requests.get(self.health_url, timeout=10)

    def stop(self, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            os.kill(self.server_pid, signal.SIGTERM)  # the server itself, also when run under strace
        code = self.proc.wait(timeout)
        time.sleep(0.05)  # let the log reader take the last lines
        return code

    def kill(self) -> None:
        if self.proc.poll() is None and getattr(self, "server_pid", None):
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.server_pid, signal.SIGKILL)  # under strace, the server is not self.proc
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)


@pytest.fixture
def receivers():
    started: list[Receiver] = []

    def start(*args, **kwargs) -> Receiver:
        receiver = Receiver(*args, **kwargs)
        started.append(receiver)
        return receiver

    yield start
    for receiver in started:
        receiver.kill()


@pytest.fixture(scope="module")
def bodies(demo_data) -> list[bytes]:
    """Distinct real webhook bodies from the project's generator, exactly as written there."""
    data_dir, _ = demo_data
    seen, out = set(), []
    for path in sorted((data_dir / "webhooks").glob("*.jsonl")):
        for raw in path.read_bytes().splitlines():
            try:
                event = json.loads(raw)
            except ValueError:
                continue  # the generator's deliberately malformed lines
            if isinstance(event, dict) and event.get("event_id") and event["event_id"] not in seen:
                seen.add(event["event_id"])
                out.append(raw)
    assert len(out) > 2000
    return out


def finished_files(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("*.jsonl"))


def open_files(out_dir: Path) -> list[Path]:
    return sorted(out_dir.glob("*.open"))


def lines_on_disk(out_dir: Path, include_open: bool = True) -> list[bytes]:
    files = finished_files(out_dir) + (open_files(out_dir) if include_open else [])
    lines = []
    for path in files:
        data = path.read_bytes()
        assert data == b"" or data.endswith(b"\n"), f"{path.name} ends in a partial line"
        lines += data.splitlines(keepends=True)
    return lines


def event_id(body: bytes) -> str:
    return json.loads(body)["event_id"]


# ---------------------------------------------------------------- signature and body checks
def test_refuses_to_start_without_the_key(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-m", "msgmetrics.cli", "serve-webhooks", "--out", str(tmp_path / "in")],
        cwd=REPO, env={k: v for k, v in os.environ.items() if k != "CUSTOMERIO_WEBHOOK_SIGNING_KEY"},
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert "set CUSTOMERIO_WEBHOOK_SIGNING_KEY" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "in").exists()


def test_signed_request_is_on_disk_byte_exact_before_the_200(receivers, tmp_path, bodies):
    out = tmp_path / "in"
    receiver = receivers(out)
    # a real body, plus one with non-ASCII text and unusual spacing that must survive untouched
    odd = b'{ "event_id" : "01HODD",\t"object_type":"email","metric":"sent","timestamp":1713484800,' \
          b'"data":{"subject":"Caf\xc3\xa9 \\u00e9 \\"quoted\\"","n":1.50E+2} }'
    for body in (bodies[0], odd):
        answer = receiver.post(body)
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"status": "stored"}
    # durable before the answer: already in the active file, which the loader's glob does not match
    (active,) = open_files(out)
    assert active.read_bytes() == bodies[0] + b"\n" + odd + b"\n"
    assert finished_files(out) == []
    health = receiver.health()
    assert health.status_code == 200
    assert health.json()["accepted"] == 2 and health.json()["signature_check"] == "on"
    assert receiver.stop() == 0
    assert open_files(out) == []
    (final,) = finished_files(out)
    assert final.read_bytes() == bodies[0] + b"\n" + odd + b"\n"
    assert final.name == active.name.replace(".open", ".jsonl")
    assert KEY not in receiver.log


def test_bad_signatures_and_timestamps_get_401_and_write_nothing(receivers, tmp_path, bodies):
    out = tmp_path / "in"
    receiver = receivers(out, "--replay-window", "300")
    body, other = bodies[1], bodies[2]
    now = int(time.time())
    captured_long_ago = signed(body, ts=now - 3600)  # a genuine request recorded an hour ago, replayed now
    tampered = body.replace(b'"timestamp":', b'"timestamp": ', 1)  # one byte more, same JSON value
    assert tampered != body and json.loads(tampered) == json.loads(body)
    cases = {  # name -> (bytes sent, headers)
        "unsigned": (body, {"Content-Type": "application/json"}),
        "no signature": (body, {"X-CIO-Timestamp": str(now)}),
        "no timestamp": (body, {"X-CIO-Signature": signature(body, now)}),
        "wrong key": (body, signed(body, key="not-the-key")),
        "tampered body": (tampered, signed(body)),
        "signature of another body": (body, signed(other)),
        # 60 s beyond the 300 s window: the cases are signed up front and sent one after the
        # other, so on a busy machine seconds pass before the later ones arrive (a margin of 1 s
        # let "future timestamp" through once: 301 s ahead when signed, 299 s when received)
        "stale timestamp": (body, signed(body, ts=now - 360)),
        "future timestamp": (body, signed(body, ts=now + 360)),
        "replayed old request": (body, captured_long_ago),
        "timestamp not an integer": (body, {"X-CIO-Timestamp": f"{now}.5",
                                            "X-CIO-Signature": signature(body, f"{now}.5")}),
        "signature not hex": (body, {"X-CIO-Timestamp": str(now), "X-CIO-Signature": "z" * 64}),
        "signed without the timestamp": (body, {"X-CIO-Timestamp": str(now), "X-CIO-Signature":
                                                hmac.new(KEY.encode(), body, "sha256").hexdigest()}),
    }
    reasons = {}
    for name, (sent, headers) in cases.items():
        answer = receiver.post(sent, headers=headers)
        assert answer.status_code == 401, (name, answer.status_code, answer.text)
        reasons[name] = answer.json()["error"]
    assert "missing X-CIO-Timestamp" in reasons["unsigned"]
    assert "missing X-CIO-Timestamp" in reasons["no timestamp"]
    assert "missing X-CIO-Signature" in reasons["no signature"]
    assert "does not match" in reasons["wrong key"] and "does not match" in reasons["tampered body"]
    assert "outside the replay window" in reasons["stale timestamp"] and "old" in reasons["stale timestamp"]
    assert "in the future" in reasons["future timestamp"]
    assert "outside the replay window" in reasons["replayed old request"]
    # inside the window, either way, is accepted (clock skew)
    assert receiver.post(other, headers=signed(other, ts=now - 240)).status_code == 200
    assert receiver.post(body, headers=signed(body, ts=now + 240)).status_code == 200
    assert receiver.health().json()["rejected"]["401"] == len(cases)
    assert receiver.stop() == 0
    assert sorted(lines_on_disk(out)) == sorted([other + b"\n", body + b"\n"])
    assert receiver.log.count("401 from 127.0.0.1") == len(cases)
    assert KEY not in receiver.log


def test_only_401s_write_no_file_at_all(receivers, tmp_path, bodies):
    out = tmp_path / "in"
    receiver = receivers(out)
    for _ in range(3):
        assert receiver.post(bodies[0], headers=signed(bodies[0], key="wrong")).status_code == 401
    assert receiver.stop() == 0
    assert sorted(p.name for p in out.iterdir()) == [".msgmetrics-receiver.lock"]


def test_bodies_that_are_not_one_json_object_get_400(receivers, tmp_path):
    out = tmp_path / "in"
    receiver = receivers(out)
    bad = {
        b"not json at all": "not valid JSON",
        b'{"event_id": "e1", ': "not valid JSON",
        b'[{"event_id": "e1"}]': "not a JSON object (got an array)",
        b'"a string"': "not a JSON object (got a string)",
        b'{"event_id": "e1", "n": NaN}': "NaN is not a JSON value",
        b"": "empty body",
        '{"event_id": "e1"}'.encode("utf-16"): "not UTF-8",
        b'{"event_id": "e1", "s": "\xff"}': "not UTF-8",
        b'{"event_id": "e1", "s": "raw\nnewline in a string"}': "not valid JSON",
    }
    for body, reason in bad.items():
        answer = receiver.post(body)
        assert answer.status_code == 400, (body, answer.text)
        assert reason in answer.json()["error"], (body, answer.json())
    assert receiver.stop() == 0
    assert lines_on_disk(out) == []
    assert receiver.log.count("400 from 127.0.0.1") == len(bad)
    assert "Customer.io will retry it" in receiver.log


def test_pretty_printed_body_becomes_one_valid_line(receivers, tmp_path):
    out = tmp_path / "in"
    receiver = receivers(out)
    body = b'{\r\n  "event_id": "01HPRETTY",\n  "object_type": "email",\n  "metric": "opened",\n' \
           b'  "timestamp": 1713484805,\n  "data": {"subject": "line\\nbreak"}\n}\n'
    assert receiver.post(body).status_code == 200  # signed over the raw bytes, line breaks included
    assert receiver.stop() == 0
    (line,) = lines_on_disk(out)
    assert line == body.replace(b"\r", b" ").replace(b"\n", b" ") + b"\n"
    assert json.loads(line) == json.loads(body)


def test_body_over_the_limit_gets_413(receivers, tmp_path, bodies):
    out = tmp_path / "in"
    receiver = receivers(out, "--max-body-bytes", "1000")
    big = b'{"event_id":"big","pad":"' + b"x" * 2000 + b'"}'
    answer = receiver.post(big)
    assert answer.status_code == 413 and "larger than 1000 bytes" in answer.json()["error"]
    small = bodies[0]
    assert len(small) < 1000 and receiver.post(small).status_code == 200
    assert receiver.stop() == 0
    assert lines_on_disk(out) == [small + b"\n"]


def test_insecure_mode_accepts_unsigned_and_says_so(receivers, tmp_path, bodies):
    out = tmp_path / "in"
    receiver = receivers(out, "--insecure-no-signature", key=None)
    assert "SIGNATURE CHECK DISABLED" in receiver.log
    assert receiver.post(bodies[0], headers={}).status_code == 200
    assert receiver.health().json()["signature_check"].startswith("OFF")
    assert receiver.stop() == 0
    assert lines_on_disk(out) == [bodies[0] + b"\n"]


def test_a_second_receiver_on_the_same_folder_is_refused(receivers, tmp_path):
    out = tmp_path / "in"
    receivers(out)
    proc = subprocess.run(
        [sys.executable, "-m", "msgmetrics.cli", "serve-webhooks", "--out", str(out), "--port", "0"],
        cwd=REPO, env={**os.environ, "CUSTOMERIO_WEBHOOK_SIGNING_KEY": KEY},
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 1
    assert "another receiver is already writing to" in proc.stderr and "Traceback" not in proc.stderr


# ---------------------------------------------------------------- concurrency, rotation, loading
def test_concurrent_senders_every_body_once_files_rotate_and_load_dedups(receivers, tmp_path, bodies):
    out = tmp_path / "in"
    receiver = receivers(out, "--rotate-bytes", "40000")
    threads_n, per_thread = 20, 60
    chosen = list(bodies[: threads_n * per_thread])
    # every 10th body is sent a second time, like a Customer.io retry (re-signed, new request)
    plan = [chosen[t * per_thread:(t + 1) * per_thread] for t in range(threads_n)]
    plan = [own + own[::10] for own in plan]
    for t, own in enumerate(plan):
        random.Random(t).shuffle(own)
    accepted: list[list[bytes]] = [[] for _ in range(threads_n)]
    failures: list[str] = []

    def sender(t: int) -> None:
        with requests.Session() as session:  # keep-alive, one connection per sender
            for body in plan[t]:
                answer = receiver.post(body, session=session)
                if answer.status_code == 200:
                    accepted[t].append(body)
                else:
                    failures.append(f"{answer.status_code} {answer.text}")

    threads = [threading.Thread(target=sender, args=(t,)) for t in range(threads_n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    sent = [body + b"\n" for own in accepted for body in own]
    assert len(sent) == sum(len(own) for own in plan)
    # one more event, so the active file surely holds an event no finished file has
    for extra in bodies[len(chosen):len(chosen) + 2]:
        assert receiver.post(extra).status_code == 200
        chosen.append(extra)
        sent.append(extra + b"\n")
        if open_files(out):
            break
    # every accepted body is on disk exactly as many times as it was accepted, nothing else is
    assert Counter(lines_on_disk(out)) == Counter(sent)
    for line in lines_on_disk(out):
        assert isinstance(json.loads(line), dict)
    assert len(finished_files(out)) >= 5
    (active,) = open_files(out)  # the tail is still being written
    in_finished = {event_id(line) for line in lines_on_disk(out, include_open=False)}
    only_in_active = {event_id(line) for line in active.read_bytes().splitlines()} - in_finished
    assert in_finished and only_in_active

    # `load webhooks` on the live folder reads the finished files only
    warehouse = tmp_path / "wh.duckdb"
    run_cli(warehouse, "load", "webhooks", str(out))
    loaded = {r[0] for r in query(warehouse, "select event_id from raw_customerio.webhook_events")}
    assert loaded == in_finished

    assert receiver.stop() == 0
    assert open_files(out) == []
    assert Counter(lines_on_disk(out)) == Counter(sent)
    proc = run_cli(warehouse, "load", "webhooks", str(out))
    assert "unchanged skipped" in proc.stdout
    rows = query(warehouse, "select event_id, count(*) from raw_customerio.webhook_events group by 1")
    assert {r[0] for r in rows} == {event_id(b) for b in chosen}
    assert all(r[1] == 1 for r in rows) and len(rows) == len(chosen)


def test_files_rotate_by_age_while_the_receiver_runs(receivers, tmp_path, bodies):
    out = tmp_path / "in"
    receiver = receivers(out, "--rotate-seconds", "0.5")
    assert receiver.post(bodies[0]).status_code == 200
    deadline = time.time() + 10
    while not finished_files(out) and time.time() < deadline:
        time.sleep(0.05)
    assert [p.read_bytes() for p in finished_files(out)] == [bodies[0] + b"\n"]
    assert open_files(out) == []  # no empty file is kept open while idle
    assert receiver.post(bodies[1]).status_code == 200
    assert receiver.stop() == 0
    assert [p.read_bytes() for p in finished_files(out)] == [bodies[0] + b"\n", bodies[1] + b"\n"]


def test_load_on_a_folder_with_only_the_active_file_is_a_no_op_that_says_why(receivers, tmp_path, bodies):
    """A scheduled `run` before the receiver's first rotation: nothing to load yet, not a failure;
    the event is loaded once its file is finished."""
    out, warehouse = tmp_path / "in", tmp_path / "wh.duckdb"
    receiver = receivers(out)
    assert receiver.post(bodies[0]).status_code == 200
    proc = run_cli(warehouse, "load", "webhooks", str(out))
    assert "webhooks: nothing to load: no finished input files" in proc.stdout
    assert "still writing (*.open)" in proc.stdout and "Traceback" not in proc.stderr
    assert not warehouse.exists() or query(warehouse, """
        select count(*) from information_schema.tables where table_name = 'webhook_events'""") == [(0,)]
    assert receiver.stop() == 0
    proc = run_cli(warehouse, "load", "webhooks", str(out))
    assert "1 new" in proc.stdout
    assert query(warehouse, "select count(*) from raw_customerio.webhook_events") == [(1,)]


# ---------------------------------------------------------------- faults
def test_crash_between_write_and_answer_then_retry_loads_the_event_once(receivers, tmp_path, bodies):
    out = tmp_path / "in"
    body = bodies[3]
    crashing = receivers(out, env={EXIT_HOOK_ENV: "1"})
    with pytest.raises(requests.ConnectionError):
        crashing.post(body)  # no answer: the process died after the fsync
    assert crashing.proc.wait(10) == 70
    (left_open,) = open_files(out)
    assert left_open.read_bytes() == body + b"\n"  # durable although never acknowledged

    restarted = receivers(out)
    assert "1 file(s) from a previous run finished" in restarted.log
    assert open_files(out) == [] and [p.read_bytes() for p in finished_files(out)] == [body + b"\n"]
    answer = restarted.post(body)  # Customer.io's retry: same body, new timestamp and signature
    assert answer.status_code == 200
    assert restarted.stop() == 0
    assert lines_on_disk(out) == [body + b"\n", body + b"\n"]

    warehouse = tmp_path / "wh.duckdb"
    run_cli(warehouse, "load", "webhooks", str(out))
    assert query(warehouse, "select event_id from raw_customerio.webhook_events") == [(event_id(body),)]


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to see the order of system calls")
def test_each_200_is_sent_only_after_its_body_is_fdatasynced(receivers, tmp_path, bodies):
    """The order of the receiver's system calls: write(body) -> fdatasync -> send("HTTP/1.1 200")."""
    out, trace = tmp_path / "in", tmp_path / "strace.txt"
    receiver = receivers(out, wrapper=("strace", "-f", "-qq", "-s", "48", "-o", str(trace),
                                       "-e", "trace=write,writev,sendto,sendmsg,fdatasync,fsync"))
    sent = bodies[10:16]
    for body in sent:  # one at a time: each is its own commit
        assert receiver.post(body).status_code == 200
    assert receiver.stop() == 0
    events = []
    for line in trace.read_text().splitlines():
        call = line.split(None, 1)[1] if " " in line else line
        if re.match(r"(<\.\.\. )?f(data)?sync", call) and call.rstrip().endswith("= 0") \
                and "<unfinished" not in call:
            events.append("sync")
        elif call.startswith("write(") and any(event_id(b) in call for b in sent):
            events.append(next(event_id(b) for b in sent if event_id(b) in call))
        elif "HTTP/1.1 200" in call:
            events.append("200")
    # in order: each body's write, then its answer (and nothing of the next body in between) ...
    assert [e for e in events if e != "sync"] == [e for b in sent for e in (event_id(b), "200")], events
    # ... with a completed sync between the two
    for body in sent:
        written = events.index(event_id(body))
        answered = events.index("200", written)
        assert "sync" in events[written:answered], events


def test_restart_cuts_an_unacknowledged_partial_line(receivers, tmp_path, bodies):
    out = tmp_path / "in"
    out.mkdir()
    leftover = out / "webhooks-20261101T000000.000000Z.open"
    leftover.write_bytes(bodies[0] + b"\n" + bodies[1][:25])  # a crash in the middle of a write
    receiver = receivers(out)
    assert "unacknowledged partial line dropped" in receiver.log
    assert receiver.post(bodies[2]).status_code == 200
    assert receiver.stop() == 0
    assert [p.read_bytes() for p in finished_files(out)] == [bodies[0] + b"\n", bodies[2] + b"\n"]


def test_graceful_shutdown_under_load_leaves_no_partial_line(receivers, tmp_path, bodies):
    out = tmp_path / "in"
    receiver = receivers(out)
    acked: list[bytes] = []
    attempted: list[bytes] = []
    errors: list[str] = []
    stop_sending = threading.Event()
    lock = threading.Lock()
    pool = iter(bodies)

    def sender() -> None:
        with requests.Session() as session:
            while not stop_sending.is_set():
                with lock:
                    body = next(pool)
                    attempted.append(body)
                try:
                    answer = receiver.post(body, session=session)
                except requests.ConnectionError:
                    return  # the listening socket is closed
                except requests.RequestException as exc:  # e.g. a request left hanging
                    errors.append(repr(exc))
                    return
                if answer.status_code == 200:
                    with lock:
                        acked.append(body)
                elif answer.status_code != 503:
                    raise AssertionError(answer.text)

    threads = [threading.Thread(target=sender) for _ in range(8)]
    for thread in threads:
        thread.start()
    time.sleep(1.5)
    started = time.monotonic()
    assert receiver.stop() == 0  # SIGTERM while the senders are busy
    assert time.monotonic() - started < 10
    stop_sending.set()
    for thread in threads:
        thread.join(30)
    assert errors == []
    assert len(acked) > 50
    assert open_files(out) == []
    on_disk = lines_on_disk(out)  # asserts every file ends in a newline
    assert set(body + b"\n" for body in acked) <= set(on_disk)
    assert set(on_disk) <= set(body + b"\n" for body in attempted)
    assert len(on_disk) == len(set(on_disk))
    assert "stopped:" in receiver.log


def test_a_failing_disk_answers_503_and_never_loses_an_acknowledged_body(receivers, tmp_path, bodies):
    """The file size limit (RLIMIT_FSIZE) makes writes fail with EFBIG, as a full disk would."""
    out = tmp_path / "in"
    limit = 6000

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    receiver = receivers(out, "--rotate-bytes", "1000000", preexec_fn=limit_file_size)
    answers = []
    health_after_failure = None
    for body in bodies[:40]:
        answer = receiver.post(body)
        answers.append((body, answer.status_code))
        if answer.status_code == 503 and health_after_failure is None:
            health_after_failure = receiver.health()
    codes = [code for _, code in answers]
    assert set(codes) == {200, 503}, codes
    assert codes.index(503) < len(codes) - 1 and 200 in codes[codes.index(503):]  # it recovers
    assert health_after_failure.status_code == 503
    assert "File too large" in health_after_failure.json()["last_error"]
    assert "answering 503 so Customer.io retries" in receiver.log
    assert receiver.stop() == 0
    assert open_files(out) == []
    assert len(finished_files(out)) >= 2
    assert lines_on_disk(out) == [body + b"\n" for body, code in answers if code == 200]


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to inject the fault")
def test_a_failed_fdatasync_answers_503_and_drops_that_batch(receivers, tmp_path, bodies):
    """The second fdatasync fails with EIO (injected by strace): its body gets 503 and is cut from
    the file; the next body goes to a new file; every 200 is on disk."""
    out = tmp_path / "in"
    receiver = receivers(out, wrapper=("strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync",
                                       "-e", "inject=fdatasync:error=EIO:when=2"))
    codes = [receiver.post(body).status_code for body in bodies[:3]]
    assert codes == [200, 503, 200]
    assert receiver.stop() == 0
    assert [p.read_bytes() for p in finished_files(out)] == [bodies[0] + b"\n", bodies[2] + b"\n"]
    assert open_files(out) == []
    assert "Input/output error" in receiver.log


@pytest.mark.skipif(shutil.which("strace") is None, reason="needs strace to inject the fault")
def test_a_slow_disk_gets_503_before_customerio_gives_up(receivers, tmp_path, bodies):
    """fdatasync takes 2 s (injected): the answer is a 503 at the answer timeout, not a hang."""
    out = tmp_path / "in"
    receiver = receivers(out, "--answer-timeout", "0.5",
                         wrapper=("strace", "-f", "-qq", "-o", "/dev/null", "-e", "trace=fdatasync",
                                  "-e", "inject=fdatasync:delay_exit=2000000:when=1"))
    started = time.monotonic()
    answer = receiver.post(bodies[0])
    took = time.monotonic() - started
    assert answer.status_code == 503 and answer.json() == {"error": "storage too slow; retry"}
    assert 0.4 < took < 1.9
    time.sleep(max(0.0, started + 2.5 - time.monotonic()))  # the slow sync is over
    assert receiver.post(bodies[1]).status_code == 200
    assert receiver.stop() == 0
    # the slow one did reach the disk: Customer.io's retry makes a duplicate, which the loader drops
    assert lines_on_disk(out) == [bodies[0] + b"\n", bodies[1] + b"\n"]
