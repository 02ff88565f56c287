package capture

import (
	"context"
	"errors"
	"os"
	"sync"
	"time"

	"github.com/gopacket/gopacket/layers"
)

// Frame is one frame as the kernel handed it to the capture, before
// decoding: what `macsensor doctor` keeps in its bundle.
type Frame struct {
	Interface string
	LinkType  layers.LinkType
	Time      int64  // capture time, Unix nanoseconds
	Data      []byte // only valid during the tap call: copy it to keep it
}

// RunTap is Run with a tap: tap sees every frame read, on the reader
// goroutine, before it is decoded and dispatched. Like the callbacks it
// must not block. It exists for the doctor, which records the frames of
// its checks; the daemon calls Run.
func (s *Source) RunTap(ctx context.Context, syn func(SYN), dns func(*DNS), tap func(Frame)) error {
	if !s.running.CompareAndSwap(false, true) {
		return errors.New("capture: Run called twice")
	}
	if s.closed.Load() {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		for _, f := range s.ifaces {
			f.h.interrupt()
		}
	})
	defer stop()
	var wg sync.WaitGroup
	for _, f := range s.ifaces {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.readLoopTap(ctx, f, syn, dns, tap)
		}()
	}
	wg.Wait()
	return nil
}

// readLoopTap is readLoop with the tap (readLoop builds its frame function
// inside; this copy keeps capture.go untouched).
func (s *Source) readLoopTap(ctx context.Context, f *iface, syn func(SYN), dns func(*DNS), tap func(Frame)) {
	var dec Decoded
	fn := func(frame []byte, ts int64) {
		if tap != nil {
			tap(Frame{Interface: f.name, LinkType: f.link, Time: ts, Data: frame})
		}
		s.dispatch(f, &dec, frame, ts, syn, dns)
	}
	backoff := 10 * time.Millisecond
	for {
		err := f.h.read(fn)
		if ctx.Err() != nil || s.closed.Load() || errors.Is(err, os.ErrClosed) {
			return
		}
		if err == nil {
			backoff = 10 * time.Millisecond
			continue
		}
		f.errs.Add(1)
		f.mu.Lock()
		f.lastErr = err.Error()
		f.mu.Unlock()
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
