#!/usr/bin/env bash
# `make run`: the distributed job as the lab runs it (config.json, or $WC_CONFIG): an embedded
# redis-server, the configured mix of normal, crashing and sleeping workers, checkpoints, and
# Redis crashed and restarted while work is pending. Prints the top words. If DATA_PATH matches
# nothing, a sample data set is generated there first.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${WC_CONFIG:-config.json}
bin=build/wordcount
data_path=$(/usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["DATA_PATH"])' "$config")
shopt -s nullglob
# shellcheck disable=SC2206
matches=($data_path)
if ((${#matches[@]} == 0)); then
  dir=$(dirname "$data_path")
  echo "DATA_PATH '$data_path' matches nothing: generating a sample data set in $dir"
  "$bin" gen --files 8 --rows 20000 --seed 1 "$dir"
fi
exec "$bin" run --config "$config"
