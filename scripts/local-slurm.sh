#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for trying and testing `mpquic matrix --emit-slurm`
# (experiments/MATRIX.md, "On a cluster"). Needs root and Debian's packages:
#
#   apt-get install -y slurm-wlm munge
#   scripts/local-slurm.sh start     # munged, slurmctld and slurmd; waits until the node is idle
#   sbatch DIR/job.sbatch; squeue    # as on a cluster
#   scripts/local-slurm.sh status
#   scripts/local-slurm.sh stop      # stops what `start` started
#
# The daemons listen on 127.0.0.1 only (NoCtldInAddrAny and NoInAddrAny bind them to their
# configured addresses, both 127.0.0.1 here) and munge talks over its Unix socket. The configuration goes to /etc/slurm/slurm.conf (where
# sbatch, squeue and sinfo look) unless a file not written by this script is there: then it stops.
# State and logs are under /var/lib/mpquic-local-slurm and /var/log/mpquic-local-slurm.
set -euo pipefail

CONF=/etc/slurm/slurm.conf
MARK="# written by mpquic scripts/local-slurm.sh"
STATE=/var/lib/mpquic-local-slurm
LOGS=/var/log/mpquic-local-slurm
RUN=/run/mpquic-local-slurm
NODE=mpquic-local
CTLD_PORT=${MPQUIC_SLURMCTLD_PORT:-6817}
SLURMD_PORT=${MPQUIC_SLURMD_PORT:-6818}

say() { printf 'local-slurm: %s\n' "$*" >&2; }
die() { say "$*"; exit 1; }

need() {
    [ "$(id -u)" = 0 ] || die "needs root (it starts munged, slurmctld and slurmd)"
    local missing=()
    for b in munged munge slurmctld slurmd sbatch sinfo scontrol; do
        command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || missing+=("$b")
    done
    [ ${#missing[@]} = 0 ] || die "missing ${missing[*]}: apt-get install -y slurm-wlm munge"
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

write_conf() {
    if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
        die "$CONF exists and was not written by this script; not touching a real cluster's configuration"
    fi
    local cpus
    cpus=$(nproc)
    mkdir -p "$STATE/ctld" "$STATE/d" "$LOGS" "$RUN"
    cat >"$CONF" <<EOF
$MARK: a one-node cluster on 127.0.0.1.
ClusterName=mpquic-local
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$STATE/ctld
SlurmdSpoolDir=$STATE/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$LOGS/slurmctld.log
SlurmdLogFile=$LOGS/slurmd.log
# No cgroups: containers and CI machines often have none to give.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
MaxArraySize=10001
NodeName=$NODE NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus State=UNKNOWN
PartitionName=local Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
}

start_munge() {
    if munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1; then
        return
    fi
    [ -s /etc/munge/munge.key ] || {
        say "creating /etc/munge/munge.key"
        if command -v mungekey >/dev/null 2>&1; then mungekey --create --keyfile=/etc/munge/munge.key; else
            dd if=/dev/urandom of=/etc/munge/munge.key bs=1 count=1024 status=none; fi
        chown munge:munge /etc/munge/munge.key
        chmod 400 /etc/munge/munge.key
    }
    mkdir -p /run/munge /var/log/munge /var/lib/munge
    chown munge:munge /run/munge /var/log/munge /var/lib/munge
    say "starting munged"
    if command -v runuser >/dev/null 2>&1; then runuser -u munge -- munged 9>&-; else su -s /bin/sh munge -c munged 9>&-; fi
    touch "$RUN/started-munged"
    for _ in $(seq 50); do
        munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1 && return
        sleep 0.1
    done
    die "munged does not answer (see /var/log/munge/munged.log)"
}

start() {
    need
    write_conf
    start_munge
    if ! alive "$RUN/slurmctld.pid"; then
        say "starting slurmctld on 127.0.0.1:$CTLD_PORT"
        # -i: ignore state a previous run left that no longer fits (a changed node, say).
        slurmctld -i 9>&-
    fi
    if ! alive "$RUN/slurmd.pid"; then
        say "starting slurmd on 127.0.0.1:$SLURMD_PORT"
        slurmd -N "$NODE" 9>&-
    fi
    say "waiting for node $NODE to be idle"
    local state=""
    for i in $(seq 120); do
        state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)
        case "$state" in
        idle | mixed | allocated) say "ready: $(sinfo -h -o '%P %D node(s) %c CPUs %T')"; return 0 ;;
        down* | drain*) scontrol update nodename="$NODE" state=resume >/dev/null 2>&1 || true ;;
        esac
        [ $((i % 10)) = 0 ] && say "still waiting (node state: ${state:-unknown})"
        sleep 0.5
    done
    tail -n 20 "$LOGS/slurmctld.log" "$LOGS/slurmd.log" >&2 || true
    die "node $NODE is not idle after 60 s (state: ${state:-unknown}); logs above"
}

stop_pid() {
    local name=$1 file=$2
    if alive "$file"; then
        say "stopping $name"
        local pid
        pid=$(cat "$file")
        kill "$pid"
        for _ in $(seq 100); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
    fi
    rm -f "$file"
}

stop() {
    [ "$(id -u)" = 0 ] || die "needs root"
    stop_pid slurmd "$RUN/slurmd.pid"
    stop_pid slurmctld "$RUN/slurmctld.pid"
    if [ -f "$RUN/started-munged" ]; then
        stop_pid munged /run/munge/munged.pid
        rm -f "$RUN/started-munged"
    fi
}

status() {
    for d in slurmctld slurmd; do
        if alive "$RUN/$d.pid"; then say "$d running (pid $(cat "$RUN/$d.pid"))"; else say "$d not running"; fi
    done
    sinfo 2>/dev/null || true
}

# One start or stop at a time (tests may call start from several threads at once). The daemons
# are started with fd 9 closed, or they would hold the lock for as long as they run.
lock() {
    mkdir -p "$RUN"
    exec 9>"$RUN/lock"
    flock 9
}

case "${1:-}" in
start) lock && start ;;
stop) lock && stop ;;
status) status ;;
*) die "usage: $0 start|stop|status" ;;
esac
