#!/bin/bash
# Usage: bench/sigkill_index.sh [LFW_DIR]   (needs the project venv in .venv; prints counts to compare)
# Index all of LFW, SIGKILL the server half-way, restart, finish; every photo exactly once.
cd "$(dirname "$0")/.."
DATA=$(mktemp -d)
LFW=${1:-../shared/data/faces/lfw}
TOTAL=$(find $LFW -name "*.jpg" | wc -l)
echo "total $TOTAL"
.venv/bin/facegrid serve --address 127.0.0.1:50998 --data-dir $DATA > $DATA/serve1.log 2>&1 &
SERVER=$!
for i in $(seq 90); do grep -q "serving on" $DATA/serve1.log && break; sleep 1; done
.venv/bin/facegrid index $LFW --server 127.0.0.1:50998 --json --collection lfw > $DATA/index1.json 2>/dev/null &
CLIENT=$!
while true; do
  sleep 5
  N=$(.venv/bin/python -c "
from facegrid.clients.sdk import Facegrid
try:
    print(Facegrid('127.0.0.1:50998').stats('lfw').photos)
except Exception: print(0)")
  if [ "$N" -ge $((TOTAL / 2)) ]; then break; fi
done
echo "killing at $N photos"; date
kill -9 $SERVER; wait $CLIENT; echo "client exit $?"
.venv/bin/facegrid serve --address 127.0.0.1:50998 --data-dir $DATA > $DATA/serve2.log 2>&1 &
SERVER=$!
for i in $(seq 90); do grep -q "serving on" $DATA/serve2.log && break; sleep 1; done
.venv/bin/facegrid index $LFW --server 127.0.0.1:50998 --json --collection lfw 2>/dev/null | tail -1 | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); d.pop('failed'); print('rerun', d)"
.venv/bin/python -c "
from facegrid.clients.sdk import Facegrid
s = Facegrid('127.0.0.1:50998').stats('lfw'); print('stats photos', s.photos, 'faces', s.faces)"
redis-cli -s $DATA/redis/redis.sock eval "local n=0 for _,k in ipairs(redis.call('keys','fg:c:lfw:face:*')) do n=n+1 end return n" 0 | sed 's/^/faces in redis /'
kill $SERVER; wait $SERVER
date
