"""The docs/compare-prompts.md recipe, for real: the tiny TREC project of the tests (a fresh git +
DVC project in PROJECT_DIR), both prompt sets x the given seeds through a DVC queue (one run at a
time) against the prompt-sensitive test server (tests/fake_openai.py, PromptSensitive), then
scripts/exp_spread.py over `dvc exp show --json`.

    python bench/prompt_queue.py /tmp/prompt-queue 1,2     # ~6 min a run on 2 busy cores
"""
import subprocess
import sys
import time
from pathlib import Path

import yaml

WT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(WT / "tests"))
from conftest import make_project, run  # noqa: E402
from fake_openai import FakeOpenAI, PromptSensitive  # noqa: E402
from test_compare_prompts_e2e import label_prompt_words  # noqa: E402

root = Path(sys.argv[1])
seeds = [int(s) for s in sys.argv[2].split(",")]
with FakeOpenAI() as server:
    make_project(root, 2, **{"teacher.provider": "openai", "teacher.model": "fake-model",
                             "teacher.base_url": server.url, "teacher.backoff_s": 0.01,
                             "synthesize.batches": 2, "label.batch_size": 4, "label.relabel_fraction": 1.0})
    params = yaml.safe_load((root / "params.yaml").read_text())
    words = {n: label_prompt_words(params, root / "prompts" / n) for n in ("default", "concise")}
    server.responder = PromptSensitive(careful_words=(words["default"] + words["concise"]) / 2)
    env = {"OPENAI_API_KEY": "sk-demo"}
    t0 = time.time()
    for prompts in ("prompts/default", "prompts/concise"):
        for seed in seeds:
            run(["dvc", "exp", "run", "--queue", "-n", f"{Path(prompts).name}-s{seed}",
                 "-S", f"teacher.prompts={prompts}", "-S", f"seed={seed}"], root, env=env)
    run(["dvc", "queue", "start", "-j", "1"], root, env=env)
    while True:
        table = run(["dvc", "queue", "status"], root, env=env).stdout
        if not any(w in table for w in ("Queued", "Running")):
            break
        time.sleep(10)
    print(table)
    print(f"queue took {time.time() - t0:.0f} s; requests to the server: {server.count()}")
    shown = run(["dvc", "exp", "show", "--json"], root).stdout
    (root.parent / "show.json").write_text(shown)
    cmd = [sys.executable, str(WT / "scripts/exp_spread.py"), "--by", "teacher.prompts", "--metric", "score",
           "--metric", "label_disagreement.second_labelling.rate", "--metric", "teacher.prompt_tokens"]
    print("$ dvc exp show --json | python scripts/exp_spread.py --by teacher.prompts --metric score "
          "--metric label_disagreement.second_labelling.rate --metric teacher.prompt_tokens")
    print(subprocess.run(cmd, input=shown, capture_output=True, text=True).stdout)
