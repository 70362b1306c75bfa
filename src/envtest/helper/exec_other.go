//go:build !linux

package main

import (
	"os"
	"os/exec"
	"syscall"
)

// execWithParentDeathSignal replaces this process with program. Only Linux has a parent-death
// signal, so elsewhere the Node side's exit and signal handlers are the only cleanup.
func execWithParentDeathSignal(_ string, program string, argv []string) error {
	path, err := exec.LookPath(program)
	if err != nil {
		return err
	}
	return syscall.Exec(path, argv, os.Environ())
}
