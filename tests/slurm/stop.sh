#!/usr/bin/env bash
# tests/slurm/stop.sh - cancel queued Slurm jobs and stop (by pid) the daemons that
# tests/slurm/start.sh started. Leaves the packages, config and accounting database on disk.
exec bash "$(dirname "$0")/start.sh" stop
