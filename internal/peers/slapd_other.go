//go:build !linux

package peers

import (
	"os"
	"syscall"
)

func slapdSysProcAttr() *syscall.SysProcAttr { return nil }

// processAlive reports whether pid is a running process.
func processAlive(pid int) bool {
	p, err := os.FindProcess(pid)
	if err != nil {
		return false
	}
	return p.Signal(syscall.Signal(0)) == nil
}
