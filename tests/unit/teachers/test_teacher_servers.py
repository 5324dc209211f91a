"""The openai teacher against endpoints that differ (tests/fake_openai.py, per each provider's
documented behaviour): an OpenAI reasoning model (no max_tokens, no temperature, hidden reasoning
tokens, empty replies cut at the cap), Azure OpenAI's URL shape and key header, and a server that
refuses a JSON-schema response_format; `evokd teacher check` per stage. See docs/teacher-servers.md."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from fake_openai import FakeOpenAI, openai_config, reply, status
from evokd.config import ignored_params, parse_config
from evokd.teachers.budget import estimate_prompt_tokens
from evokd.errors import ConfigError, TeacherError
from evokd.teachers.base import SynthesisRequest
from evokd.teachers.dispatch import ChatRequest, _tokens
from evokd.teachers.openai import OpenAITeacher

ROOT = Path(__file__).resolve().parents[3]
LABELS = ["DESC", "HUM", "LOC", "NUM"]
KEY = "sk-planted-AZURE-4b1d7e"
AZURE = {"deployment": "evokd-o3", "api_version": "2024-12-01-preview", "key": KEY}
O3_PRICE = {"o3-mini": {"prompt": 1.10, "completion": 4.40}}
SAMPLES = [{"id": f"s{i}", "text": f"Where is city number {i} ?"} for i in range(3)]
FEEDBACK = [
    {"id": "a", "text": "Where is the Eiffel Tower ?", "label": "LOC", "predicted": "HUM", "correct": False},
    {"id": "c", "text": "Who wrote Hamlet ?", "label": "HUM", "predicted": "HUM", "correct": True},
]


def synth_request():
    return SynthesisRequest(round=1, labels=LABELS, feedback=FEEDBACK, known=[],
                            analysis={"summary": "Confuses places.", "weak_labels": ["LOC"]}, n_hard=3, n_easy=1)


@pytest.fixture
def server(request):
    kwargs = getattr(request, "param", {"provider": "reasoning"})
    with FakeOpenAI(**kwargs) as fake:
        yield fake


# -- which model is a reasoning model, and what goes out ------------------------------------

def test_reasoning_models_by_name_and_the_output_field_by_endpoint(tmp_path):
    from evokd.config import looks_like_reasoning_model

    assert [m for m in ("o1", "o1-mini", "o3", "o3-mini", "o4-mini", "gpt-5", "gpt-5-mini", "gpt-5-nano",
                        "openai/o3-mini", "O4-MINI") if not looks_like_reasoning_model(m)] == []
    assert [m for m in ("gpt-4o", "gpt-4o-mini", "gpt-4.1-mini", "llama3.1", "qwen-o3", "o", "omni", None)
            if looks_like_reasoning_model(m)] == []

    def teacher(**keys):
        params = yaml.safe_load((ROOT / "params.yaml").read_text())
        params["teacher"].update({"provider": "openai", "model": "gpt-4o-mini", **keys})
        return parse_config(params).teacher

    assert teacher().resolved_token_param() == "max_completion_tokens"  # api.openai.com
    assert teacher(base_url="https://api.openai.com/v1").resolved_token_param() == "max_completion_tokens"
    assert teacher(base_url="http://localhost:8000/v1").resolved_token_param() == "max_tokens"  # vLLM & co
    assert teacher(base_url="http://localhost:8000/v1", model="o3-mini").resolved_token_param() == "max_completion_tokens"
    assert teacher(base_url="http://localhost:8000/v1", reasoning=True).resolved_token_param() == "max_completion_tokens"
    assert teacher(model="o3-mini", token_param="max_tokens").resolved_token_param() == "max_tokens"
    azure = {"endpoint": "https://r.openai.azure.com", "api_version": "2024-10-21"}
    assert teacher(azure=azure).resolved_token_param() == "max_completion_tokens"
    assert teacher(model="o3-mini").output_cap() == 2048 + 8192
    assert teacher(model="o3-mini", reasoning=False).output_cap() == 2048
    assert teacher(model="gpt-4o-mini").output_cap() == 2048
    for bad, says in ((dict(azure=azure, base_url="http://x/v1"), "teacher.base_url: null"),
                      (dict(azure=azure, mode="batch"), "teacher.mode: online"),
                      (dict(azure={**azure, "endpoint": "r.openai.azure.com"}), "must be a URL"),
                      (dict(reasoning_effort="extreme"), "teacher.reasoning_effort")):
        with pytest.raises(ConfigError, match="teacher") as err:
            teacher(**bad)
        assert says in str(err.value)


def test_a_chat_model_with_default_settings_keeps_the_request_and_cache_key_it_had(tmp_path):
    """The params (hence the cache keys) of a non-reasoning model are those of earlier versions."""
    from evokd.teachers.openai import sampling_params

    with FakeOpenAI("compatible") as fake:
        cfg = openai_config(fake, tmp_path)
        label = sampling_params(cfg, "label", LABELS)
        assert {k: v for k, v in label.items() if k != "response_format"} == \
            {"temperature": 0.0, "max_tokens": 2048, "seed": 42}
        assert sampling_params(cfg, "analyze", LABELS)["temperature"] == 0.9
        teacher = OpenAITeacher(cfg)
        teacher.label(SAMPLES, LABELS)
        body = fake.requests[0]["body"]
        assert body["max_tokens"] == 2048 and "max_completion_tokens" not in body and body["temperature"] == 0.0
        assert "reasoning_effort" not in body
        assert teacher.request_shape() == {"reasoning": False, "token_param": "max_tokens", "output_cap": 2048,
                                           "reasoning_effort": None, "seed": True, "json_schema": True}


def test_reasoning_model_gets_its_request_shape_and_pays_for_hidden_reasoning(server, tmp_path):
    from evokd.teachers.openai import sampling_params

    cfg = openai_config(server, tmp_path, model="o3-mini", reasoning_effort="low", prices=O3_PRICE)
    teacher = OpenAITeacher(cfg)
    teacher.analyze(1, FEEDBACK, LABELS)
    samples = teacher.synthesize(synth_request())
    answers = teacher.label(SAMPLES, LABELS)
    assert len(samples) == 4 and all("label" in a for a in answers.values())
    n = len(server.requests)
    assert n == 1 + 3 + 1 and [r for r in server.requests if "refused" in r] == []
    for r in server.requests:
        body = r["body"]
        assert body["max_completion_tokens"] == 2048 + 8192 and body["reasoning_effort"] == "low"
        assert "max_tokens" not in body and "temperature" not in body and body["seed"] == 42
    # OpenAI counts reasoning tokens inside completion_tokens: 50 visible + 256 hidden per reply.
    u = teacher.usage
    assert (u.prompt_tokens, u.completion_tokens, u.reasoning_tokens) == (100 * n, 306 * n, 256 * n)
    assert u.cost_usd == pytest.approx((100 * n * 1.10 + 306 * n * 4.40) / 1e6)
    assert teacher.ledger.tokens == 406 * n  # what teacher.budget is checked against
    # The budget reserves the whole cap (hidden reasoning included) for each request.
    request = ChatRequest([{"role": "user", "content": "x" * 300}], sampling_params(cfg, "label", LABELS), "label")
    prompt_bound = estimate_prompt_tokens(request.messages, request.sampling["response_format"])
    assert teacher.dispatcher.reservation(request) == prompt_bound + 2048 + 8192
    shape = teacher.request_shape()
    assert shape["token_param"] == "max_completion_tokens" and shape["output_cap"] == 10240
    assert shape["not_sent"] == {"teacher.temperature": 0.9, "teacher.label_temperature": 0.0}
    # Never silent: the first stage of round 1 warns about the temperatures it does not send.
    lines = ignored_params(cfg, "synthesize") + ignored_params(cfg, "label")
    assert len(lines) == 2 and "teacher.temperature is 0.9 but is not sent" in lines[0]
    assert "teacher.label_temperature is 0 but is not sent" in lines[1]
    # A re-run finds every reply in the cache, and counts them alike.
    again = OpenAITeacher(cfg)
    again.label(SAMPLES, LABELS)
    assert len(server.requests) == n and again.usage.reasoning_tokens == 256


def test_reply_empty_after_reasoning_is_truncated_and_named(server, tmp_path, caplog):
    server.reasoning_tokens = 5000  # more than the whole cap
    cfg = openai_config(server, tmp_path, model="o3-mini", max_tokens=512, reasoning_headroom=1024)
    teacher = OpenAITeacher(cfg)
    with caplog.at_level(logging.WARNING, logger="evokd.teachers.openai"):
        answers = teacher.label(SAMPLES, LABELS)
    assert list(answers.values()) == [{"error": "unreadable reply (truncated)"}] * 3
    assert teacher.usage.truncated == 1 and teacher.rejected["label:truncated"] == 1
    assert teacher.usage.completion_tokens == 1536 and teacher.usage.reasoning_tokens == 1536
    note = teacher.request_shape()["truncated"][0]
    assert note == ("empty reply: all 1536 completion tokens went to hidden reasoning (1536), the output cap "
                    "is 1536; raise teacher.reasoning_headroom or lower teacher.reasoning_effort")
    assert note in caplog.text
    # With room for the reasoning the same request answers (another cap: another cache key).
    roomy = OpenAITeacher(openai_config(server, tmp_path, model="o3-mini", max_tokens=512, reasoning_headroom=8192))
    assert all("label" in a for a in roomy.label(SAMPLES, LABELS).values())
    assert roomy.usage.truncated == 0


def test_refused_output_field_switches_once_is_recorded_and_keeps_the_cache_key(server, tmp_path, caplog):
    """A proxy in front of a reasoning model, under a name that does not say so: evokd sends
    max_tokens (a local URL), the 400 names it, and the same request goes out as
    max_completion_tokens; a later teacher set up for max_completion_tokens finds the reply."""
    cfg = openai_config(server, tmp_path, model="team-proxy", temperature=None, label_temperature=None)
    teacher = OpenAITeacher(cfg)
    with caplog.at_level(logging.WARNING, logger="evokd.teachers.client"):
        teacher.label(SAMPLES, LABELS)
        teacher.analyze(1, FEEDBACK, LABELS)
    first, second, third = server.requests
    assert first["refused"] == 400 and first["body"]["max_tokens"] == 2048
    assert "max_tokens" not in second["body"] and second["body"]["max_completion_tokens"] == 2048
    assert "max_completion_tokens" in third["body"]  # later requests go out right at once
    assert teacher.usage.requests == 3 and teacher.usage.calls == 2
    assert teacher.request_shape()["adaptations"] == [
        f"token_param: max_tokens -> max_completion_tokens ({server.url} refused 'max_tokens')"]
    assert "sending the output cap as 'max_completion_tokens' from now on" in caplog.text
    fixed = OpenAITeacher(openai_config(server, tmp_path, model="team-proxy", temperature=None,
                                        label_temperature=None, token_param="max_completion_tokens"))
    fixed.label(SAMPLES, LABELS)
    assert len(server.requests) == 3 and fixed.usage.cache_hits == 1


def test_refused_temperature_stops_with_what_to_set(server, tmp_path):
    cfg = openai_config(server, tmp_path, model="team-proxy", token_param="max_completion_tokens", max_tries=3)
    with pytest.raises(TeacherError) as err:
        OpenAITeacher(cfg).label(SAMPLES, LABELS)
    message = str(err.value)
    assert "Unsupported value: 'temperature' does not support 0.0 with this model" in message
    assert "set teacher.reasoning: true, or teacher.temperature and teacher.label_temperature: null" in message
    assert len(server.requests) == 1  # a configuration matter: not retried


def test_which_field_a_400_refuses():
    from types import SimpleNamespace

    from fake_openai import NO_JSON_SCHEMA_400, REASONING_MAX_TOKENS_400, reasoning_temperature_400
    from evokd.teachers.client import refused_param

    def refused(body, status=400):
        return refused_param(SimpleNamespace(status_code=status, body=body))

    assert refused(REASONING_MAX_TOKENS_400) == "max_tokens"
    assert refused(reasoning_temperature_400(0.0)) == "temperature"
    assert refused(NO_JSON_SCHEMA_400) == "response_format"
    # No `param`: the field the message names first (Azure's older API versions, pydantic servers).
    assert refused({"error": {"code": "BadRequest", "message": "Unrecognized request argument supplied: "
                                                              "max_completion_tokens"}}) == "max_completion_tokens"
    assert refused({"error": {"message": "Unsupported parameter: 'max_tokens' is not supported with this "
                                         "model. Use 'max_completion_tokens' instead."}}) == "max_tokens"
    assert refused({"detail": [{"msg": "Extra inputs are not permitted", "loc": ["body", "seed"]}],
                    "message": "Extra inputs are not permitted: 'seed'"}, status=422) == "seed"
    # A bad value, a too-long prompt or another status is no refusal of a field.
    assert refused({"error": {"message": "max_tokens is too large: 200000. This model supports at most 16384 "
                                         "completion tokens", "param": "max_tokens", "code": "invalid_value"}}) is None
    assert refused({"error": {"message": "This model's maximum context length is 8192 tokens; reduce max_tokens",
                              "code": "context_length_exceeded", "param": "messages"}}) is None
    assert refused(REASONING_MAX_TOKENS_400, status=404) is None
    # `param` without a refusal code or words: a bad value of the field, not a refusal of it.
    assert refused({"error": {"message": "max_tokens is too large: 200000. This model supports at most 16384 "
                                         "completion tokens", "param": "max_tokens", "code": None}}) is None


@pytest.mark.parametrize("server", [{"provider": "compatible"}], indirect=True)
def test_a_refusal_naming_the_cap_name_not_sent_is_not_resent_forever(server, tmp_path):
    """The client sends max_completion_tokens; a 400 that names max_tokens is about something
    else: reported once, not answered by re-sending the same request unchanged."""
    message = "Unsupported parameter: 'max_tokens' is not supported with this model."
    server.script(*[status(400, message=message)] * 4)
    cfg = openai_config(server, tmp_path, token_param="max_completion_tokens", max_tries=1)
    with pytest.raises(TeacherError, match="Unsupported parameter: 'max_tokens'"):
        OpenAITeacher(cfg).label(SAMPLES, LABELS)
    assert len(server.requests) == 1


# -- usage as servers report it ---------------------------------------------------------------

def test_reasoning_tokens_reported_beside_completion_are_added():
    request = ChatRequest([{"role": "user", "content": "hi"}], {"max_tokens": 900}, "d")
    openai_style = {"usage": {"prompt_tokens": 10, "completion_tokens": 300, "total_tokens": 310,
                              "reasoning_tokens": 250}}
    assert _tokens(openai_style, request) == (10, 300, 250)
    in_total_only = {"usage": {"prompt_tokens": 10, "completion_tokens": 50, "total_tokens": 310,
                               "reasoning_tokens": 250}}
    assert _tokens(in_total_only, request) == (10, 300, 250)
    no_total = {"usage": {"prompt_tokens": 10, "completion_tokens": 50, "reasoning_tokens": 250}}
    assert _tokens(no_total, request) == (10, 300, 250)
    # No usage at all: charged the whole cap (which covers hidden reasoning), not the visible text.
    assert _tokens({"content": "{}", "usage": None}, request)[1] == 900


# -- Azure OpenAI ----------------------------------------------------------------------------

@pytest.mark.parametrize("server", [{"provider": "reasoning", "azure": AZURE}], indirect=True)
def test_azure_deployment_url_api_version_and_key_header(server, tmp_path):
    cfg = openai_config(server, tmp_path, model="o3-mini")
    teacher = OpenAITeacher(cfg, api_key=KEY)
    assert all("label" in a for a in teacher.label(SAMPLES, LABELS).values())
    (sent,) = server.requests
    assert sent["path"] == "/openai/deployments/evokd-o3/chat/completions?api-version=2024-12-01-preview"
    assert sent["headers"]["api-key"] == KEY and "authorization" not in sent["headers"]
    assert sent["body"]["max_completion_tokens"] == 10240 and "temperature" not in sent["body"]
    assert teacher.usage.reasoning_tokens == 256

    with pytest.raises(ConfigError, match="AZURE_OPENAI_API_KEY is not"):
        OpenAITeacher(cfg, api_key=None)
    wrong = "sk-wrong-key-0000"
    with pytest.raises(TeacherError) as err:
        OpenAITeacher(openai_config(server, tmp_path / "b", model="o3-mini"), api_key=wrong).label(SAMPLES, LABELS)
    assert "refused the API key (HTTP 401): set a valid AZURE_OPENAI_API_KEY" in str(err.value)
    assert wrong not in str(err.value)
    other = openai_config(server, tmp_path / "c", model="o3-mini",
                          azure={"endpoint": server.root, "api_version": "2024-12-01-preview", "deployment": "nope"})
    with pytest.raises(TeacherError, match="no deployment at .*/openai/deployments/nope .*teacher.azure.deployment"):
        OpenAITeacher(other, api_key=KEY).label(SAMPLES, LABELS)


# -- evokd teacher check -------------------------------------------------------------------------

def _check_cli(tmp_path, monkeypatch, cfg_teacher: dict, env: dict | None = None):
    """`evokd teacher check` in a folder holding params.yaml with `cfg_teacher` as the teacher block."""
    from evokd.cli import app

    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["teacher"].update(cfg_teacher)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(params))
    monkeypatch.chdir(tmp_path)
    for name in ("OPENAI_API_KEY", "AZURE_OPENAI_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    return CliRunner().invoke(app, ["teacher", "check"], env=env or {})


def test_teacher_check_names_each_refused_field_per_stage(server, tmp_path, monkeypatch):
    block = {"provider": "openai", "model": "team-proxy", "base_url": server.url, "backoff_s": 0.01}
    result = _check_cli(tmp_path, monkeypatch, block)
    out = result.output
    assert result.exit_code == 2, out
    # The shipped strategy (uncertainty) writes with the unguided template.
    for stage in ("analyze (analyze)", "synthesize (synthesize_random)", "label (label)"):
        assert f"  {stage}: answered only without the refused field(s)" in out
    assert "    refused max_tokens -> the endpoint wants max_completion_tokens: set teacher.token_param: " \
           "max_completion_tokens" in out  # the first stage; later ones send the other name at once
    assert out.count("refused temperature: Unsupported value: 'temperature' does not support 0.9") == 2
    assert out.count("refused temperature: Unsupported value: 'temperature' does not support 0.0") == 1
    assert "set teacher.reasoning: true" in out and "placeholder labels" in out

    # Set as it says: every stage answers, and the check shows what was sent.
    server.requests.clear()
    result = _check_cli(tmp_path, monkeypatch, {**block, "reasoning": True, "reasoning_effort": "low"})
    assert result.exit_code == 0, result.output
    out = result.output
    assert out.startswith("ok: every teacher stage's request was answered")
    assert "  label (label): ok in " in out and "256 hidden reasoning tokens" in out
    assert "    sent: max_completion_tokens=10240, seed=42, reasoning_effort=low, " \
           "response_format=json_schema(evokd_label, strict)" in out
    assert "    not sent: teacher.temperature and teacher.label_temperature" in out
    assert len(server.requests) == 3 and not any("refused" in r for r in server.requests)


@pytest.mark.parametrize("server", [{"provider": "no-json-schema"}], indirect=True)
def test_teacher_check_says_to_turn_off_json_schema(server, tmp_path, monkeypatch):
    block = {"provider": "openai", "model": "llama3.1", "base_url": server.url, "backoff_s": 0.01}
    result = _check_cli(tmp_path, monkeypatch, block)
    assert result.exit_code == 2, result.output
    assert result.output.count('refused response_format: Either "json_schema" or "grammar" can be specified, but '
                               'not both -> this endpoint does not take JSON-schema output: set '
                               'teacher.json_schema: false') == 3
    result = _check_cli(tmp_path, monkeypatch, {**block, "json_schema": False})
    assert result.exit_code == 0, result.output
    assert result.output.count("    sent: temperature=0.9, max_tokens=2048, seed=42\n") == 2
    assert result.output.count("    sent: temperature=0.0, max_tokens=2048, seed=42\n") == 1


@pytest.mark.parametrize("server", [{"provider": "reasoning", "azure": AZURE}], indirect=True)
def test_teacher_check_through_azure_reads_the_azure_key(server, tmp_path, monkeypatch):
    block = {"provider": "openai", "model": "o3-mini", "base_url": None,
             "azure": {"endpoint": server.root, "api_version": AZURE["api_version"], "deployment": "evokd-o3"}}
    result = _check_cli(tmp_path, monkeypatch, block, env={"AZURE_OPENAI_API_KEY": KEY})
    assert result.exit_code == 0, result.output
    assert f"{server.root}/openai/deployments/evokd-o3 (model 'o3-mini', reasoning request shape" in result.output
    assert {r["headers"]["api-key"] for r in server.requests} == {KEY} and KEY not in result.output
    result = _check_cli(tmp_path, monkeypatch, block, env={"OPENAI_API_KEY": KEY})
    assert result.exit_code == 2 and "AZURE_OPENAI_API_KEY is not" in result.output


def test_batch_lines_carry_the_reasoning_request_shape(server, tmp_path):
    """teacher.mode batch: each line's body is the online request's (max_completion_tokens, no
    temperature), and the collected replies count their reasoning tokens."""
    from evokd.errors import BatchPending

    server.batch_polls = 0
    cfg = openai_config(server, tmp_path, model="o3-mini", mode="batch")
    with pytest.raises(BatchPending, match="submitted batch"):
        OpenAITeacher(cfg).label(SAMPLES, LABELS)
    teacher = OpenAITeacher(cfg)
    assert all("label" in a for a in teacher.label(SAMPLES, LABELS).values())
    (line,) = server.batch_lines
    assert line["body"]["max_completion_tokens"] == 10240 and "max_tokens" not in line["body"]
    assert "temperature" not in line["body"]
    assert teacher.usage.batch_requests == 1 and teacher.usage.reasoning_tokens == 256
