#!/usr/bin/env bash
# Starts a single-node Slurm cluster on localhost (munged, slurmctld, slurmd) with its
# configuration and state in $1; installs Debian's slurm-wlm and munge when missing.
# Sourced by tests/slurm/array_job.sh, which stops it again (stop_cluster).
set -euo pipefail

start_cluster() {
    local dir=$1
    if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
        local sudo=""
        [ "$(id -u)" -eq 0 ] || sudo=sudo
        $sudo apt-get update -qq
        DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null
    fi
    mkdir -p "$dir/spool" "$dir/state" "$dir/munge" "$dir/log"
    chmod 700 "$dir/munge"
    mungekey --create --keyfile "$dir/munge/munge.key" --force
    munged --key-file "$dir/munge/munge.key" --socket "$dir/munge/socket" \
        --pid-file "$dir/munge/munged.pid" --log-file "$dir/log/munged.log" --seed-file "$dir/munge/seed" --force
    local cpus
    cpus=$(nproc)
    cat > "$dir/slurm.conf" <<CONF
ClusterName=hypersynth-test
SlurmctldHost=localhost
SlurmUser=$(id -un)
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$dir/munge/socket
CredType=cred/munge
SlurmctldPort=16817
SlurmdPort=16818
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
MpiDefault=none
ReturnToService=2
NodeName=localhost CPUs=$cpus State=UNKNOWN
PartitionName=test Nodes=localhost Default=YES MaxTime=INFINITE State=UP OverSubscribe=NO
CONF
    export SLURM_CONF=$dir/slurm.conf
    slurmctld -f "$SLURM_CONF"
    slurmd -f "$SLURM_CONF"
    for _ in $(seq 60); do
        if sinfo -h -o %T 2>/dev/null | grep -q idle; then return 0; fi
        sleep 1
    done
    echo "slurm: the node did not come up; logs in $dir/log" >&2
    tail -20 "$dir/log/"*.log >&2
    return 1
}

# Stops the daemons and waits (up to 30 s each) until they have exited: slurmctld writes its
# state as it shuts down, so removing $1 before then races with it.
stop_cluster() {
    local dir=$1 file pid
    for file in "$dir/slurmd.pid" "$dir/slurmctld.pid" "$dir/munge/munged.pid"; do
        [ -f "$file" ] || continue
        pid=$(cat "$file")
        kill "$pid" 2>/dev/null || continue
        for _ in $(seq 300); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    done
}
