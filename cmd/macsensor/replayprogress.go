package main

import (
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// replayProgress is replay's progress line on stderr: events/s, bytes
// read, percent of the input, alerts so far. A nil *replayProgress does
// nothing (no terminal).
type replayProgress struct {
	w      io.Writer
	total  int64 // bytes of the input files (stdin: unknown, 0)
	bytes  atomic.Int64
	events atomic.Int64
	alerts atomic.Int64
	began  time.Time
	done   chan struct{}
	wg     sync.WaitGroup
}

// progressEvery is how often the progress line is redrawn.
const progressEvery = 500 * time.Millisecond

func newReplayProgress(w io.Writer, names []string) *replayProgress {
	p := &replayProgress{w: w}
	for _, n := range names {
		if n == "-" {
			p.total = 0
			break
		}
		if st, err := os.Stat(n); err == nil {
			p.total += st.Size()
		}
	}
	return p
}

func (p *replayProgress) start() {
	if p == nil {
		return
	}
	p.began = time.Now()
	p.done = make(chan struct{})
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		t := time.NewTicker(progressEvery)
		defer t.Stop()
		for {
			select {
			case <-p.done:
				return
			case now := <-t.C:
				p.draw(now)
			}
		}
	}()
}

// stop draws the last line and ends it.
func (p *replayProgress) stop() {
	if p == nil || p.done == nil {
		return
	}
	close(p.done)
	p.wg.Wait()
	p.done = nil
	p.draw(time.Now())
	fmt.Fprintln(p.w)
}

func (p *replayProgress) draw(now time.Time) {
	fmt.Fprintf(p.w, "\r%s\x1b[K", formatProgress(now.Sub(p.began), p.events.Load(), p.bytes.Load(), p.total, p.alerts.Load()))
}

func (p *replayProgress) event() {
	if p != nil {
		p.events.Add(1)
	}
}

func (p *replayProgress) alert() {
	if p != nil {
		p.alerts.Add(1)
	}
}

// counter counts the bytes read from r (compressed bytes for a gzip file:
// the percentage is of the files' sizes on disk).
func (p *replayProgress) counter(r io.Reader) io.Reader {
	if p == nil {
		return r
	}
	return &countingReader{r: r, n: &p.bytes}
}

type countingReader struct {
	r io.Reader
	n *atomic.Int64
}

func (c *countingReader) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.n.Add(int64(n))
	return n, err
}

// formatProgress is the progress line: elapsed time, events and their
// rate, bytes read (and the percent of total when known), alerts.
func formatProgress(elapsed time.Duration, events, read, total, alerts int64) string {
	rate := 0.0
	if s := elapsed.Seconds(); s > 0 {
		rate = float64(events) / s
	}
	pct := ""
	if total > 0 {
		pct = fmt.Sprintf(" (%.1f%%)", 100*float64(read)/float64(total))
	}
	return fmt.Sprintf("%s  %d events  %.0f events/s  %s read%s  %d alerts",
		elapsed.Truncate(100*time.Millisecond), events, rate, formatBytes(read), pct, alerts)
}

func formatBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
