"""A real HTTP server on 127.0.0.1 that speaks the chat-completions protocol, for tests.

Each test scripts its replies: `server.script(...)` queues actions consumed one per request
(a reply text, an HTTP status with headers, a hang, a dropped connection); when the queue is
empty, `auto_reply` answers well-formed JSON for evokd's calls (recognised by the
response_format schema name, or by the prompt; the no-feedback generation call gets as many
texts as its prompt asks for; the labelled generation call (strategy evokd-gen-labels) gets
each text with a label, or NER entities, from the schema's enum). Every request is recorded (path, headers, body,
and `t_in`/`t_out`: when it arrived and when its reply was sent).

It also implements what the SDK uses of the Batch API: `POST /files` (multipart upload),
`POST /batches`, `GET /batches/{id}` and `GET /files/{id}/content`. A batch's lines are answered
by the same responder; the batch reports `in_progress` for its first `batch_polls` look-ups, then
`completed` (or `batch_status` when a test sets it, e.g. "expired"). Lines go to `batch_lines`,
not to `requests`; `batch_fail` (a set of line numbers) makes those lines fail with HTTP 500.
"""

from __future__ import annotations

import email.parser
import hashlib
import itertools
import json
import re
import threading
import time
from collections import deque
from pathlib import Path
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def reply(content: str, prompt_tokens: int = 100, completion_tokens: int = 50,
          finish_reason: str = "stop") -> dict:
    return {"content": content, "usage": (prompt_tokens, completion_tokens), "finish_reason": finish_reason}


def status(code: int, headers: dict | None = None, message: str = "error") -> dict:
    return {"status": code, "headers": headers or {}, "body": {"error": {"message": message, "type": "x"}}}


def hang(seconds: float) -> dict:
    return {"hang": seconds}


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


class FakeOpenAI:
    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.queue: deque = deque()
        self.responder = auto_reply
        self.lock = threading.Lock()
        self.delay = 0.0  # seconds before every reply (to let a test kill a client mid-stage)
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
                prompt, completion = action["usage"]
                self._send(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()),
                    "model": body.get("model", "fake-model"),
                    "choices": [{"index": 0, "finish_reason": action["finish_reason"],
                                 "message": {"role": "assistant", "content": action["content"]}}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion}})
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
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

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
            action = self.responder(item["body"])
            prompt, completion = action["usage"]
            out.append({"id": f"req-{n}", "custom_id": item["custom_id"], "error": None, "response": {
                "status_code": 200, "request_id": f"r{n}", "body": {
                    "id": f"chatcmpl-b{n}", "object": "chat.completion", "created": int(time.time()),
                    "model": item["body"].get("model", "fake-model"),
                    "choices": [{"index": 0, "finish_reason": action["finish_reason"],
                                 "message": {"role": "assistant", "content": action["content"]}}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion}}}})
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
    params["teacher"].update({"provider": "openai", "model": "fake-model", "base_url": server.url,
                              "cache_dir": str(tmp_path / "cache"), "prompts": str(root / "prompts/default"),
                              "backoff_s": 0.01, "max_backoff_s": 0.05, "timeout_s": 5, "max_tries": 3,
                              "max_concurrency": 1, **teacher})
    params["synthesize"].update({"strategy": strategy, "batches": 4, **(synthesize or {})})
    params["label"].update(label or {})
    return parse_config(params)

