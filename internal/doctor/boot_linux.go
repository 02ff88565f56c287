package doctor

import (
	"time"

	"github.com/macsensor/macsensor/sensor/proc"
)

// bootTime is what the process table converts start times with.
func bootTime() (time.Time, error) {
	boot, _, err := proc.BootClock()
	if err != nil {
		return time.Time{}, err
	}
	return time.Unix(0, boot), nil
}
