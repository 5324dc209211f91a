"""evokd: distil an LLM teacher into a small student with the EvoKD loop (Liu et al., 2024)."""

import time as _time

__version__ = "0.1.0"

# When this process first imported evokd (a stage script's first import): a stage's meta records
# `process_s`, its process time since (imports included), beside `wall_s`, the step's own time;
# bench/pipeline_overhead.py compares their sum with what `dvc repro` took.
IMPORTED_AT = _time.perf_counter()
