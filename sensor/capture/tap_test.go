package capture

import (
	"bytes"
	"context"
	"sync"
	"testing"

	"github.com/gopacket/gopacket/layers"
)

// TestRunTap: the tap sees every frame, malformed ones included, with its
// interface, link type and time, before the frame is dispatched as Run
// would.
func TestRunTap(t *testing.T) {
	h := newFakeHandle()
	s := fakeSource(h, nil)
	var (
		mu     sync.Mutex
		tapped []Frame
		syns   []SYN
	)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- s.RunTap(ctx, func(x SYN) { mu.Lock(); syns = append(syns, x); mu.Unlock() }, nil, func(f Frame) {
			mu.Lock()
			f.Data = bytes.Clone(f.Data)
			tapped = append(tapped, f)
			mu.Unlock()
		})
	}()
	syn := frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.10:50000"), dst: ap("198.51.100.7:443"), flags: "S"})
	h.frames <- syn
	h.frames <- []byte{1, 2, 3}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(tapped) != 2 || !bytes.Equal(tapped[0].Data, syn) || !bytes.Equal(tapped[1].Data, []byte{1, 2, 3}) {
		t.Fatalf("tapped %d frames: %+v", len(tapped), tapped)
	}
	if f := tapped[0]; f.Interface != "fake0" || f.LinkType != layers.LinkTypeEthernet || f.Time != ts0 {
		t.Errorf("frame 0 %+v", f)
	}
	if len(syns) != 1 {
		t.Errorf("%d SYNs dispatched, want 1", len(syns))
	}
	if st := s.Stats(); st.Packets != 2 || st.Malformed != 1 {
		t.Errorf("stats %+v", st)
	}
	if err := s.RunTap(context.Background(), nil, nil, nil); err == nil {
		t.Error("a second run was accepted")
	}
}
