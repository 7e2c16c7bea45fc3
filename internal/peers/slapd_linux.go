//go:build linux

package peers

import (
	"os"
	"strconv"
	"strings"
	"syscall"
)

// slapdSysProcAttr makes the kernel send slapd SIGTERM when the process
// that started it dies (a test binary that panics or times out never runs
// its cleanups), so that no slapd outlives its test.
//
// Pdeathsig fires when the OS thread that forked the child exits; Go only
// ends a thread when a goroutine exits while locked to it, which nothing in
// this path does.
func slapdSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// processAlive reports whether pid is a running slapd (a stale pid file may
// name a pid that another program now has).
func processAlive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
	if err != nil {
		return false
	}
	return strings.TrimSpace(string(b)) == "slapd"
}
