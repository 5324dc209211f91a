"""A real HTTP server on 127.0.0.1 that speaks the chat-completions protocol, for tests.

Each test scripts its replies: `server.script(...)` queues actions consumed one per request
(a reply text, an HTTP status with headers, a hang, a dropped connection); when the queue is
empty, `auto_reply` answers well-formed JSON for evokd's three calls (recognised by the
response_format schema name, or by the prompt). Every request is recorded (path, headers, body).
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections import deque
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
    if '"hard"' in text:
        return "synthesize"
    if '"labels"' in text:
        return "label"
    return "analyze"


def _digest(body: dict) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def auto_reply(body: dict, n_hard: int = 3, n_easy: int = 1) -> dict:
    """A well-formed answer to one of evokd's calls, deterministic in the request."""
    kind, digest = _kind(body), _digest(body)
    user = body["messages"][-1]["content"]
    if kind == "synthesize":
        words = ["capital", "inventor", "population", "meaning", "author", "distance", "colour", "date"]
        make = lambda tag, i: (f"What is the {words[(int(digest[i], 16) + i) % len(words)]} "
                               f"of thing {tag}{digest[:10]}{i} in the story ?")
        return reply(json.dumps({"hard": [make("h", i) for i in range(n_hard)],
                                 "easy": [make("e", i) for i in range(n_easy)]}))
    if kind == "label":
        schema = body.get("response_format", {}).get("json_schema", {}).get("schema", {})
        labels = schema.get("properties", {}).get("labels", {}).get("items", {}) \
            .get("properties", {}).get("label", {}).get("enum") or ["DESC"]
        numbers = [int(n) for n in re.findall(r"^(\d+)\. ", user, re.MULTILINE)]
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
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                self._send(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                with server.lock:
                    server.requests.append({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}, "body": body})
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

            def _send(self, code: int, payload: dict, headers: dict | None = None) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(code)
                    self.send_header("Content-Type", "application/json")
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
