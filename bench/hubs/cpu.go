package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// clockTick is the unit of /proc's CPU times (USER_HZ, 100 on Linux).
const clockTick = 10 * time.Millisecond

// cpuTime is the user plus system CPU time process pid ("self" for this
// one) has used so far, from /proc/PID/stat.
func cpuTime(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%s/stat: %d fields", pid, len(f))
	}
	var ticks int64
	for _, s := range f[11:13] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/%s/stat: %v", pid, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * clockTick, nil
}

// machineBusy is the CPU time all cores have spent not idle (nor waiting
// for I/O), and the number of cores, from /proc/stat: whatever runs,
// this benchmark or not.
func machineBusy() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	if len(f) < 6 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat: %q", line)
	}
	var busy int64
	for i, s := range f[1:] {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/stat: %v", err)
		}
		if i != 3 && i != 4 && i < 8 { // not idle, iowait; not guest (counted in user)
			busy += n
		}
	}
	return time.Duration(busy) * clockTick, nil
}

// cpuUse is the CPU taken during a measured window.
type cpuUse struct {
	hubs, client, machine time.Duration
}

// cpuSample reads the counters cpuUse is made of.
func cpuSample(nodes []*node) (cpuUse, error) {
	var u cpuUse
	for _, n := range nodes {
		t, err := cpuTime(strconv.Itoa(n.cmd.Process.Pid))
		if err != nil {
			return u, err
		}
		u.hubs += t
	}
	var err error
	if u.client, err = cpuTime("self"); err != nil {
		return u, err
	}
	u.machine, err = machineBusy()
	return u, err
}

func (u cpuUse) minus(v cpuUse) cpuUse {
	return cpuUse{u.hubs - v.hubs, u.client - v.client, u.machine - v.machine}
}
