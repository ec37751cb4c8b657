"""The ``durable-effect`` command, run as a subprocess against a real server."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from ._support import ServerProcess, run_cli


def cli(server: ServerProcess, *args: str) -> tuple[int, str, str]:
    result = run_cli(*args, "--url", server.url, "--token", server.token or "")
    return result.returncode, result.stdout, result.stderr


def test_add_send_start_then_status_state_list_trigger_terminate(server: ServerProcess) -> None:
    n, p, t = (f"cli-{uuid.uuid4().hex[:6]}" for _ in range(3))
    code, out, err = cli(server, "add", "notes", n, '{"text": "hello"}', "--event-id", "e1")
    assert code == 0, err
    assert "event_count" in out and "debounce:notes:" in out
    code, out, err = cli(server, "send", "pinger", p, "{}", "--json")
    assert code == 0, err
    assert json.loads(out)["created"] is True
    assert cli(server, "start", "ticker", t, '{"runs": 0}')[0] == 0

    code, out, _ = cli(server, "status", f"debounce:notes:{n}")
    assert code == 0 and "debouncing" in out and "FIELD" in out
    code, out, _ = cli(server, "state", f"debounce:notes:{n}", "--json")
    assert code == 0 and json.loads(out) == {"texts": ["hello"]}

    code, out, _ = cli(server, "list", "--job", "notes")
    assert code == 0
    header, _, *rows = out.splitlines()
    assert header.split() == ["INSTANCE", "STATUS", "NEXT", "ALARM", "COUNTS"]
    mine = [row for row in rows if f"debounce:notes:{n}" in row]
    assert len(mine) == 1 and "debouncing" in mine[0], out
    assert "(in 59m" in mine[0] or "(in 1h00m)" in mine[0], out  # flushes an hour after the first note
    code, out, _ = cli(server, "list", "--type", "continuous", "--json")
    assert code == 0
    listed = {item["instance_id"]: item for item in json.loads(out)["instances"]}
    assert listed[f"continuous:ticker:{t}"]["counts"] == {"run_count": 1}

    assert cli(server, "trigger", f"continuous:ticker:{t}")[0] == 0
    code, out, _ = cli(server, "state", f"continuous:ticker:{t}", "--json")
    assert json.loads(out) == {"runs": 2}
    code, out, _ = cli(server, "terminate", f"continuous:ticker:{t}", "--reason", "done", "--json")
    assert code == 0 and json.loads(out) == {"terminated": True, "reason": "done"}
    code, out, _ = cli(server, "flush", f"debounce:notes:{n}", "--json")
    assert code == 0 and json.loads(out) == {"flushed": True, "event_count": 1}


def test_list_reads_a_database_file_directly(server: ServerProcess) -> None:
    n = f"direct-{uuid.uuid4().hex[:6]}"
    assert cli(server, "add", "notes", n, '{"text": "x"}')[0] == 0
    result = run_cli("list", "--db", str(server.db), "--type", "debounce", "--job", "notes", "--json")
    assert result.returncode == 0, result.stderr
    assert f"debounce:notes:{n}" in [item["instance_id"] for item in json.loads(result.stdout)["instances"]]


def test_errors_have_exit_codes_and_messages(server: ServerProcess, tmp_path: Path) -> None:
    code, _, err = cli(server, "state", "task:pinger:nobody")
    assert code == 1 and "InstanceNotFoundError" in err
    code, out, _ = cli(server, "state", "task:pinger:nobody", "--json")
    assert code == 1 and json.loads(out)["_tag"] == "InstanceNotFoundError"  # the error object, like a value
    code, _, err = cli(server, "add", "nope", "x", '{"text": "x"}')
    assert code == 1 and "JobNotFoundError" in err
    code, _, err = cli(server, "add", "notes", "x", '{"wrong": 1}')
    assert code == 1 and "ValidationError" in err
    code, _, err = cli(server, "add", "notes", "x", "{not json")
    assert code == 2 and "not valid JSON" in err
    code, _, err = cli(server, "status", "notes-x")
    assert code == 2 and "type:name:id" in err
    wrong_token = run_cli("status", "debounce:notes:x", "--url", server.url, "--token", "guess")
    assert wrong_token.returncode == 3 and "401" in wrong_token.stderr
    unreachable = run_cli("status", "debounce:notes:x", "--url", "http://127.0.0.1:9")
    assert unreachable.returncode == 3 and "ConnectError" in unreachable.stderr
    for command in (["status", "debounce:notes:x"], ["list"]):  # a URL that is not the API's: exit 3, not 1
        wrong_path = run_cli(*command, "--url", f"{server.url}/wrong", "--token", server.token or "")
        assert wrong_path.returncode == 3 and "HTTP 404" in wrong_path.stderr, wrong_path.stderr
    for text in ('{"text": NaN}', '{"text": 1e999}', "[" * 100_000, '{"text": "\\ud800"}'):  # not storable JSON
        code, _, err = cli(server, "add", "notes", "x", text)
        assert code == 2 and "not valid JSON" in err, err


def test_a_call_answer_shows_times_as_utc_not_relative_to_this_machine(server: ServerProcess) -> None:
    n = f"utc-{uuid.uuid4().hex[:6]}"
    code, out, err = cli(server, "add", "notes", n, '{"text": "x"}')
    assert code == 0, err
    (flush_at,) = [line for line in out.splitlines() if line.startswith("will_flush_at")]
    assert flush_at.rstrip().endswith("Z") and "(in" not in flush_at  # the host's clock may not be this one


def test_serve_refuses_to_listen_beyond_loopback_without_a_token(tmp_path: Path) -> None:
    result = run_cli("serve", "tests.host.app:jobs", "--db", str(tmp_path / "x.sqlite"), "--host", "0.0.0.0")
    assert result.returncode == 2 and "without a bearer token" in result.stderr
    assert not (tmp_path / "x.sqlite").exists()
    result = run_cli("serve", "tests.host.app:nothing", "--db", str(tmp_path / "x.sqlite"))
    assert result.returncode == 2 and "no attribute" in result.stderr
    result = run_cli("serve", "tests.host.app:Ping", "--db", str(tmp_path / "x.sqlite"))
    assert result.returncode == 2 and "not the result of create_durable_jobs" in result.stderr


def test_serve_rejects_out_of_range_options_as_usage_errors(tmp_path: Path) -> None:
    db = str(tmp_path / "x.sqlite")
    for option, value, message in (
        ("--accelerate", "0", "positive number"),
        ("--accelerate", "-5", "positive number"),
        ("--concurrency", "0", "at least 1"),
        ("--port", "70000", "from 1 to 65535"),
        ("--max-body", "-1", "at least 1"),
    ):
        result = run_cli("serve", "tests.host.app:jobs", "--db", db, option, value)
        assert result.returncode == 2 and message in result.stderr, (option, value, result.stderr)
        assert "Traceback" not in result.stderr
    assert not (tmp_path / "x.sqlite").exists()


def test_serve_that_cannot_start_says_why_in_one_line(server: ServerProcess, tmp_path: Path) -> None:
    for db, reason in (
        (str(server.db), "already served by another host"),  # the running server holds its lock
        (str(tmp_path), "cannot open the database"),  # a directory
        (str(tmp_path / "missing" / "x.sqlite"), "cannot open the database"),
    ):
        result = run_cli("serve", "tests.host.app:jobs", "--db", db, "--port", "1")
        assert result.returncode == 3, result.stderr
        assert reason in result.stderr and "Traceback" not in result.stderr, result.stderr
