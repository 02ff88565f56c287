package main

import (
	"bytes"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/procevents"
)

// fakeEventSource hands out one batch, then blocks until closed.
type fakeEventSource struct {
	mu     sync.Mutex
	batch  []procevents.Event
	closed chan struct{}
}

func (f *fakeEventSource) Read(dst []procevents.Event) ([]procevents.Event, error) {
	f.mu.Lock()
	b := f.batch
	f.batch = nil
	f.mu.Unlock()
	if b != nil {
		return append(dst[:0], b...), nil
	}
	<-f.closed
	return dst[:0], procevents.ErrClosed
}

func (f *fakeEventSource) Close() error            { close(f.closed); return nil }
func (f *fakeEventSource) Stats() procevents.Stats { return procevents.Stats{Messages: 7} }

func TestStartProcessEventsUnavailable(t *testing.T) {
	old := openProcessEvents
	t.Cleanup(func() { openProcessEvents = old })
	openProcessEvents = func() (processEventSource, error) {
		return nil, fmt.Errorf("procevents: bind: %w", syscall.EPERM)
	}
	var logBuf bytes.Buffer
	st := startProcessEvents(true, zerolog.New(&logBuf))
	if s := st.status(sensor.LoopStats{}); s.State != "unavailable" || !strings.Contains(s.Error, "operation not permitted") {
		t.Errorf("status %+v", s)
	}
	if n := strings.Count(logBuf.String(), "process events unavailable: running on polling alone"); n != 1 {
		t.Errorf("logged %d times:\n%s", n, logBuf.String())
	}
	var o sensor.LoopOptions
	st.loopOptions(&o)
	if o.ProcessEvents != nil {
		t.Error("an unavailable source gives the loop a queue")
	}
	st.stop()
	off := startProcessEvents(false, zerolog.Nop())
	if s := off.status(sensor.LoopStats{}); s.State != "off" {
		t.Errorf("off: %+v", s)
	}
}

func TestStartProcessEventsFeedsTheQueue(t *testing.T) {
	old := openProcessEvents
	t.Cleanup(func() { openProcessEvents = old })
	src := &fakeEventSource{batch: []procevents.Event{{Kind: procevents.Exec, PID: 42}}, closed: make(chan struct{})}
	openProcessEvents = func() (processEventSource, error) { return src, nil }
	st := startProcessEvents(true, zerolog.Nop())
	var o sensor.LoopOptions
	st.loopOptions(&o)
	if o.ProcessEvents == nil {
		t.Fatal("no queue in the loop options")
	}
	deadline := time.Now().Add(10 * time.Second)
	for o.ProcessEvents.Stats().Put != 1 { // Feed runs on its own goroutine
		if time.Now().After(deadline) {
			t.Fatal("the event never reached the queue")
		}
		runtime.Gosched()
	}
	s := st.status(sensor.LoopStats{})
	if s.State != "on" || s.Events != 1 || s.Messages != 7 {
		t.Errorf("status %+v", s)
	}
	st.stop() // closes the source; Feed returns
}
