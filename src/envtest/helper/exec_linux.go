package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"syscall"
)

// execWithParentDeathSignal replaces this process with program after asking the kernel to send
// SIGKILL when the parent dies. The setting survives execve, so kube-apiserver and the other
// children die with the Node process even when Node itself is killed with SIGKILL.
func execWithParentDeathSignal(parentPID, program string, argv []string) error {
	expectedParent, err := strconv.Atoi(parentPID)
	if err != nil {
		return fmt.Errorf("invalid parent PID %q: %w", parentPID, err)
	}
	path, err := exec.LookPath(program)
	if err != nil {
		return err
	}

	// The parent-death signal belongs to the calling thread, and execve keeps only the calling
	// thread, so prctl and execve must run on the same OS thread.
	runtime.LockOSThread()
	_, _, errno := syscall.RawSyscall(
		syscall.SYS_PRCTL, syscall.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0,
	)
	if errno != 0 {
		return fmt.Errorf("prctl(PR_SET_PDEATHSIG) failed: %w", errno)
	}
	// The parent may have died before prctl took effect, and then no signal would ever come.
	if os.Getppid() != expectedParent {
		return fmt.Errorf("parent process %d exited before %s started", expectedParent, program)
	}
	return syscall.Exec(path, argv, os.Environ())
}
