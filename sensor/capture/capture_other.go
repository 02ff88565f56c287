//go:build !linux && !darwin

package capture

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/gopacket/gopacket/layers"
)

func openHandle(name string) (handle, layers.LinkType, error) {
	return nil, 0, fmt.Errorf("capture: packet capture not supported on %s: %w", runtime.GOOS, errors.ErrUnsupported)
}

func newLocalAddrs() *localAddrs { return nil }
