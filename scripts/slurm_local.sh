#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for testing profiles/slurm (needs root).
#
#   scripts/slurm_local.sh install   # Debian's slurmctld, slurmd, slurm-client and munge via apt
#   scripts/slurm_local.sh up        # write slurm.conf, start munged, slurmctld, slurmd; wait for idle
#   scripts/slurm_local.sh down      # stop the daemons by their PID files (slurmd, slurmctld, munged)
#   scripts/slurm_local.sh status    # sinfo and squeue of the test cluster
#
# State, spool, logs and PID files live in $MMLEGO_SLURM_DIR (default /var/tmp/mmlego-slurm).
# The config must be the system's /etc/slurm/slurm.conf: inside a job the executor plugin
# clears every SLURM_* variable (SLURM_CONF too) before its `srun`. An existing slurm.conf that
# this script did not write is never overwritten; `down` removes the one it wrote.
# No systemd is needed: the daemons are started by hand and stopped by PID, never by name.
# There is no accounting database, so use `slurm-status-command: squeue` (profiles/slurm-test).
set -euo pipefail

DIR=${MMLEGO_SLURM_DIR:-/var/tmp/mmlego-slurm}
CONF=/etc/slurm/slurm.conf
MARK="# Written by scripts/slurm_local.sh"
MUNGE_PID=/run/munge/munged.pid
# Slurm drops finished jobs from squeue after MinJobAge seconds; the executor plugin needs
# it to be at least 3x its first status-check delay, and tests read `squeue -t all` after a run.
MIN_JOB_AGE=300

die() {
	echo "slurm_local: $*" >&2
	exit 1
}

need_root() {
	[[ $(id -u) -eq 0 ]] || die "must run as root (it starts munged, slurmctld and slurmd)"
}

have_binaries() {
	local exe
	for exe in munged slurmctld slurmd sbatch squeue sinfo scontrol; do
		[[ -x /usr/sbin/$exe ]] || command -v "$exe" >/dev/null 2>&1 || return 1
	done
}

install() {
	need_root
	if have_binaries; then
		echo "slurm_local: slurm and munge already installed"
		return 0
	fi
	local pkgs=(slurmctld slurmd slurm-client munge)
	export DEBIAN_FRONTEND=noninteractive
	# The package index may be stale or missing: retry once after an update.
	apt-get install -y --no-install-recommends "${pkgs[@]}" ||
		{ apt-get update && apt-get install -y --no-install-recommends "${pkgs[@]}"; } ||
		die "apt-get could not install ${pkgs[*]}"
	have_binaries || die "installed ${pkgs[*]} but a daemon or client is still missing"
}

# PID from a PID file if that process is alive, else nothing.
live_pid() {
	local file=$1 pid
	[[ -s $file ]] || return 1
	pid=$(<"$file")
	[[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

munge_works() {
	munge -n </dev/null 2>/dev/null | unmunge >/dev/null 2>&1
}

write_conf() {
	local host cpus mem_mb
	host=$(hostname -s)
	cpus=$(nproc)
	# 90 % of physical memory: slurmd drains a node that reports less than RealMemory.
	mem_mb=$(awk '/^MemTotal:/ {printf "%d", $2 / 1024 * 0.9}' /proc/meminfo)
	if [[ -e $CONF ]] && ! grep -qF "$MARK" "$CONF"; then
		die "$CONF exists and was not written by this script; refusing to replace it"
	fi
	mkdir -p "$(dirname "$CONF")"
	cat >"$CONF.tmp" <<EOF
$MARK: a one-node test cluster, no cgroups, no accounting.
ClusterName=mmlegotest
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$DIR/state
SlurmdSpoolDir=$DIR/spool
SlurmctldPidFile=$DIR/run/slurmctld.pid
SlurmdPidFile=$DIR/run/slurmd.pid
SlurmctldLogFile=$DIR/log/slurmctld.log
SlurmdLogFile=$DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=$MIN_JOB_AGE
ReturnToService=2
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
	mv "$CONF.tmp" "$CONF"
}

wait_idle() {
	local state i
	for i in $(seq 1 60); do
		state=$(sinfo -h -o %T 2>/dev/null | head -n 1 || true)
		case $state in
		idle | mixed | allocated) return 0 ;;
		esac
		sleep 0.5
	done
	echo "slurm_local: node state '${state:-unknown}' after 30 s; slurmd log:" >&2
	tail -n 20 "$DIR/log/slurmd.log" >&2 || true
	tail -n 20 "$DIR/log/slurmctld.log" >&2 || true
	return 1
}

up() {
	need_root
	have_binaries || die "slurm or munge is not installed: run '$0 install' first"
	if live_pid "$DIR/run/slurmctld.pid" >/dev/null && live_pid "$DIR/run/slurmd.pid" >/dev/null; then
		wait_idle && echo "slurm_local: already up" && return 0
		die "daemons are running but the node is not idle; run '$0 down' first"
	fi
	down_quiet
	# A fresh state each time: job ids restart at 1 and no old job is requeued.
	rm -rf "$DIR/state" "$DIR/spool" "$DIR/log"
	mkdir -p "$DIR/state" "$DIR/spool" "$DIR/log" "$DIR/run"
	write_conf
	if ! munge_works; then
		mkdir -p /run/munge /var/log/munge /var/lib/munge
		chown munge:munge /run/munge /var/log/munge /var/lib/munge
		runuser -u munge -- /usr/sbin/munged
		touch "$DIR/run/munged.ours"
		local i
		for i in $(seq 1 20); do munge_works && break || sleep 0.25; done
		munge_works || die "munged did not start; see /var/log/munge/munged.log"
	fi
	/usr/sbin/slurmctld || die "slurmctld did not start; see $DIR/log/slurmctld.log"
	/usr/sbin/slurmd || die "slurmd did not start; see $DIR/log/slurmd.log"
	wait_idle || die "the node did not become idle"
	echo "slurm_local: up ($CONF)"
}

# Stop one daemon by its PID file: TERM, wait up to 15 s, then KILL.
stop_pidfile() {
	local name=$1 file=$2 pid i
	if pid=$(live_pid "$file"); then
		kill -TERM "$pid" 2>/dev/null || true
		for i in $(seq 1 30); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.5
		done
		if kill -0 "$pid" 2>/dev/null; then
			echo "slurm_local: $name ($pid) ignored TERM; killing it" >&2
			kill -KILL "$pid" 2>/dev/null || true
		fi
	fi
	rm -f "$file"
}

down_quiet() {
	stop_pidfile slurmd "$DIR/run/slurmd.pid"
	stop_pidfile slurmctld "$DIR/run/slurmctld.pid"
	# munged is stopped only when this script started it.
	if [[ -e $DIR/run/munged.ours ]]; then
		stop_pidfile munged "$MUNGE_PID"
		rm -f "$DIR/run/munged.ours"
	fi
}

down() {
	need_root
	down_quiet
	if [[ -e $CONF ]] && grep -qF "$MARK" "$CONF"; then
		rm -f "$CONF"
	fi
	echo "slurm_local: down"
}

status() {
	sinfo
	squeue -t all
}

case ${1:-} in
install) install ;;
up) up ;;
down) down ;;
status) status ;;
*)
	echo "usage: $0 install|up|down|status" >&2
	exit 2
	;;
esac
