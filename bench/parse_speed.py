"""How fast the reply parser reads huge and pathological replies, against json.loads of a valid
reply of the same size in the same run (the ratio is what to compare across machines).

    python bench/parse_speed.py

The cases are tests/unit/teachers/test_fuzz_teacher_replies.py's huge replies; the test checks their outcome,
this script their speed (a scan that turned quadratic would show here as a ratio far above 1).
"""
import json
import time

from evokd.teachers.parse import extract_json

CASES = {
    "400k commas, unclosed": "[1," * 400_000 + "x",
    "100k labels, trailing comma": '{"labels": [' + '{"id": 1, "label": "LOC"},' * 100_000 + "]}",
    "200k empty fences": "```" * 200_000,
    "300k open brackets": "{" * 300_000 + "prose" + "}" * 10,
    "5 MB prose": "x" * 5_000_000,
}


def best_of(fn, arg, repeats: int = 3) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(arg)
        times.append(time.perf_counter() - start)
    return min(times)


if __name__ == "__main__":
    print("command: python bench/parse_speed.py")
    print(f"{'case':32} {'MB':>6} {'extract_json s':>15} {'json.loads s':>13} {'ratio':>7}")
    for name, reply in CASES.items():
        baseline = json.dumps({"labels": [{"id": 1, "label": "x" * 16}] * max(1, len(reply) // 30)})
        ours, theirs = best_of(extract_json, reply), best_of(json.loads, baseline)
        print(f"{name:32} {len(reply) / 1e6:6.2f} {ours:15.3f} {theirs:13.3f} {ours / theirs:7.1f}")
