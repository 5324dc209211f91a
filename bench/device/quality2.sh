# Second quality pass on the GPU machine: the mixed-candidate variants, same seeds as the first.
source bench/device/setup.sh
python3 - <<'PY'
import yaml
p = yaml.safe_load(open("params.yaml")); p["train"]["threads"] = 1
open("trec_dev.params.yaml", "w").write(yaml.safe_dump(p))
q = yaml.safe_load(open("bench/conll.params.yaml")); q["train"]["threads"] = 1
open("bench/conll_dev.params.yaml", "w").write(yaml.safe_dump(q))
PY
limit=${1:-200}
mkdir -p /tmp/q
for s in 0 1 2 3 4; do
  timeout $limit python3 bench/quality.py --params trec_dev.params.yaml --rounds 8 --seeds $s --full-seeds 0 \
    --strategies evokd-uncertainty-mixed evokd-mixed --work /tmp/q/trec$s --out /tmp/q/trec$s.json > /tmp/q/trec$s.log 2>&1 &
  timeout $limit python3 bench/quality.py --params bench/conll_dev.params.yaml --rounds 4 --seeds $s --full-seeds 0 \
    --strategies evokd-uncertainty-mixed evokd-mixed --work /tmp/q/conll$s --out /tmp/q/conll$s.json > /tmp/q/conll$s.log 2>&1 &
done
wait
grep -h -E "^seed|Error|error" /tmp/q/*.log | sort | uniq > $OUT/quality2_device.log
python3 bench/quality.py --merge /tmp/q/trec*.json --out $OUT/quality2_trec_gpu.json
python3 bench/quality.py --merge /tmp/q/conll*.json --out $OUT/quality2_conll_gpu.json
