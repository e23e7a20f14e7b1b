#!/usr/bin/env bash
# A real single-node SLURM cluster on this machine (Debian slurmctld + slurmd + munge, run as
# plain daemons: no systemd, no cgroups), for trying the slurm profile and for tests/test_slurm.py.
#
#   bash slurm/local_cluster.sh start   # configure, start, wait until the node is idle
#   bash slurm/local_cluster.sh stop    # stop the daemons started by `start` (by pid file)
#
# Needs root and the Debian packages slurmctld slurmd slurm-client munge (`make system-deps`).
# Partitions "cpu" (default) and "gpu" share the node; FAKE_GPUS (default 1) fake GPUs are
# character devices with /dev/null's numbers, so jobs asking for --gpus get CUDA_VISIBLE_DEVICES.
# No accounting (sacct fails): Snakemake must poll with `--slurm-status-command squeue`, which
# sees finished jobs for MinJobAge (1 h). Writes /etc/slurm/{slurm,gres}.conf; state, logs and
# pid files go to SLURM_BASE (default /tmp/slurm-local, wiped on start). One cluster per machine.
set -euo pipefail

NGPU=${FAKE_GPUS:-1}
BASE=${SLURM_BASE:-/tmp/slurm-local}
NODE=$(hostname -s)
# munged runs as user munge, who may not reach SLURM_BASE: its pid file stays in /run/munge.
PIDS=("$BASE/run/slurmd.pid" "$BASE/run/slurmctld.pid" /run/munge/munged.pid)

log() { echo "[local-slurm] $*" >&2; }

stop() {
  for pf in "${PIDS[@]}"; do
    [ -s "$pf" ] || continue
    pid=$(cat "$pf")
    if kill -0 "$pid" 2>/dev/null; then
      kill "$pid"
      for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
      kill -0 "$pid" 2>/dev/null && kill -9 "$pid" || true
      log "stopped $(basename "$pf" .pid) ($pid)"
    fi
    rm -f "$pf"
  done
}

write_conf() {
  mkdir -p /etc/slurm "$BASE"/{state,spool,log,run}
  # real topology, e.g. "CPUs=2 Boards=1 SocketsPerBoard=1 CoresPerSocket=2 ThreadsPerCore=1"
  local topo mem_mb gres_line=""
  topo=$(slurmd -C | head -1 | grep -o 'CPUs=.*ThreadsPerCore=[0-9]*')
  mem_mb=$(( $(awk '/MemTotal/{print $2}' /proc/meminfo) / 1024 * 90 / 100 ))
  printf 'AutoDetect=off\n' > /etc/slurm/gres.conf
  if [ "$NGPU" -gt 0 ]; then
    # slurmd drops file-less GPUs and rejects plain files: each fake GPU is a character device.
    for i in $(seq 0 $((NGPU - 1))); do mknod -m 666 "$BASE/fakegpu$i" c 1 3; done
    printf 'NodeName=%s Name=gpu File=%s/fakegpu[0-%d]\n' "$NODE" "$BASE" $((NGPU - 1)) >> /etc/slurm/gres.conf
    gres_line="Gres=gpu:$NGPU"
  fi
  cat > /etc/slurm/slurm.conf <<CONF
ClusterName=localcluster
SlurmctldHost=localhost
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
# task/affinity needs no cgroups and supports the srun --cpu-bind the jobstep plugin uses
TaskPlugin=task/affinity
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
DefMemPerCPU=500
# finished jobs stay visible to squeue (status polling) and scontrol (tests) for an hour
MinJobAge=3600
ReturnToService=2
StateSaveLocation=$BASE/state
SlurmdSpoolDir=$BASE/spool
SlurmctldPidFile=$BASE/run/slurmctld.pid
SlurmdPidFile=$BASE/run/slurmd.pid
SlurmctldLogFile=$BASE/log/slurmctld.log
SlurmdLogFile=$BASE/log/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
GresTypes=gpu
NodeName=$NODE NodeAddr=127.0.0.1 $topo RealMemory=$mem_mb $gres_line State=UNKNOWN
PartitionName=cpu Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=$NODE Default=NO MaxTime=INFINITE State=UP
CONF
}

wait_for() {  # wait_for SECONDS WHAT CMD...
  local t=$1 what=$2; shift 2
  for _ in $(seq $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
  log "timeout waiting for $what"; return 1
}

start() {
  local t0=$SECONDS
  for cmd in slurmctld slurmd munged sbatch; do
    command -v "$cmd" >/dev/null || { log "$cmd not found: apt-get install slurmctld slurmd slurm-client munge"; exit 3; }
  done
  stop
  if scontrol ping 2>/dev/null | grep -q UP; then
    log "a SLURM controller not started from $BASE is running: stop it first"; exit 4
  fi
  rm -rf "$BASE"
  write_conf
  [ -s /etc/munge/munge.key ] || { mungekey -c -k /etc/munge/munge.key; chown munge:munge /etc/munge/munge.key; }
  install -d -o munge -g munge -m 755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  wait_for 10 munged sh -c 'munge -n | unmunge'
  slurmctld -i
  wait_for 30 slurmctld sh -c 'scontrol ping | grep -q UP'
  slurmd
  wait_for 30 "node $NODE idle" sh -c "sinfo -h -n $NODE -o %T | grep -qx idle"
  log "cluster up in $((SECONDS - t0)) s (node $NODE, $NGPU fake GPU(s))"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
