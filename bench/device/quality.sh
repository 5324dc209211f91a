# Quality benchmark on the GPU machine: one process per (dataset, seed), all in parallel, then one
# merged JSON per dataset under $OUT. The first pass (bench/results/quality_*_gpu.json) used the
# defaults below; the second (quality2_*_gpu.json):
#   TREC="evokd-uncertainty-mixed evokd-mixed" CONLL="evokd-uncertainty-mixed evokd-mixed" \
#   TREC_FULL=0 CONLL_FULL=0 NAME=quality2 bash bench/device/quality.sh 170
source bench/device/setup.sh
python3 - <<'PY'
import yaml
p = yaml.safe_load(open("params.yaml")); p["train"]["threads"] = 1
open("trec_dev.params.yaml", "w").write(yaml.safe_dump(p))
q = yaml.safe_load(open("bench/conll.params.yaml")); q["train"]["threads"] = 1
open("bench/conll_dev.params.yaml", "w").write(yaml.safe_dump(q))
PY
limit=${1:-300}
trec=${TREC:-evokd random uncertainty evokd-uncertainty evokd-no-easy evokd-no-review full}
conll=${CONLL:-evokd random uncertainty evokd-uncertainty full}
name=${NAME:-quality}
q=${TMPDIR:-/tmp}/q
mkdir -p $q
for s in 0 1 2 3 4; do
  # full: the first TREC_FULL (default 2) and CONLL_FULL (default 1) seeds only
  timeout $limit python3 bench/quality.py --params trec_dev.params.yaml --rounds 8 --seeds $s \
    --full-seeds $(( s < ${TREC_FULL:-2} )) --strategies $trec \
    --work $q/trec$s --out $q/trec$s.json > $q/trec$s.log 2>&1 &
  timeout $limit python3 bench/quality.py --params bench/conll_dev.params.yaml --rounds 4 --seeds $s \
    --full-seeds $(( s < ${CONLL_FULL:-1} )) --strategies $conll \
    --work $q/conll$s --out $q/conll$s.json > $q/conll$s.log 2>&1 &
done
wait
grep -h -E "^seed|Error|error" $q/*.log | sort | uniq > $OUT/${name}_device.log
python3 bench/quality.py --merge $q/trec*.json --out $OUT/${name}_trec_gpu.json
python3 bench/quality.py --merge $q/conll*.json --out $OUT/${name}_conll_gpu.json
