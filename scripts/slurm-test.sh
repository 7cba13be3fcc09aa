#!/usr/bin/env bash
# A sharded `analyze` on a real Slurm cluster: a single-node cluster is
# started on this machine (munged, slurmctld and slurmd with a minimal
# slurm.conf for it), `sbatch --array=0-3` runs four shards of MiniLM
# (each an array task: the shard comes from SLURM_ARRAY_TASK_ID and
# SLURM_ARRAY_TASK_COUNT), a merge job waits for them
# (--dependency=afterok), and its report must be byte-identical to the
# single-process run's (both use --threads 1, so even the backend object
# agrees). The daemons are stopped at the end, whatever happened.
#
#   SPECSCOPE_CHECKPOINTS=/path/to/checkpoints scripts/slurm-test.sh [BINARY]
#
# BINARY defaults to the release build ($CARGO_TARGET_DIR or target/).
# Needs root (the daemons) and Debian's apt when slurm-wlm or munge is
# missing (installed here). Exit 0: identical; 1: a job failed or the
# reports differ; 2: the cluster could not be set up.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${1:-${CARGO_TARGET_DIR:-target}/release/specscope}
BIN=$(realpath "$BIN")
CK=$(realpath "${SPECSCOPE_CHECKPOINTS:-.cache/checkpoints}/minilm/model.safetensors")
SHARDS=4
[ -x "$BIN" ] || { echo "slurm-test: no binary at $BIN (cargo build --release)" >&2; exit 2; }
[ -f "$CK" ] || { echo "slurm-test: no checkpoint at $CK (scripts/fetch-checkpoints.sh)" >&2; exit 2; }
if [ "$(id -u)" != 0 ]; then
  # The daemons need root: through passwordless sudo where there is one.
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    exec sudo -n env SPECSCOPE_CHECKPOINTS="$(dirname "$(dirname "$CK")")" bash "$0" "$BIN"
  fi
  echo "slurm-test: run as root (it starts slurmctld, slurmd and munged)" >&2
  exit 2
fi

if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null || ! command -v munged >/dev/null; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
fi

WORK=$(mktemp -d /tmp/specscope-slurm.XXXXXX)
chmod 755 "$WORK"
export SLURM_CONF=$WORK/slurm.conf
started=$(date +%s)

# Stops the daemons this script started (by their pid files) and waits
# until they are gone.
stop() {
  for d in slurmd slurmctld munged; do
    [ -f "$WORK/$d.pid" ] || continue
    pid=$(cat "$WORK/$d.pid")
    kill "$pid" 2>/dev/null || continue
    for _ in $(seq 50); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.2
    done
  done
}
fail() {
  echo "slurm-test: $1" >&2
  for log in slurmctld.log slurmd.log munged.log shard-0.out shard-1.out shard-2.out shard-3.out merge.out; do
    [ -s "$WORK/$log" ] && { echo "--- $log (last lines)" >&2; tail -n 15 "$WORK/$log" >&2; }
  done
  echo "slurm-test: logs kept in $WORK" >&2
  exit "${2:-1}"
}
trap stop EXIT

# munge with a private key and socket, so a system munged (if any) is
# left alone.
head -c 1024 /dev/urandom >"$WORK/munge.key"
chmod 400 "$WORK/munge.key"
munged --force --key-file="$WORK/munge.key" --socket="$WORK/munge.sock" \
  --pid-file="$WORK/munged.pid" --log-file="$WORK/munged.log" --seed-file="$WORK/munged.seed" \
  || fail "munged did not start" 2

# Ports away from the defaults (6817/6818), so a cluster already running
# here is not disturbed.
port=$((20000 + RANDOM % 20000))
host=$(hostname -s)
cat >"$SLURM_CONF" <<EOF
ClusterName=specscope-test
SlurmctldHost=$host
SlurmctldPort=$port
SlurmdPort=$((port + 1))
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$WORK/munge.sock
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$WORK/state
SlurmdSpoolDir=$WORK/spool
SlurmctldPidFile=$WORK/slurmctld.pid
SlurmdPidFile=$WORK/slurmd.pid
SlurmctldLogFile=$WORK/slurmctld.log
SlurmdLogFile=$WORK/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SwitchType=switch/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MinJobAge=600
NodeName=$host CPUs=$(nproc) State=UNKNOWN
PartitionName=test Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
mkdir -p "$WORK/state" "$WORK/spool" "$WORK/parts"

slurmctld -c || fail "slurmctld did not start" 2
slurmd || fail "slurmd did not start" 2
for _ in $(seq 60); do
  state=$(sinfo -h -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 1
done
[ "$state" = idle ] || fail "the node is not idle after 60 s (state: ${state:-none})" 2

# The shards: four array tasks, one CPU each. No --shard flag: each reads
# its shard from the array task's variables.
array=$(sbatch --parsable --array=0-$((SHARDS - 1)) --cpus-per-task=1 \
  --output="$WORK/shard-%a.out" \
  --wrap="$BIN analyze $CK --format json --threads 1 -o $WORK/parts/") \
  || fail "sbatch of the array failed" 2
merge=$(sbatch --parsable --dependency=afterok:"$array" --cpus-per-task=1 \
  --output="$WORK/merge.out" \
  --wrap="$BIN merge $WORK/parts/*.json --threads 1 -o $WORK/merged.json") \
  || fail "sbatch of the merge failed" 2
echo "slurm-test: array job $array ($SHARDS shards), merge job $merge"

# The single-process run, here, while the cluster works.
"$BIN" analyze "$CK" --format json --threads 1 --quiet -o "$WORK/whole.json"

for _ in $(seq 900); do
  [ -z "$(squeue -h -j "$array,$merge" 2>/dev/null)" ] && break
  sleep 1
done
merge_state=$(scontrol show job "$merge" | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
[ "$merge_state" = COMPLETED ] || fail "the merge job ended $merge_state"
ls "$WORK"/parts/analyze-part-*-of-$SHARDS.json >/dev/null || fail "no parts written"
[ "$(ls "$WORK"/parts | wc -l)" = "$SHARDS" ] || fail "expected $SHARDS parts: $(ls "$WORK/parts")"
grep -h "shard .*Slurm array task" "$WORK"/shard-*.out | sed 's/^/slurm-test: /'
if ! cmp -s "$WORK/whole.json" "$WORK/merged.json"; then
  diff "$WORK/whole.json" "$WORK/merged.json" | head -20 >&2
  fail "the merged report differs from the single-process run's"
fi
echo "slurm-test: merged report of $SHARDS Slurm array tasks is byte-identical to the single run ($(wc -c <"$WORK/merged.json") bytes, $(($(date +%s) - started)) s)"
stop
trap - EXIT
rm -rf "$WORK"
