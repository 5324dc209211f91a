"""A real HTTP server on 127.0.0.1 that speaks the chat-completions protocol, for tests.

Each test scripts its replies: `server.script(...)` queues actions consumed one per request
(a reply text, an HTTP status with headers, a hang, a dropped connection); when the queue is
empty, `auto_reply` answers well-formed JSON for evokd's calls (recognised by the
response_format schema name, or by the prompt; the no-feedback generation call gets as many
texts as its prompt asks for; the labelled generation call (strategy evokd-gen-labels) gets
each text with a label, or NER entities, from the schema's enum). Every request is recorded (path, headers, body,
and `t_in`/`t_out`: when it arrived and when its reply was sent).

`provider` makes it behave like a given kind of endpoint, per that provider's documented behaviour
(docs/teacher-servers.md):
- "compatible" (default): accepts every field evokd sends (vLLM, Ollama, llama.cpp ignore or take them);
- "reasoning": an OpenAI reasoning model (o-series, GPT-5): `max_tokens` and a temperature other than
  1 get OpenAI's 400 bodies (REASONING_MAX_TOKENS_400, reasoning_temperature_400); every reply first
  spends `reasoning_tokens` hidden tokens, reported in `usage.completion_tokens_details` and counted
  in `completion_tokens`; when they and the visible reply do not fit `max_completion_tokens`, the
  reply is empty with finish_reason "length";
- "no-json-schema": a server that refuses a JSON-schema `response_format` (llama.cpp's 400 body).
`azure` ({"deployment", "api_version", "key"}) serves Azure OpenAI's URL shape instead of /v1:
`POST /openai/deployments/<deployment>/chat/completions?api-version=<version>` with the key in an
`api-key` header; a wrong key is a 401, another deployment or API version a 404 (Azure's bodies).

It also implements what the SDK uses of the Batch API: `POST /files` (multipart upload),
`POST /batches`, `GET /batches/{id}` and `GET /files/{id}/content`. A batch's lines are answered
by the same responder; the batch reports `in_progress` for its first `batch_polls` look-ups, then
`completed` (or `batch_status` when a test sets it, e.g. "expired"). Lines go to `batch_lines`,
not to `requests`; `batch_fail` (a set of line numbers) makes those lines fail with HTTP 500.

Usage: every reply reports 100 prompt and 50 completion tokens, unless `count_tokens` is set:
then it counts them as a chat endpoint does (`chat_tokens`: the messages' tokens plus OpenAI's
framing of 3 tokens per message and 3 for the reply), with the student's WordPiece tokenizer
standing in for the LLM's own.
"""

from __future__ import annotations

import email.parser
import hashlib
import itertools
import json
import re
import threading
import time
import urllib.parse
from collections import deque
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def reply(content: str, prompt_tokens: int = 100, completion_tokens: int = 50,
          finish_reason: str = "stop", reasoning_tokens: int | None = None) -> dict:
    """A 200 reply; `reasoning_tokens` (part of `completion_tokens`, as OpenAI counts them) is
    reported in usage.completion_tokens_details."""
    return {"content": content, "usage": (prompt_tokens, completion_tokens), "finish_reason": finish_reason,
            "reasoning_tokens": reasoning_tokens}


# OpenAI's 400 bodies for a reasoning model sent what it does not take (the texts).
REASONING_MAX_TOKENS_400 = {"error": {
    "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
               "Use 'max_completion_tokens' instead.",
    "type": "invalid_request_error", "param": "max_tokens", "code": "unsupported_parameter"}}


def reasoning_temperature_400(value: float) -> dict:
    return {"error": {
        "message": f"Unsupported value: 'temperature' does not support {value!r} with this model. "
                   f"Only the default (1) value is supported.",
        "type": "invalid_request_error", "param": "temperature", "code": "unsupported_value"}}


# llama.cpp's server refusing a JSON-schema response_format (ggml-org/llama.cpp issue 11847).
NO_JSON_SCHEMA_400 = {"error": {"code": 400, "message": 'Either "json_schema" or "grammar" can be specified, '
                                "but not both", "type": "invalid_request_error"}}
AZURE_401 = {"error": {"code": "401", "message": "Access denied due to invalid subscription key or wrong API "
                       "endpoint. Make sure to provide a valid key for an active subscription and use a "
                       "correct regional API endpoint for your resource."}}
AZURE_DEPLOYMENT_404 = {"error": {"code": "DeploymentNotFound", "message": "The API deployment for this "
                                  "resource does not exist. If you created the deployment within the last 5 "
                                  "minutes, please wait a moment and try again."}}
AZURE_404 = {"error": {"code": "404", "message": "Resource not found"}}
PROVIDERS = ("compatible", "reasoning", "no-json-schema")


def usage_body(prompt: int, completion: int, reasoning: int | None) -> dict:
    usage = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}
    if reasoning is not None:
        usage["completion_tokens_details"] = {"reasoning_tokens": reasoning}
    return usage


def status(code: int, headers: dict | None = None, message: str = "error") -> dict:
    return {"status": code, "headers": headers or {}, "body": {"error": {"message": message, "type": "x"}}}


def hang(seconds: float) -> dict:
    return {"hang": seconds}


_TOKENIZER = None


def tokens(text: str) -> int:
    """Tokens of `text` by the shipped MiniLM's WordPiece tokenizer (no special tokens)."""
    global _TOKENIZER
    if _TOKENIZER is None:
        from tokenizers import Tokenizer

        from evokd.student.backbone import backbone_path

        _TOKENIZER = Tokenizer.from_file(str(Path(backbone_path("minilm")) / "tokenizer.json"))
        _TOKENIZER.no_truncation()  # the student's file pads and cuts to 128: count everything
        _TOKENIZER.no_padding()
    return len(_TOKENIZER.encode(text, add_special_tokens=False).ids)


def chat_tokens(messages: list[dict]) -> int:
    """A chat request's prompt tokens, framed as OpenAI counts them (3 per message, its role,
    its content; 3 more prime the reply)."""
    return sum(3 + tokens(m["role"]) + tokens(m["content"]) for m in messages) + 3


def _kind(body: dict) -> str:
    fmt = body.get("response_format") or {}
    name = (fmt.get("json_schema") or {}).get("name", "")
    if name.startswith("evokd_"):
        return name[len("evokd_"):]
    text = " ".join(m["content"] for m in body["messages"]).lower()
    if '"hard"' in text:  # the answer format says which: texts with their labels, or bare texts
        return "synthesize_labelled" if re.search(r'"hard": \[\{"text"', text) else "synthesize"
    if '"texts"' in text:
        return "synthesize_random"
    if '"labels"' in text:
        return "label"
    return "analyze"


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def _labelled_item(body: dict, text: str, digest: str, i: int) -> dict:
    """One item of a labelled generation reply: the text and its label (classification) or its
    entities (NER: the word "thing" of the text, typed), picked from the schema's enum."""
    schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
    props = schema.get("properties", {}).get("hard", {}).get("items", {}).get("properties", {})
    pick = lambda options: options[int(hashlib.sha1(f"{digest}{i}".encode()).hexdigest(), 16) % len(options)]
    if "entities" in props:
        types = props["entities"]["items"]["properties"]["type"].get("enum") or ["MISC"]
        return {"text": text, "entities": [{"text": "thing", "type": pick(types)}]}
    return {"text": text, "label": pick(props.get("label", {}).get("enum") or ["DESC"])}


def auto_reply(body: dict, n_hard: int = 3, n_easy: int = 1) -> dict:
    """A well-formed answer to one of evokd's calls, deterministic in the request."""
    kind, digest = _kind(body), _digest(body)
    user = body["messages"][-1]["content"]
    if kind in ("synthesize", "synthesize_random", "synthesize_labelled"):
        words = ["capital", "inventor", "population", "meaning", "author", "distance", "colour", "date"]
        make = lambda tag, i: (f"What is the {words[(int(digest[i % 64], 16) + i) % len(words)]} "
                               f"of thing {tag}{digest[:10]}{i} in the story ?")
        if kind == "synthesize_random":  # as many texts as the prompt asks for ("Write N ...")
            asked = re.search(r"\bWrite (\d+)\b", user)
            return reply(json.dumps({"texts": [make("r", i) for i in range(int(asked.group(1)) if asked else 4)]}))
        if kind == "synthesize_labelled":
            return reply(json.dumps({
                "hard": [_labelled_item(body, make("h", i), digest, i) for i in range(n_hard)],
                "easy": [_labelled_item(body, make("e", i), digest, n_hard + i) for i in range(n_easy)]}))
        return reply(json.dumps({"hard": [make("h", i) for i in range(n_hard)],
                                 "easy": [make("e", i) for i in range(n_easy)]}))
    if kind == "label":
        schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
        labels = schema.get("properties", {}).get("labels", {}).get("items", {}) \
            .get("properties", {}).get("label", {}).get("enum") or ["DESC"]
        numbers = [int(n) for n in re.findall(r'^\{"id": (\d+), "text": ', user, re.MULTILINE)]
        return reply(json.dumps({"labels": [
            {"id": n, "label": labels[int(hashlib.sha1(f"{digest}{n}".encode()).hexdigest(), 16) % len(labels)]}
            for n in numbers]}))
    return reply(json.dumps({"summary": "It confuses questions about people and places.",
                             "weak_labels": []}))


# -- a teacher whose answers depend on its prompt, as an LLM's do ------------------------------
# TREC-style questions per coarse label; the label is in the wording, as in TREC itself.
_QUESTIONS = {
    "ABBR": ["What does {ACR} stand for ?", "What is the abbreviation {ACR} short for ?"],
    "DESC": ["Why do {noun}s {verb} in {place} ?", "What is the definition of a {noun} ?"],
    "ENTY": ["What kind of {noun} {verb}s in {place} ?", "What colour is the {noun} of {place} ?"],
    "HUM": ["Who invented the first {noun} ?", "Who was the {noun} maker of {place} ?"],
    "LOC": ["Where is the largest {noun} in {place} ?", "Where do {noun}s {verb} ?"],
    "NUM": ["How many {noun}s are there in {place} ?", "When did the first {noun} reach {place} ?"],
}
_FILL = {"noun": ["lighthouse", "violin", "glacier", "telescope", "canal", "tulip", "comet", "bridge",
                  "clock", "whale", "volcano", "lantern", "railway", "kite", "mosaic"],
         "verb": ["migrate", "glow", "float", "grow", "sing", "erode", "rust", "hibernate"],
         "place": ["Peru", "Norway", "Kenya", "Quebec", "Tasmania", "Bavaria", "Oaxaca", "Fiji",
                   "Lapland", "Sicily", "Nepal", "Iceland"],
         "ACR": ["NATO", "UNESCO", "NASA", "FIFA", "OPEC", "CERN", "LASER", "SCUBA"]}


def trec_truth(text: str) -> str | None:
    """The coarse TREC label a careful annotator gives a question, read from its wording."""
    t = text.strip()
    rules = [("ABBR", r"stand for|abbreviation"), ("HUM", r"^Who\b"), ("LOC", r"^Where\b"),
             ("NUM", r"^(How many|How much|When)\b"), ("DESC", r"^Why\b|definition of"),
             ("ENTY", r"^What (kind|colour)\b")]
    return next((label for label, rule in rules if re.search(rule, t)), None)


def instruction_words(messages: list[dict]) -> int:
    """Words of a prompt's system message: its instructions, never its data (the texts to
    label travel in the user message, however they are delimited)."""
    return sum(len(m["content"].split()) for m in messages if m.get("role") == "system")


class PromptSensitive:
    """A responder (`server.responder = PromptSensitive(...)`) that answers like an LLM whose
    care follows its prompt: it writes TREC-style questions for the TREC labels its generation
    prompt names, and labels each numbered text by its wording, except that it mislabels
    `sloppy_error` of them when its labelling prompt's system message has fewer than
    `careful_words` words (`instruction_words`), and `careful_error` otherwise. Which texts it gets wrong is a
    hash of the text and the request's sampling seed: another draw errs elsewhere."""

    def __init__(self, careful_words: float, careful_error: float = 0.05, sloppy_error: float = 0.5):
        self.careful_words, self.careful_error, self.sloppy_error = careful_words, careful_error, sloppy_error

    def error(self, messages: list[dict]) -> float:
        return self.careful_error if instruction_words(messages) >= self.careful_words else self.sloppy_error

    def __call__(self, body: dict) -> dict:
        kind, digest = _kind(body), _digest(body)
        text = " ".join(m["content"] for m in body["messages"])
        labels = [label for label in _QUESTIONS if re.search(rf"\b{label}\b", text)]
        if not labels:
            return auto_reply(body)
        if kind == "label":
            return self._label(body, labels)
        if kind == "analyze":
            return auto_reply(body)
        user = body["messages"][-1]["content"]
        if kind == "synthesize_random":
            asked = re.search(r"\bWrite (\d+)\b", user)
            return reply(json.dumps({"texts": self._questions(digest, labels, int(asked.group(1)) if asked else 4)}))
        counts = [int(n) for n in re.findall(r"\b(\d+) new\b", user)][:2]
        n_hard, n_easy = counts if len(counts) == 2 else (3, 1)
        questions = self._questions(digest, labels, n_hard + n_easy)
        if kind == "synthesize_labelled":
            items = [{"text": q, "label": trec_truth(q)} for q in questions]
            return reply(json.dumps({"hard": items[:n_hard], "easy": items[n_hard:]}))
        return reply(json.dumps({"hard": questions[:n_hard], "easy": questions[n_hard:]}))

    @staticmethod
    def _questions(digest: str, labels: list[str], n: int) -> list[str]:
        out = []
        for i in range(n):
            h = int(hashlib.sha256(f"{digest}/{i}".encode()).hexdigest(), 16)
            label = labels[(h + i) % len(labels)]
            forms = _QUESTIONS[label]
            values, rest = {}, h // len(forms)
            for key, options in _FILL.items():
                values[key] = options[rest % len(options)]
                rest //= len(options)
            out.append(forms[h % len(forms)].format(**values))
        return out

    def _label(self, body: dict, labels: list[str]) -> dict:
        user = body["messages"][-1]["content"]
        error, seed = self.error(body["messages"]), body.get("seed")
        answers = []
        # The texts come one JSON object a line inside the <texts> block (evokd's data fencing).
        rows = [json.loads(line) for line in re.findall(r'^(\{"id": \d+, "text": .*\})$', user, re.MULTILINE)]
        for number, text in ((row["id"], row["text"]) for row in rows):
            truth = trec_truth(text) or labels[int(hashlib.sha1(text.encode()).hexdigest(), 16) % len(labels)]
            h = int(hashlib.sha256(f"{seed}/{text}".encode()).hexdigest(), 16)
            if (h % 10_000) / 10_000 < error:  # a slip: another label of the set
                others = [label for label in labels if label != truth]
                truth = others[(h // 10_000) % len(others)]
            answers.append({"id": int(number), "label": truth})
        return reply(json.dumps({"labels": answers}))


class FakeOpenAI:
    def __init__(self, provider: str = "compatible", azure: dict | None = None,
                 reasoning_tokens: int = 256) -> None:
        assert provider in PROVIDERS, provider
        self.provider, self.azure, self.reasoning_tokens = provider, azure, reasoning_tokens
        self.requests: list[dict] = []
        self.queue: deque = deque()
        self.responder = auto_reply
        self.lock = threading.Lock()
        self.delay = 0.0  # seconds before every reply (to let a test kill a client mid-stage)
        self.count_tokens = False  # usage counted from the request and reply (else 100 / 50)
        # The Batch API: uploaded files, batches, and what tests may set.
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict] = {}
        self.batch_lines: list[dict] = []
        self.batch_polls = 1
        self.batch_status: str | None = None
        self.batch_fail: set[int] = set()
        self.batch_calls: list[str] = []  # "files.create", "batches.create", ... in order
        self._ids = itertools.count(1)
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if "/batches/" in path:
                    self._send(*server._retrieve_batch(path.rsplit("/", 1)[1]))
                elif path.startswith(("/v1/files/", "/files/")) and path.endswith("/content"):
                    data = server._file_content(path.split("/")[-2])
                    self._send_bytes(200 if data is not None else 404, data or b"")
                else:
                    self._send(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                path = self.path.split("?")[0]
                if path.endswith("/files"):
                    self._send(*server._upload(self.headers.get("Content-Type", ""), raw))
                    return
                body = json.loads(raw or b"{}")
                if path.endswith("/batches"):
                    self._send(*server._create_batch(body))
                    return
                record = {"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()},
                          "body": body, "t_in": time.time(), "t_out": None}
                refusal = server._refusal(self.path, record["headers"], body)
                if refusal is not None:  # what this provider answers such a request
                    record["refused"] = refusal[0]
                    with server.lock:
                        server.requests.append(record)
                    self._send(*refusal)
                    return
                with server.lock:
                    server.requests.append(record)
                    action = server.queue.popleft() if server.queue else None
                if action is None:
                    action = server.responder(body)
                if server.delay:
                    time.sleep(server.delay)
                if "hang" in action:
                    time.sleep(action["hang"])
                    self.close_connection = True
                    return
                if "status" in action:
                    self._send(action["status"], action["body"], action["headers"])
                    return
                content, finish, usage = server._completion(body, action)
                self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake-model"),
                    "choices": [{"index": 0, "finish_reason": finish,
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": usage})
                record["t_out"] = time.time()  # the reply is sent (for race checks)

            def _send(self, code: int, payload: dict, headers: dict | None = None) -> None:
                self._send_bytes(code, json.dumps(payload).encode(), headers, "application/json")

            def _send_bytes(self, code: int, data: bytes, headers: dict | None = None,
                            content_type: str = "application/octet-stream") -> None:
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    for key, value in (headers or {}).items():
                        self.send_header(key, value)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.root = f"http://127.0.0.1:{self.httpd.server_address[1]}"  # Azure's endpoint
        self.url = f"{self.root}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    # -- provider behaviour ------------------------------------------------------------------
    def _refusal(self, raw_path: str, headers: dict, body: dict) -> tuple[int, dict] | None:
        """(status, body) of this provider's error for a chat request, or None to answer it."""
        path, _, query = raw_path.partition("?")
        if self.azure is not None:
            if headers.get("api-key") != self.azure["key"]:
                return 401, AZURE_401
            if path != f"/openai/deployments/{self.azure['deployment']}/chat/completions":
                return 404, AZURE_DEPLOYMENT_404
            if urllib.parse.parse_qs(query).get("api-version") != [self.azure["api_version"]]:
                return 404, AZURE_404
        if self.provider == "reasoning":
            if "max_tokens" in body:
                return 400, REASONING_MAX_TOKENS_400
            if "temperature" in body and body["temperature"] != 1:
                return 400, reasoning_temperature_400(body["temperature"])
        if self.provider == "no-json-schema" and (body.get("response_format") or {}).get("type") == "json_schema":
            return 400, NO_JSON_SCHEMA_400
        return None

    def _completion(self, body: dict, action: dict) -> tuple[str, str, dict]:
        """(content, finish_reason, usage) of a reply action. A reasoning model first spends
        `reasoning_tokens` hidden tokens; what does not fit `max_completion_tokens` is cut: the
        reasoning first, so a cap below it leaves an empty reply."""
        prompt, completion = action["usage"]
        if self.count_tokens:
            prompt, completion = chat_tokens(body["messages"]), tokens(action["content"])
        reasoning = action.get("reasoning_tokens")
        content, finish = action["content"], action["finish_reason"]
        if self.provider == "reasoning" and reasoning is None:
            reasoning = self.reasoning_tokens
            completion += reasoning  # OpenAI counts reasoning inside completion_tokens
            cap = body.get("max_completion_tokens")
            if cap is not None and completion > cap:
                reasoning = min(reasoning, cap)
                content, finish, completion = "", "length", cap
        return content, finish, usage_body(prompt, completion, reasoning)

    # -- the Batch API -----------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}-{next(self._ids)}"

    def _upload(self, content_type: str, raw: bytes) -> tuple[int, dict]:
        message = email.parser.BytesParser().parsebytes(
            f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
        fields = {part.get_param("name", header="content-disposition"): part.get_payload(decode=True)
                  for part in message.get_payload()}
        if fields.get("purpose") != b"batch" or "file" not in fields:
            return 400, {"error": {"message": "expected purpose=batch and a file", "type": "invalid"}}
        with self.lock:
            file_id = self._new_id("file")
            self.files[file_id] = fields["file"]
            self.batch_calls.append("files.create")
        return 200, {"id": file_id, "object": "file", "bytes": len(fields["file"]),
                     "created_at": int(time.time()), "filename": "batch.jsonl", "purpose": "batch",
                     "status": "processed"}

    def _create_batch(self, body: dict) -> tuple[int, dict]:
        with self.lock:
            data = self.files.get(body.get("input_file_id"))
            if data is None or body.get("endpoint") != "/v1/chat/completions":
                return 400, {"error": {"message": "unknown input_file_id or endpoint", "type": "invalid"}}
            batch_id = self._new_id("batch")
            self.batches[batch_id] = {"id": batch_id, "object": "batch", "endpoint": body["endpoint"],
                                      "input_file_id": body["input_file_id"],
                                      "completion_window": body.get("completion_window"),
                                      "created_at": int(time.time()), "status": "validating",
                                      "polls_left": self.batch_polls, "lines": data.decode().splitlines()}
            self.batch_calls.append("batches.create")
            return 200, self._public(self.batches[batch_id])

    def _public(self, batch: dict) -> dict:
        total = len(batch["lines"])
        done = total if batch["status"] == "completed" else 0
        return {k: v for k, v in batch.items() if k not in ("polls_left", "lines")} | {
            "request_counts": {"total": total, "completed": done, "failed": 0}}

    def _retrieve_batch(self, batch_id: str) -> tuple[int, dict]:
        with self.lock:
            self.batch_calls.append("batches.retrieve")
            batch = self.batches.get(batch_id)
            if batch is None:
                return 404, {"error": {"message": f"no batch {batch_id}", "type": "not_found"}}
            if batch["status"] in ("validating", "in_progress"):
                if batch["polls_left"] > 0:
                    batch["polls_left"] -= 1
                    batch["status"] = "in_progress"
                elif self.batch_status:
                    batch["status"] = self.batch_status
                else:
                    self._finish(batch)
            return 200, self._public(batch)

    def _finish(self, batch: dict) -> None:
        out, errors = [], []
        for n, line in enumerate(batch["lines"]):
            item = json.loads(line)
            self.batch_lines.append(item)
            if n in self.batch_fail:
                errors.append({"id": f"req-{n}", "custom_id": item["custom_id"], "error": None,
                               "response": {"status_code": 500, "body": {"error": {"message": "boom"}}}})
                continue
            refusal = self._refusal("/v1/chat/completions", {"api-key": (self.azure or {}).get("key")}, item["body"])
            if refusal is not None:
                errors.append({"id": f"req-{n}", "custom_id": item["custom_id"], "error": None,
                               "response": {"status_code": refusal[0], "body": refusal[1]}})
                continue
            action = self.responder(item["body"])
            content, finish, usage = self._completion(item["body"], action)
            out.append({"id": f"req-{n}", "custom_id": item["custom_id"], "error": None, "response": {
                "status_code": 200, "request_id": f"r{n}", "body": {
                    "id": f"chatcmpl-b{n}", "object": "chat.completion", "created": int(time.time()),
                    "model": item["body"].get("model", "fake-model"),
                    "choices": [{"index": 0, "finish_reason": finish,
                                 "message": {"role": "assistant", "content": content}}],
                    "usage": usage}}})
        batch["status"] = "completed"
        batch["output_file_id"] = self._new_id("file")
        self.files[batch["output_file_id"]] = "".join(json.dumps(o) + "\n" for o in out).encode()
        if errors:
            batch["error_file_id"] = self._new_id("file")
            self.files[batch["error_file_id"]] = "".join(json.dumps(o) + "\n" for o in errors).encode()

    def _file_content(self, file_id: str) -> bytes | None:
        with self.lock:
            self.batch_calls.append("files.content")
            return self.files.get(file_id)

    def script(self, *actions: dict) -> None:
        with self.lock:
            self.queue.extend(actions)

    def count(self) -> int:
        with self.lock:
            return len(self.requests)

    def __enter__(self) -> "FakeOpenAI":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def fake_openai():
    with FakeOpenAI() as server:
        yield server


def openai_config(server, tmp_path, strategy: str = "evokd", task: str = "classification",
                  synthesize: dict | None = None, label: dict | None = None, **teacher):
    """The shipped params.yaml with the openai teacher pointed at `server`: fast retries, one
    request at a time, the cache under `tmp_path`; `synthesize`, `label` and `teacher` override."""
    import yaml

    from evokd.config import parse_config

    root = Path(__file__).resolve().parents[1]
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["task"] = task
    if task == "ner":
        params["dataset"] = {"train": "a.conll", "test": "b.conll"}
    if getattr(server, "azure", None) is not None:  # the Azure client instead of base_url
        teacher = {"base_url": None, "azure": {"endpoint": server.root, "api_version": server.azure["api_version"],
                                               "deployment": server.azure["deployment"]}, **teacher}
    params["teacher"].update({"provider": "openai", "model": "fake-model", "base_url": server.url,
                              "cache_dir": str(tmp_path / "cache"), "prompts": str(root / "prompts/default"),
                              "backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 5, "max_tries": 3,
                              "max_concurrency": 1, **teacher})
    params["synthesize"].update({"strategy": strategy, "batches": 4, **(synthesize or {})})
    params["label"].update(label or {})
    return parse_config(params)


# The openai teacher's tests share these (tests/unit/teachers, tests/hostile, ...): four TREC
# labels, a planted key that must never reach a file, and round 0's feedback.
LABELS = ["DESC", "HUM", "LOC", "NUM"]
KEY = "sk-planted-KEY-7f3a9c1e5b"
FEEDBACK = [
    {"id": "a", "text": "Where is the Eiffel Tower ?", "label": "LOC", "predicted": "HUM", "correct": False},
    {"id": "b", "text": "How many moons has Mars ?", "label": "NUM", "predicted": "DESC", "correct": False},
    {"id": "c", "text": "Who wrote Hamlet ?", "label": "HUM", "predicted": "HUM", "correct": True},
]


def make_cfg(server, tmp_path, synthesize: dict | None = None, label: dict | None = None, **teacher):
    """`openai_config` for strategy evokd at the shipped concurrency (params.yaml's
    teacher.max_concurrency, not one request at a time)."""
    import yaml

    shipped = yaml.safe_load((Path(__file__).resolve().parents[1] / "params.yaml").read_text())
    return openai_config(server, tmp_path, "evokd", synthesize=synthesize, label=label,
                         **{"max_concurrency": shipped["teacher"]["max_concurrency"], **teacher})
