"""Concurrent runs (issue 6): two queued DVC experiments run at once (`dvc queue start -j 2`)
with the openai teacher against the fake server, sharing one response cache outside the repo.

Both must succeed; every cache entry must parse and sit under the key of the request it holds
(`evokd.teachers.cache.request_key`); and a request both runs make may reach the server twice
only when the two were in flight together (the second arrived before the first's reply was
sent, so the cache could not yet hold it): anything else is a reply paid for twice.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import run
from evokd.teachers.budget import LEDGER_FILE
from evokd.teachers.cache import request_key
from fake_openai import fake_openai  # noqa: F401 (fixture)

pytestmark = pytest.mark.slow

KEY = "sk-planted-CONCURRENT-5ca1ab1e"
# A request counts as raced when it arrived at most this long after the first copy's reply was
# sent: the client still has to read the reply and write the cache file (a loaded 2-core box).
SLACK_S = 2.0


def _wait_for_queue(root: Path, env: dict, limit_s: float = 420.0) -> str:
    """Poll `dvc queue status` until nothing is queued or running; the last table."""
    deadline = time.monotonic() + limit_s
    while True:
        table = run(["dvc", "queue", "status"], root, env=env).stdout
        if not any(word in table for word in ("Queued", "Running")):
            return table
        if time.monotonic() > deadline:
            raise AssertionError(f"queued experiments still running after {limit_s:.0f}s:\n{table}")
        time.sleep(3)


def _cache_entries(cache: Path) -> list[dict]:
    """Every cache entry, checked: parses, named by its key, key = request_key(request)."""
    entries = []
    for path in sorted(cache.rglob("*")):
        if path.is_dir() or path.name in (LEDGER_FILE, LEDGER_FILE + ".lock"):
            continue
        assert path.suffix == ".json" and path.parent.name == path.name[:2], f"stray file {path}"
        entry = json.loads(path.read_text(encoding="utf-8"))
        req = entry["request"]
        key = request_key(req["model"], req["messages"], req["sampling"], req["draw"], req.get("namespace"))
        assert entry["key"] == key == path.stem, f"{path}: key does not match its request"
        assert isinstance(entry["response"].get("content"), str), path
        entries.append(entry)
    return entries


def test_two_queued_experiments_share_one_cache(project, fake_openai, tmp_path):
    cache = tmp_path / "shared-teacher-cache"  # absolute, outside the repo: both runs see it
    # One round; the two experiments differ only in train.epochs, so probe, analyze@0, synthesize@1
    # and label@1 make the same requests in both (a race on the cache), analyze@1 different ones.
    root = project(slots=1, **{"rounds": 1, "teacher.provider": "openai", "synthesize.strategy": "evokd", "teacher.model": "fake-model",
                               "teacher.base_url": fake_openai.url, "teacher.backoff_s": 0.01,
                               "teacher.cache_dir": str(cache), "synthesize.batches": 2,
                               "label.batch_size": 4})
    env = {"OPENAI_API_KEY": KEY}
    fake_openai.delay = 0.3  # replies take a moment, as an LLM's do: widens the race window
    run(["dvc", "exp", "run", "--queue", "-n", "epochs1", "-S", "train.epochs=1"], root, env=env)
    run(["dvc", "exp", "run", "--queue", "-n", "epochs2", "-S", "train.epochs=2"], root, env=env)
    start = time.monotonic()
    run(["dvc", "queue", "start", "-j", "2"], root, env=env)
    try:
        table = _wait_for_queue(root, env)
    finally:
        run(["dvc", "queue", "stop", "--kill"], root, env=env, check=False)
    took = time.monotonic() - start
    logs = {name: run(["dvc", "queue", "logs", name], root, env=env, check=False).stdout[-3000:]
            for name in ("epochs1", "epochs2")}
    assert table.count("Success") == 2 and "Failed" not in table, f"{table}\n{logs}"

    shown = json.loads(run(["dvc", "exp", "show", "--json"], root, env=env).stdout)
    exps = {}
    for baseline in shown:
        for exp in (baseline.get("experiments") or []):
            for rev in exp.get("revs") or []:
                data = rev.get("data") or {}
                if exp.get("name") in ("epochs1", "epochs2") and data.get("metrics"):
                    exps[exp["name"]] = data
    assert set(exps) == {"epochs1", "epochs2"}, shown
    for name, epochs in (("epochs1", 1), ("epochs2", 2)):
        params = exps[name]["params"]["params.yaml"]["data"]
        summary = exps[name]["metrics"]["metrics/summary.json"]["data"]
        assert params["train"]["epochs"] == epochs and params["teacher"]["cache_dir"] == str(cache)
        assert summary["rounds_run"] == 1 and summary["accepted"] > 0, summary
        # 12 answers used, sent or from the cache: the fake server bills each 100 + 50 tokens.
        assert summary["tokens"] == 12 * 150, summary

    # The shared cache is whole: each entry parses and is filed under its request's key.
    entries = _cache_entries(cache)
    distinct = {json.dumps(r["body"], sort_keys=True) for r in fake_openai.requests}
    assert len(entries) == len(distinct)  # one entry per distinct request, nothing missing
    assert not list(cache.rglob("*.tmp")) and not list(root.rglob(".evokd"))  # nothing strayed
    # The folder's spending ledger holds what both processes paid: every request the server
    # answered (100 + 50 tokens each), the raced duplicates included.
    assert json.loads((cache / LEDGER_FILE).read_text())["tokens"] == 150 * len(fake_openai.requests)

    # Paid twice only within the race: a copy arriving after the first copy's reply was sent
    # (plus SLACK_S to write it to the cache) should have been a cache hit.
    by_body = defaultdict(list)
    for r in sorted(fake_openai.requests, key=lambda r: r["t_in"]):
        by_body[json.dumps(r["body"], sort_keys=True)].append(r)
    repeats = {body: rs for body, rs in by_body.items() if len(rs) > 1}
    late = [rs for rs in repeats.values() if any(r["t_in"] > rs[0]["t_out"] + SLACK_S for r in rs[1:])]
    assert all(len(rs) == 2 for rs in repeats.values())  # at most once per run
    assert late == []
    # Each run needs 12 replies: probe's 2 generations and 3 labellings (6 seed + 6 fresh texts,
    # 4 per request), analyze@0's analysis, 2 generations, 2 labellings, 1 second labelling,
    # 1 analysis; the analyses of round 1 differ when the two students answer differently; the
    # other 11 are the same.
    assert len(distinct) in (12, 13) and len(fake_openai.requests) <= 24
    print(f"\nconcurrent exps: {took:.0f}s; {len(fake_openai.requests)} requests sent for "
          f"{len(distinct)} distinct; paid twice (raced): {len(repeats)}; cache entries: {len(entries)}")
