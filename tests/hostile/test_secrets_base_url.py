"""Hostile corpus, secrets: credentials inside `teacher.base_url` (user:password@host, a token as
the user, a key or signature in the query string) and the API key never reach an error message,
a log line, `teacher check`'s output or any file (cache entries, batch records), in every way a
request can go wrong. Tested the way tests/unit/teachers/test_teacher_openai.py tests the API key: plant the
secret, run the real code against a real local server, and look for it everywhere."""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import quote

import pytest
import yaml
from typer.testing import CliRunner

from fake_openai import FakeOpenAI, status
from evokd.errors import BatchPending, TeacherError
from evokd.teachers.openai import OpenAITeacher
from evokd.teachers.redact import Redactor, display_url
from fake_openai import FEEDBACK, KEY, LABELS, make_cfg
from conftest import ROOT

PASSWORD, QUERY_KEY, SIG, TOKEN_USER = "pw-SECRET-1", "QKEY-SECRET-2", "SIG+SECRET/3", "TOKENUSER-SECRET-4"
SECRETS = [KEY, PASSWORD, QUERY_KEY, SIG, quote(SIG, safe=""), TOKEN_USER]


def with_creds(url: str, form: str) -> str:
    """The fake server's URL with credentials of one `form` planted in it."""
    host = url.removeprefix("http://")
    return {
        "userinfo": f"http://alice:{PASSWORD}@{host}",
        "token-user": f"http://{TOKEN_USER}@{host}",
        "query": f"http://{host}?api-version=2024-06-01&api-key={QUERY_KEY}&sig={quote(SIG, safe='')}",
        "all": f"http://alice:{PASSWORD}@{host}?api-key={QUERY_KEY}&sig={quote(SIG, safe='')}",
    }[form]


FORMS = ["userinfo", "token-user", "query", "all"]


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        for secret in SECRETS:
            assert secret not in text, f"{secret!r} leaked into: {text[:300]}"


def files_text(folder: Path) -> str:
    return "\n".join(p.read_bytes().decode("utf-8", "replace") for p in folder.rglob("*") if p.is_file())


# -- the one redaction function -------------------------------------------------------------------
@pytest.mark.parametrize("url, shown", [
    ("https://api.openai.com/v1", "https://api.openai.com/v1"),
    ("http://alice:pw@host:8000/v1", "http://***@host:8000/v1"),
    ("http://TOKEN@host/v1", "http://***@host/v1"),
    ("https://h/v1?api-key=abc", "https://h/v1?api-key=***"),
    ("https://h/v1?api-version=2024-06-01&api_key=abc", "https://h/v1?api-version=2024-06-01&api_key=***"),
    ("https://h/o?sv=2022&sig=a%2Fb%3D&se=2030", "https://h/o?sv=2022&sig=***&se=2030"),
    ("https://h/v1?X-Amz-Credential=AK%2F1&X-Amz-Signature=ff&X-Amz-Security-Token=tt",
     "https://h/v1?X-Amz-Credential=***&X-Amz-Signature=***&X-Amz-Security-Token=***"),
    ("https://h/v1?access_token=t&code=c&region=eu", "https://h/v1?access_token=***&code=***&region=eu"),
    ("https://h/v1#frag-secret", "https://h/v1#***"),
    ("https://h/v1/sk-proj-abcdefghijklmnopqrstuvwx/chat", "https://h/v1/***/chat"),
    ("http://u:p@[::1]:80/v1", "http://***@[::1]:80/v1"),
])
def test_display_url_masks_every_credential_form(url, shown):
    assert display_url(url) == shown


@pytest.mark.parametrize("text", [
    f"Connection refused: http://alice:{PASSWORD}@127.0.0.1:1/v1",
    f"GET /v1?api-key={QUERY_KEY} 404",
    f"signature {quote(SIG, safe='')} rejected",
    f"signature {SIG} rejected",
    f"Incorrect API key provided: {KEY}",
    f"user {TOKEN_USER} unknown",
])
def test_redactor_masks_each_spelling_of_a_configured_secret(text):
    redact = Redactor([with_creds("http://127.0.0.1:1/v1", "all"), with_creds("http://h/v1", "token-user")], KEY)
    assert_no_secret(redact(text))
    assert "***" in redact(text)


# -- end to end: every way a request fails, and what is stored ------------------------------------
@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("failure", ["401", "404-echoes-url", "500-until-give-up", "refused"])
def test_errors_logs_and_files_hold_no_url_secret(tmp_path, caplog, form, failure):
    caplog.set_level(logging.DEBUG)
    with FakeOpenAI() as server:
        url = with_creds(server.url, form)
        if failure == "refused":
            url = with_creds("http://127.0.0.1:9/v1", form)  # the discard port: nothing listens
        elif failure == "401":
            server.script(status(401, message="bad credentials"))
        elif failure == "404-echoes-url":
            server.script(status(404, message=f"no route {url} for key {KEY}"))
        else:
            server.script(*[status(500, message=f"upstream {url} down")] * 3)
        cfg = make_cfg(server, tmp_path, base_url=url, max_tries=3, timeout_s=2)
        with pytest.raises(TeacherError) as err:
            OpenAITeacher(cfg, api_key=KEY).analyze(1, FEEDBACK, LABELS)
    assert "***" in str(err.value)  # the endpoint is named, its credentials masked
    assert_no_secret(str(err.value), caplog.text, files_text(tmp_path))


@pytest.mark.parametrize("form", FORMS)
def test_batch_records_and_messages_hold_no_url_secret(tmp_path, caplog, form):
    """Userinfo: submitted, recorded (endpoint masked), collected. A query string in the base
    URL: the SDK cannot build the Batch API's file URLs from it, so the upload fails with a
    TeacherError, which names the endpoint masked."""
    caplog.set_level(logging.DEBUG)
    samples = [{"id": f"s{i}", "text": f"Where is town {i} ?"} for i in range(4)]
    with FakeOpenAI() as server:
        server.batch_polls = 0  # done at the first look-up
        cfg = make_cfg(server, tmp_path, base_url=with_creds(server.url, form), mode="batch",
                       label={"batch_size": 2}, max_tries=1)
        if form in ("query", "all"):
            with pytest.raises(TeacherError, match=r"the Batch API at http://.*\*\*\*.* failed to upload") as err:
                OpenAITeacher(cfg, api_key=KEY).label(samples, LABELS)
        else:
            with pytest.raises(BatchPending) as err:
                OpenAITeacher(cfg, api_key=KEY).label(samples, LABELS)
            records = list((tmp_path / "cache" / "batches").glob("*.record"))
            assert len(records) == 1 and '"endpoint": "http://***@127.0.0.1' in records[0].read_text()
            answers = OpenAITeacher(cfg, api_key=KEY).label(samples, LABELS)  # collected
            assert all(a.get("label") in LABELS for a in answers.values())
    assert_no_secret(str(err.value), caplog.text, files_text(tmp_path))


def _params(tmp_path: Path, url: str) -> Path:
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["teacher"].update({"provider": "openai", "model": "fake-model", "base_url": url,
                              "cache_dir": str(tmp_path / "cache"), "backoff_s": 0.01,
                              "max_backoff_s": 0.05, "max_tries": 2, "timeout_s": 2})
    path = tmp_path / "params.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


@pytest.mark.parametrize("form", FORMS)
@pytest.mark.parametrize("outcome", ["ok", "401"])
def test_teacher_check_output_holds_no_url_secret(tmp_path, monkeypatch, form, outcome):
    from evokd.cli import app

    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeOpenAI() as server:
        if outcome == "401":
            server.script(status(401), status(401))
        url = with_creds(server.url, form)
        result = CliRunner().invoke(app, ["teacher", "check", "--params", str(_params(tmp_path, url))])
    output = result.output + (result.stderr if result.stderr_bytes is not None else "")
    assert result.exit_code == (0 if outcome == "ok" else 2), output
    assert ("ok: " if outcome == "ok" else "error: ") in output and "Traceback" not in output
    assert display_url(url).split("?")[0].replace("http://", "") in output.replace("http://", "")
    assert_no_secret(output)
