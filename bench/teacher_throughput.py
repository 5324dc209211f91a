"""Teacher throughput: N chat requests through evokd's dispatcher (cache, budget, retries, thread
pool, the openai SDK) against a local OpenAI-compatible server that answers after a fixed delay.

The ideal wall time is N x delay / max_concurrency; the ratio wall / ideal says what the client
costs on top (1.0 = none). The SDK called sequentially is measured in the same run as a baseline.

    python bench/teacher_throughput.py --requests 64 --delay 0.2 --concurrency 1 4 16
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def start_server(delay: float) -> tuple[ThreadingHTTPServer, str]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            time.sleep(delay)
            body = json.dumps({
                "id": "x", "object": "chat.completion", "created": 0, "model": "bench",
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": '{"label": "A"}'}}],
                "usage": {"prompt_tokens": 20, "completion_tokens": 5, "total_tokens": 25},
            }).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/v1"


def dispatch(base_url: str, n: int, concurrency: int, tag: str) -> tuple[float, float]:
    from evokd.teachers.base import Usage
    from evokd.teachers.budget import Ledger
    from evokd.teachers.cache import ResponseCache
    from evokd.teachers.client import ChatClient
    from evokd.teachers.dispatch import ChatRequest, Dispatcher

    with tempfile.TemporaryDirectory() as cache_dir:
        client = ChatClient(base_url, None, timeout_s=30)
        usage = Usage()
        dispatcher = Dispatcher(client, "bench", ResponseCache(cache_dir), Ledger(None, None, None),
                                usage, max_concurrency=concurrency)
        requests = [ChatRequest([{"role": "user", "content": f"{tag} question {i}"}],
                                {"temperature": 0.0, "max_tokens": 16}, draw=str(i)) for i in range(n)]
        t0 = time.perf_counter()
        dispatcher.run(requests)
        wall = time.perf_counter() - t0
        assert usage.cache_hits == 0 and usage.calls == n
        # The same requests again: all from the cache.
        t1 = time.perf_counter()
        dispatcher.run(requests)
        cached = time.perf_counter() - t1
    return wall, cached


def sdk_sequential(base_url: str, n: int) -> float:
    import openai

    client = openai.OpenAI(api_key="none", base_url=base_url, max_retries=0)
    t0 = time.perf_counter()
    for i in range(n):
        client.chat.completions.create(model="bench", messages=[{"role": "user", "content": f"q{i}"}],
                                       max_tokens=16)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--out", type=Path, default=ROOT / "bench/results/teacher_throughput.json")
    args = parser.parse_args()

    server, url = start_server(args.delay)
    rows = []
    try:
        baseline = sdk_sequential(url, args.requests)
        rows.append({"client": "openai SDK, sequential", "concurrency": 1, "wall_s": round(baseline, 2),
                     "ideal_s": round(args.requests * args.delay, 2),
                     "ratio": round(baseline / (args.requests * args.delay), 3), "cached_s": None})
        for c in args.concurrency:
            wall, cached = dispatch(url, args.requests, c, tag=f"c{c}")
            ideal = args.requests * args.delay / c
            rows.append({"client": "evokd dispatcher", "concurrency": c, "wall_s": round(wall, 2),
                         "ideal_s": round(ideal, 2), "ratio": round(wall / ideal, 3),
                         "cached_s": round(cached, 3)})
    finally:
        server.shutdown()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"command": " ".join(sys.argv), "requests": args.requests,
                                    "delay_s": args.delay, "rows": rows}, indent=2) + "\n")
    print(f"{args.requests} requests, server delay {args.delay}s\n")
    print("| client | concurrency | wall s | ideal s | wall/ideal | all cached s |\n|---|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['client']} | {r['concurrency']} | {r['wall_s']} | {r['ideal_s']} | {r['ratio']} | "
              f"{r['cached_s'] if r['cached_s'] is not None else '-'} |")


if __name__ == "__main__":
    main()
