package capture

import "github.com/gopacket/gopacket/layers"

// Frame is one frame as the kernel handed it to the capture, before
// decoding: what `macsensor doctor` keeps in its bundle (Source.RunTap).
type Frame struct {
	Interface string
	LinkType  layers.LinkType
	Time      int64  // capture time, Unix nanoseconds
	Data      []byte // only valid during the tap call: copy it to keep it
}
