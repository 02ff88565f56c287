//go:build !linux && !darwin

package respond

import (
	"fmt"
	"runtime"
	"time"
)

const startTolerance = time.Microsecond

func signalProcess(pid int, check func() error) error {
	return fmt.Errorf("respond: kill_process is not supported on %s", runtime.GOOS)
}
