# Sourced by cluster-up.sh and cluster-down.sh (needs $RUN, the folder of our PID files).

# our_pid NAME: print the PID from $RUN/NAME.pid if that process is alive and is the daemon
# NAME; status 1 otherwise (so a stale or reused PID is never taken for our daemon)
our_pid() {
    local pidfile=$RUN/$1.pid pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ -r /proc/$pid/comm ]] || return 1
    case "$1:$(cat "/proc/$pid/comm")" in
        munged:munged | mariadb:mariadbd | mariadb:mysqld | slurmdbd:slurmdbd | slurmctld:slurmctld | slurmd:slurmd)
            echo "$pid"; return 0 ;;
    esac
    return 1
}

# alive NAME: true if our daemon NAME is running
alive() { our_pid "$1" >/dev/null; }
