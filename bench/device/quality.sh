# Quality benchmark on the GPU machine: one process per (dataset, seed), all in parallel.
source bench/device/setup.sh
python3 - <<'PY'
import yaml
p = yaml.safe_load(open("params.yaml")); p["train"]["threads"] = 1
open("trec_dev.params.yaml", "w").write(yaml.safe_dump(p))
q = yaml.safe_load(open("bench/conll.params.yaml")); q["train"]["threads"] = 1
open("bench/conll_dev.params.yaml", "w").write(yaml.safe_dump(q))
PY
limit=${1:-300}
mkdir -p /tmp/q
for s in 0 1 2 3 4; do
  full=0; [ $s -lt 2 ] && full=1
  timeout $limit python3 bench/quality.py --params trec_dev.params.yaml --rounds 8 --seeds $s --full-seeds $full \
    --strategies evokd random uncertainty evokd-uncertainty evokd-no-easy evokd-no-review full \
    --work /tmp/q/trec$s --out /tmp/q/trec$s.json > /tmp/q/trec$s.log 2>&1 &
  full=0; [ $s -lt 1 ] && full=1
  timeout $limit python3 bench/quality.py --params bench/conll_dev.params.yaml --rounds 4 --seeds $s --full-seeds $full \
    --strategies evokd random uncertainty evokd-uncertainty full \
    --work /tmp/q/conll$s --out /tmp/q/conll$s.json > /tmp/q/conll$s.log 2>&1 &
done
wait
nvidia-smi --query-gpu=name --format=csv,noheader
grep -h -E "^seed|Error|error" /tmp/q/*.log | sort | uniq > $OUT/quality_device.log
tail -n 30 /tmp/q/trec0.log /tmp/q/conll0.log >> $OUT/quality_device.log
ls /tmp/q/*.json
python3 bench/quality.py --merge /tmp/q/trec*.json --out $OUT/quality_trec_gpu.json
python3 bench/quality.py --merge /tmp/q/conll*.json --out $OUT/quality_conll_gpu.json
