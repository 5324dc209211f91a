"""The pipeline's stages, one script each, as dvc.yaml runs them (`python stages/<verb>.py [k]`):
prepare, probe, plan, then per round synthesize -> label -> train -> evaluate -> analyze, and
report. Each holds its step (what it reads, the library calls, what it writes); the library is
evokd/. bench/quality.py imports the same steps."""
