#!/usr/bin/env bash
# tests/slurm/start.sh - bring up a one-node Slurm cluster on this (Debian 12, no systemd)
# machine for the Slurm tests: munged, slurmctld, slurmd, and slurmdbd on a private MariaDB
# (127.0.0.1:$SLURM_DB_PORT) so that `sacct` answers -- submitit polls sacct to notice jobs
# that were killed; without accounting their result() would wait forever.
#
#   sudo bash tests/slurm/start.sh         install what is missing, configure, start, wait
#                                          for the node; prints "slurm ready"
#   bash tests/slurm/start.sh status       which daemons run; sinfo
#   bash tests/slurm/stop.sh               cancel jobs, stop the daemons this script started
#
# Idempotent: when the cluster already answers (sinfo shows the node idle/mix/alloc and the
# config is unchanged) it does nothing. Check by hand afterwards with:
#   sinfo; sbatch --wrap hostname; sacct -n -X
# Environment: SLURM_DB_PORT (3307), SLURM_READY_TIMEOUT (60 s).
set -euo pipefail

DB_PORT=${SLURM_DB_PORT:-3307}
READY_TIMEOUT=${SLURM_READY_TIMEOUT:-60}
SLURM_CONF=/etc/slurm/slurm.conf
DBD_CONF=/etc/slurm/slurmdbd.conf
PIDDIR=/run/slurm
OURS=/run/pytest-sacred-slurm          # <daemon>.pid: the daemons this script started
DB_DATA=/var/lib/pytest-sacred-slurm/mysql
DB_RUN=$OURS/db
DB_SOCK=$DB_RUN/mysqld.sock
LOGDIR=/var/log/slurm

say() { echo "[tests/slurm] $*" >&2; }
fail() { say "ERROR: $*"; exit 1; }

# alive PID NAME: the process exists and is called NAME
alive() { [[ $1 =~ ^[0-9]+$ && -r /proc/$1/comm && $(cat "/proc/$1/comm" 2>/dev/null) == "$2" ]]; }
pidfile_alive() { [[ -s $1 ]] && alive "$(cat "$1")" "$2"; }

# await_pidfile PIDFILE NAME: a self-daemonizing daemon wrote its pid; remember it as ours
await_pidfile() {
  local _
  for _ in $(seq 300); do
    if pidfile_alive "$1" "$2"; then cat "$1" >"$OURS/$2.pid"; return 0; fi
    sleep 0.1
  done
  return 1
}

# stop_ours NAME: stop (TERM, then KILL after 30 s) a daemon this script started, by its pid
stop_ours() {
  local f=$OURS/$1.pid pid _
  [[ -s $f ]] || return 0
  pid=$(cat "$f")
  if alive "$pid" "$1"; then
    say "stopping $1 (pid $pid)"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 300); do alive "$pid" "$1" || break; sleep 0.1; done
    alive "$pid" "$1" && { say "$1 ignored SIGTERM, killing"; kill -KILL "$pid" 2>/dev/null || true; }
  fi
  rm -f "$f"
}

# replace FILE MODE: write stdin to FILE when it differs; status 0 means it changed
replace() {
  local tmp
  tmp=$(mktemp "$1.XXXXXX")
  cat >"$tmp"
  if [[ -f $1 ]] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 1; fi
  chmod "$2" "$tmp"; mv "$tmp" "$1"
}

install_missing() {
  local missing=() b
  for b in slurmctld slurmd sinfo munged mungekey slurmdbd mariadbd mariadb-install-db mariadb; do
    command -v "$b" >/dev/null || missing+=("$b")
  done
  [[ ${#missing[@]} == 0 ]] && return 0
  say "missing ${missing[*]}: installing Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # not the slurm-wlm meta package: it pulls in every -dev plugin package
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge \
    slurmdbd mariadb-server-core mariadb-client-core >/dev/null
}

start_munge() {
  [[ -s /etc/munge/munge.key ]] || { mkdir -p /etc/munge; mungekey --create --keyfile=/etc/munge/munge.key; }
  chown munge:munge /etc/munge/munge.key; chmod 600 /etc/munge/munge.key
  mkdir -p /run/munge /var/log/munge /var/lib/munge
  chown munge:munge /run/munge /var/log/munge /var/lib/munge; chmod 755 /run/munge
  munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && return 0
  say "starting munged"
  runuser -u munge -- /usr/sbin/munged </dev/null >/dev/null 2>>"$LOGDIR/start-errors.log" \
    || fail "munged failed (see /var/log/munge/munged.log)"
  await_pidfile /run/munge/munged.pid munged || fail "munged did not start"
  munge -n | unmunge >/dev/null || fail "munge does not work"
}

start_mariadb() {
  if [[ ! -d $DB_DATA/mysql ]]; then
    say "initialising the private MariaDB in $DB_DATA"
    mkdir -p "$DB_DATA"; chown slurm:slurm "$DB_DATA"
    mariadb-install-db --no-defaults --user=slurm --datadir="$DB_DATA" \
      --auth-root-authentication-method=socket --skip-test-db >"$LOGDIR/mariadb-install-db.log" 2>&1 \
      || fail "mariadb-install-db failed (see $LOGDIR/mariadb-install-db.log)"
  fi
  mkdir -p "$DB_RUN"; chown slurm:slurm "$DB_RUN"    # mariadbd runs as slurm: its socket dir too
  if ! pidfile_alive "$DB_RUN/mariadbd.pid" mariadbd; then
    say "starting the private mariadbd on 127.0.0.1:$DB_PORT"
    # --no-defaults: the machine's own MariaDB on 3306 and its config are left alone
    setsid /usr/sbin/mariadbd --no-defaults --user=slurm --datadir="$DB_DATA" \
      --socket="$DB_SOCK" --port="$DB_PORT" --bind-address=127.0.0.1 --skip-name-resolve \
      --innodb-buffer-pool-size=256M --innodb-lock-wait-timeout=900 \
      --pid-file="$DB_RUN/mariadbd.pid" --log-error="$DB_DATA/mariadbd.err" \
      </dev/null >/dev/null 2>&1 &
    await_pidfile "$DB_RUN/mariadbd.pid" mariadbd || fail "mariadbd did not start (see $DB_DATA/mariadbd.err)"
  fi
  local _
  for _ in $(seq 150); do mariadb --no-defaults -S "$DB_SOCK" -uroot -e 'select 1' >/dev/null 2>&1 && return 0; sleep 0.2; done
  fail "mariadbd does not answer (see $DB_DATA/mariadbd.err)"
}

start_slurmdbd() {
  local pass changed=0 _
  pass=$(sed -n 's/^StoragePass=//p' "$DBD_CONF" 2>/dev/null || true)
  [[ -n $pass ]] || pass=$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')
  mariadb --no-defaults -S "$DB_SOCK" -uroot <<SQL
CREATE DATABASE IF NOT EXISTS slurm_acct_db;
CREATE USER IF NOT EXISTS 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
ALTER USER 'slurm'@'127.0.0.1' IDENTIFIED BY '$pass';
GRANT ALL ON slurm_acct_db.* TO 'slurm'@'127.0.0.1';
SQL
  replace "$DBD_CONF" 600 <<CONF && changed=1
# written by pytest-sacred tests/slurm/start.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
LogFile=$LOGDIR/slurmdbd.log
PidFile=$PIDDIR/slurmdbd.pid
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=127.0.0.1
StoragePort=$DB_PORT
StorageUser=slurm
StoragePass=$pass
StorageLoc=slurm_acct_db
CONF
  chown slurm:slurm "$DBD_CONF"
  [[ $changed == 1 ]] && pidfile_alive "$PIDDIR/slurmdbd.pid" slurmdbd && stop_ours slurmdbd
  if ! pidfile_alive "$PIDDIR/slurmdbd.pid" slurmdbd; then
    say "starting slurmdbd"
    slurmdbd </dev/null >/dev/null 2>>"$LOGDIR/start-errors.log" || fail "slurmdbd failed (see $LOGDIR/slurmdbd.log)"
    await_pidfile "$PIDDIR/slurmdbd.pid" slurmdbd || fail "slurmdbd did not start (see $LOGDIR/slurmdbd.log)"
  fi
  for _ in $(seq 100); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.2; done
  sacctmgr -n list cluster >/dev/null 2>&1 || fail "slurmdbd does not answer (see $LOGDIR/slurmdbd.log)"
  sacctmgr -n list cluster format=cluster | grep -qw local || sacctmgr -i add cluster local >/dev/null
}

write_slurm_conf() { # HOST NODELINE; status 0 means it changed
  replace "$SLURM_CONF" 644 <<CONF
# written by pytest-sacred tests/slurm/start.sh
ClusterName=local
SlurmctldHost=$1(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
SchedulerParameters=batch_sched_delay=0,sched_min_interval=100000
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStoragePort=6819
JobCompType=jobcomp/none
MailProg=/bin/true
ReturnToService=2
KillWait=10
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=$PIDDIR/slurmctld.pid
SlurmdPidFile=$PIDDIR/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
SlurmctldPort=6817
SlurmdPort=6818
SlurmctldDebug=info
SlurmdDebug=info
$2 NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF
}

# The controller restores the node's previous state from its state file before the new
# slurmd registers, so "idle" alone can be stale: also require that it saw this slurmd start.
slurmd_registered() { # HOST
  local pid started reported
  pid=$(cat "$PIDDIR/slurmd.pid" 2>/dev/null) || return 1
  started=$(date -d "$(ps -o lstart= -p "$pid")" +%s 2>/dev/null) || return 1
  reported=$(scontrol show node "$1" 2>/dev/null | sed -n 's/.*SlurmdStartTime=\([^ ]*\).*/\1/p')
  [[ $reported =~ ^[0-9]{4}- ]] || return 1
  (( $(date -d "$reported" +%s) >= started - 2 ))
}

node_state() { sinfo -h -n "$1" -o %t 2>/dev/null || true; }

start() {
  local t0=$SECONDS host nodeline changed=0 st _
  host=$(hostname -s)
  if command -v sinfo >/dev/null && [[ -s $SLURM_CONF ]] && sacct -n -X >/dev/null 2>&1; then
    case $(node_state "$host") in
      idle|mix|alloc) slurmd_registered "$host" && {
          say "already up; check with: sinfo; sbatch --wrap hostname; sacct -n -X"
          echo "slurm ready (already running)"; return 0; } ;;
    esac
  fi
  [[ $(id -u) == 0 ]] || fail "run as root (the cluster is not up and starting it needs root)"
  install_missing
  mkdir -p "$OURS" "$PIDDIR" "$LOGDIR" /var/spool/slurmctld /var/spool/slurmd /etc/slurm
  chown slurm:slurm "$PIDDIR" "$LOGDIR" /var/spool/slurmctld
  start_munge

  nodeline=$(slurmd -C | head -1)   # "NodeName=vm CPUs=2 ... RealMemory=24105"
  [[ $nodeline == "NodeName=$host "* ]] || fail "unexpected 'slurmd -C' output: $nodeline"
  write_slurm_conf "$host" "$nodeline" && changed=1
  start_mariadb
  start_slurmdbd
  if [[ $changed == 1 ]]; then
    pidfile_alive "$PIDDIR/slurmd.pid" slurmd && { say "config changed: restarting slurmd"; stop_ours slurmd; }
    pidfile_alive "$PIDDIR/slurmctld.pid" slurmctld && { say "config changed: restarting slurmctld"; stop_ours slurmctld; }
  fi
  if ! pidfile_alive "$PIDDIR/slurmctld.pid" slurmctld; then
    say "starting slurmctld"
    slurmctld </dev/null >/dev/null 2>>"$LOGDIR/start-errors.log" || fail "slurmctld failed (see $LOGDIR/slurmctld.log)"
    await_pidfile "$PIDDIR/slurmctld.pid" slurmctld || fail "slurmctld did not start (see $LOGDIR/slurmctld.log)"
  fi
  for _ in $(seq 100); do scontrol ping >/dev/null 2>&1 && break; sleep 0.2; done
  if ! pidfile_alive "$PIDDIR/slurmd.pid" slurmd; then
    say "starting slurmd"
    slurmd </dev/null >/dev/null 2>>"$LOGDIR/start-errors.log" || fail "slurmd failed (see $LOGDIR/slurmd.log)"
    await_pidfile "$PIDDIR/slurmd.pid" slurmd || fail "slurmd did not start (see $LOGDIR/slurmd.log)"
  fi
  for _ in $(seq $((READY_TIMEOUT * 5))); do
    st=$(node_state "$host")
    slurmd_registered "$host" || st="$st (slurmd not registered yet)"
    case $st in
      idle|mix|alloc)
        say "node $host is $st after $((SECONDS - t0)) s; check with: sinfo; sbatch --wrap hostname; sacct -n -X"
        echo "slurm ready"; return 0 ;;
      down*|drain*|drng*) scontrol update NodeName="$host" State=RESUME 2>/dev/null || true ;;
    esac
    sleep 0.2
  done
  sinfo -R >&2 || true
  fail "node $host not idle after ${READY_TIMEOUT} s (state: ${st:-?}); see $LOGDIR/slurmctld.log, $LOGDIR/slurmd.log"
}

stop() {
  local jobs _
  if command -v squeue >/dev/null && pidfile_alive "$PIDDIR/slurmctld.pid" slurmctld; then
    jobs=$(squeue -h -o %i 2>/dev/null || true)
    if [[ -n $jobs ]]; then
      say "cancelling jobs: $(echo $jobs)"
      # shellcheck disable=SC2086
      scancel $jobs 2>/dev/null || true
      for _ in $(seq 60); do [[ -z $(squeue -h -o %i 2>/dev/null) ]] && break; sleep 0.5; done
    fi
  fi
  local d
  for d in slurmd slurmctld slurmdbd mariadbd munged; do stop_ours "$d"; done
}

status() {
  local d f
  for d in munged:/run/munge/munged.pid mariadbd:$DB_RUN/mariadbd.pid slurmdbd:$PIDDIR/slurmdbd.pid \
           slurmctld:$PIDDIR/slurmctld.pid slurmd:$PIDDIR/slurmd.pid; do
    f=${d#*:}; d=${d%%:*}
    if pidfile_alive "$f" "$d"; then echo "$d: running (pid $(cat "$f"))"; else echo "$d: not running"; fi
  done
  command -v sinfo >/dev/null && sinfo 2>/dev/null || true
}

case ${1:-start} in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
