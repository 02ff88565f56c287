package proc

import (
	"errors"
	"fmt"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The offsets of raw.go, checked against x/sys's KinfoProc at compile time:
// each pair of array lengths is negative (a compile error) unless the
// constant equals the field's offset.
var kp unix.KinfoProc

var (
	_ [unsafe.Sizeof(kp) - KinfoProcSize]struct{}
	_ [KinfoProcSize - unsafe.Sizeof(kp)]struct{}
	_ [unsafe.Offsetof(kp.Proc.P_pid) - offKpPID]struct{}
	_ [offKpPID - unsafe.Offsetof(kp.Proc.P_pid)]struct{}
	_ [unsafe.Offsetof(kp.Proc.P_comm) - offKpComm]struct{}
	_ [offKpComm - unsafe.Offsetof(kp.Proc.P_comm)]struct{}
	_ [unsafe.Offsetof(kp.Eproc) + unsafe.Offsetof(kp.Eproc.Ppid) - offKpPPID]struct{}
	_ [offKpPPID - unsafe.Offsetof(kp.Eproc) - unsafe.Offsetof(kp.Eproc.Ppid)]struct{}
	_ [unsafe.Offsetof(kp.Eproc) + unsafe.Offsetof(kp.Eproc.Ucred) + unsafe.Offsetof(kp.Eproc.Ucred.Uid) - offKpUID]struct{}
	_ [offKpUID - unsafe.Offsetof(kp.Eproc) - unsafe.Offsetof(kp.Eproc.Ucred) - unsafe.Offsetof(kp.Eproc.Ucred.Uid)]struct{}
	_ [unsafe.Offsetof(kp.Eproc) + unsafe.Offsetof(kp.Eproc.Login) - offKpLogin]struct{}
	_ [offKpLogin - unsafe.Offsetof(kp.Eproc) - unsafe.Offsetof(kp.Eproc.Login)]struct{}
	_ [unsafe.Sizeof(kp.Proc.P_comm) - kpCommLen]struct{}
	_ [kpCommLen - unsafe.Sizeof(kp.Proc.P_comm)]struct{}
)

// RawProcAll returns the bytes of sysctl kern.proc.all: every process as a
// struct kinfo_proc (DecodeKinfoProcs). unix.SysctlRaw probes the size and
// then reads; a table that grew in between fails with ENOMEM, retried here.
func RawProcAll() ([]byte, error) {
	var err error
	for range 5 {
		var b []byte
		if b, err = unix.SysctlRaw("kern.proc.all"); err == nil {
			return b, nil
		}
		if !errors.Is(err, unix.ENOMEM) {
			break
		}
	}
	return nil, fmt.Errorf("proc: sysctl kern.proc.all: %w", err)
}

// RawProcargs2 returns the bytes of sysctl kern.procargs2.<pid>: argc, the
// exec path, argv and then the environment (ParseProcargs2 stops at argc).
// The caller must not keep the environment: see ProcargsArgv.
func RawProcargs2(pid int32) ([]byte, error) {
	b, err := unix.SysctlRaw("kern.procargs2", int(pid))
	if err != nil {
		return nil, fmt.Errorf("proc: sysctl kern.procargs2 pid %d: %w", pid, err)
	}
	return b, nil
}
