package proc

import (
	"fmt"
	"os"
	"strconv"
)

// RawStat returns the bytes of /proc/<pid>/stat (ParseStatLine).
func RawStat(pid int32) ([]byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/stat")
	if err != nil {
		return nil, fmt.Errorf("proc: %w", err)
	}
	return b, nil
}

// RawCmdline returns the bytes of /proc/<pid>/cmdline (SplitCmdline).
func RawCmdline(pid int32) ([]byte, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(int(pid)) + "/cmdline")
	if err != nil {
		return nil, fmt.Errorf("proc: %w", err)
	}
	return b, nil
}

// RawStats returns /proc/<pid>/stat of every process, by pid. A process
// that exits during the walk is left out.
func RawStats() (map[int32][]byte, error) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("proc: %w", err)
	}
	out := make(map[int32][]byte, len(ents))
	for _, e := range ents {
		pid, ok := parsePID([]byte(e.Name()))
		if !ok {
			continue
		}
		if b, err := RawStat(pid); err == nil {
			out[pid] = b
		}
	}
	return out, nil
}

// BootClock returns what a Table opened now converts start times with: the
// boot time in Unix nanoseconds and the nanoseconds of one clock tick.
func BootClock() (bootNs, tickNs int64, err error) {
	boot, err := bootTime()
	if err != nil {
		return 0, 0, err
	}
	return boot, 1e9 / clockTick(), nil
}
