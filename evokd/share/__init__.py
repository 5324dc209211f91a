"""Sharing what a run produced beyond `dvc push`: `evokd export` (the final student and the merged
training set, with cards) and the teacher response cache carried through the DVC remote."""
