"""The pipeline's steps as functions of (config, round). Each reads the files of the previous
round (evokd.paths) and writes its own atomically; dvc.yaml wires them together."""
