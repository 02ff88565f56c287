//go:build linux

package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// Live measurements of `macsensor run` on Linux (docs/PERFORMANCE.md,
// "Live daemon (Linux)"). They are benchmarks, so a plain `go test` never
// runs them; the daemon is always built without the race detector here.
//
//	go test -run '^$' -bench 'LiveDetectionLatency' -benchtime 50x ./cmd/macsensor
//	go test -run '^$' -bench 'LiveIdle' -benchtime 1x -timeout 20m ./cmd/macsensor
//	go test -run '^$' -bench 'LiveLoad' -benchtime 1x -timeout 20m ./cmd/macsensor
//
// MACSENSOR_LIVE_IDLE (default 5m) and MACSENSOR_LIVE_LOAD (default 60s)
// set the measurement windows.

// BenchmarkLiveDetectionLatency measures, over b.N runs of the seed
// scenario, the time from the runner's connect() returning (the earlier of
// the listener's Accept and the runner's "ready" line, which it prints
// once connect and its first write returned) to the alert line landing in
// the alert log (an inotify event on the log folder). Reported: p50, p99
// and max in ms, at the daemon's default 1 s polls and at 250 ms.
func BenchmarkLiveDetectionLatency(b *testing.B) {
	for _, iv := range []time.Duration{time.Second, 250 * time.Millisecond} {
		b.Run("interval="+iv.String(), func(b *testing.B) { benchLiveLatency(b, iv) })
	}
}

func benchLiveLatency(b *testing.B, interval time.Duration) {
	b.ReportAllocs()
	e := newE2E(b, false)
	cfg := e2eConfig{Rules: []string{e.linuxSeedRule("rules", "")}}
	if interval != time.Second { // 1 s: the daemon's defaults, not written
		cfg.ProcessInterval, cfg.SocketInterval = interval.String(), interval.String()
	}
	d := e.start(e.newState(&cfg))
	w := newLiveLogWatch(b, d.alertPath())

	var lat []time.Duration
	for b.Loop() {
		// Each run starts right after the previous alert, that is right
		// after a poll: spread the connect uniformly over the poll phase,
		// as connects in the field are (a phase offset, not a wait for a
		// condition).
		<-time.After(rand.N(interval))
		auto := e.spawn("automator", "wait")
		for len(e.accepted) > 0 {
			<-e.accepted
		}
		runner := e.spawn("com.apple.automator.runner", "connect", e.addr)
		t0 := runner.ready
		select {
		case at := <-e.accepted:
			if at.Before(t0) {
				t0 = at
			}
		case <-time.After(e2eWithin):
			b.Fatal("the listener accepted no connection from the runner")
		}
		at, line := w.next(t0.Add(e2eAlertWithin + interval))
		var a e2eAlert
		if err := json.Unmarshal(line, &a); err != nil {
			b.Fatalf("alert line: %v: %s", err, line)
		}
		if len(a.Events) != 2 || a.Events[1].Process.PID != runner.pid {
			b.Fatalf("run %d: alert for %d events, last %+v; want the runner %d's connection", len(lat)+1, len(a.Events), a.Events[len(a.Events)-1], runner.pid)
		}
		lat = append(lat, at.Sub(t0))
		// The runner stays (until the end) with its connection open: its
		// disconnect, a network event of a process named
		// com.apple.automator.runner, would complete the next run's
		// sequence (and on Linux even one whose automator starts after it:
		// see TestE2EExecAfterDisconnectNoAlert).
		auto.stop()
	}
	slices.Sort(lat)
	ms := func(d time.Duration) float64 { return float64(d) / 1e6 }
	b.ReportMetric(ms(livePercentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(livePercentile(lat, 99)), "p99-ms")
	b.ReportMetric(ms(lat[len(lat)-1]), "max-ms")
	b.ReportMetric(ms(lat[0]), "min-ms")
	b.ReportMetric(ms(interval+100*time.Millisecond), "target-p99-ms")
	d.waitStatus(fmt.Sprintf("alerts.total %d", len(lat)), e2eWithin, func(st *Status) bool {
		return st.Alerts.Total == uint64(len(lat))
	})
	b.Logf("%d runs at %v polls (load average %s): p50 %.1f ms, p99 %.1f ms, max %.1f ms", len(lat), interval,
		liveLoadAverage(), ms(livePercentile(lat, 50)), ms(livePercentile(lat, 99)), ms(lat[len(lat)-1]))
}

// livePercentile is the nearest-rank percentile of sorted values.
func livePercentile(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted) + 99) / 100 // ceil(p/100 * n), 1-based
	return sorted[max(i, 1)-1]
}

// liveLogWatch reports each complete line appended to a log, woken by inotify
// on the log's folder (IN_MODIFY fires on the write(2) of the line; the
// writer's fsync follows it).
type liveLogWatch struct {
	tb   testing.TB
	f    *os.File // the inotify descriptor, non-blocking, so reads take deadlines
	tail e2eTail
}

func newLiveLogWatch(tb testing.TB, path string) *liveLogWatch {
	tb.Helper()
	fd, err := unix.InotifyInit1(unix.IN_NONBLOCK | unix.IN_CLOEXEC)
	if err != nil {
		tb.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		tb.Fatal(err)
	}
	if _, err := unix.InotifyAddWatch(fd, filepath.Dir(path), unix.IN_MODIFY|unix.IN_CREATE|unix.IN_MOVED_TO); err != nil {
		unix.Close(fd)
		tb.Fatal(err)
	}
	w := &liveLogWatch{tb: tb, f: os.NewFile(uintptr(fd), "inotify"), tail: e2eTail{path: path}}
	tb.Cleanup(func() { w.f.Close() })
	if _, err := w.tail.next(); err != nil { // what is there already does not count
		tb.Fatal(err)
	}
	return w
}

// next returns the next complete line and when it was seen.
func (w *liveLogWatch) next(deadline time.Time) (time.Time, []byte) {
	w.tb.Helper()
	buf := make([]byte, 64<<10)
	for {
		lines, err := w.tail.next()
		if err != nil {
			w.tb.Fatal(err)
		}
		if len(lines) > 0 {
			at := time.Now()
			if len(lines) > 1 {
				w.tb.Fatalf("%d lines at once in %s, want one", len(lines), w.tail.path)
			}
			return at, lines[0]
		}
		if err := w.f.SetReadDeadline(deadline); err != nil {
			w.tb.Fatal(err)
		}
		if _, err := w.f.Read(buf); err != nil {
			w.tb.Fatalf("no line in %s: %v", w.tail.path, err)
		}
	}
}

// BenchmarkLiveIdle runs `macsensor run` with its defaults (1 s polls,
// the built-in seed rule, no event log) on an otherwise quiet sensor for
// MACSENSOR_LIVE_IDLE (default 5m) and reports its CPU use in % of one
// core and its resident memory.
func BenchmarkLiveIdle(b *testing.B) {
	window := liveWindow(b, "MACSENSOR_LIVE_IDLE", 5*time.Minute)
	e := newE2E(b, false)
	d := e.start(e.newState(nil))
	st0 := d.waitStatus("3 polls", e2eWithin, func(st *Status) bool { return st.Polls.Process >= 3 })
	for b.Loop() {
		c0, t0 := liveProcCPU(b, d.pid), time.Now()
		<-time.After(window) // a measurement window, not a wait for a condition
		c1, t1 := liveProcCPU(b, d.pid), time.Now()
		liveReportCost(b, d, c1-c0, t1.Sub(t0))
	}
	st1 := d.waitStatus("a status after the window", e2eWithin, func(st *Status) bool { return st.Updated.After(st0.Updated) })
	b.ReportMetric(float64(st1.Polls.Process-st0.Polls.Process)/st1.Updated.Sub(st0.Updated).Seconds(), "polls/s")
	b.ReportMetric(st1.Polls.LastProcessMS, "last-process-poll-ms")
	b.ReportMetric(st1.Polls.LastSocketMS, "last-socket-poll-ms")
}

// BenchmarkLiveLoad runs `macsensor run` with its default intervals while
// the benchmark starts 50 processes a second (the helper; proclife=0s: it
// exits at once, /bin/true-like; proclife=1s: it lives one second) and
// opens 200 loopback TCP connections a second, each held one second, for
// MACSENSOR_LIVE_LOAD (default 60s). Reported: the daemon's CPU and
// memory, the events per second it reported, its drops, and the rates the
// generator achieved. The status interval is 1 s (not 5 s) so that the
// event counts are read close to the window's ends.
func BenchmarkLiveLoad(b *testing.B) {
	for _, life := range []time.Duration{0, time.Second} {
		b.Run("proclife="+life.String(), func(b *testing.B) { benchLiveLoad(b, life) })
	}
}

func benchLiveLoad(b *testing.B, procLife time.Duration) {
	const (
		procsPerSec = 50
		connsPerSec = 200
		connHold    = time.Second
	)
	window := liveWindow(b, "MACSENSOR_LIVE_LOAD", time.Minute)
	e := newE2E(b, false)
	cfg := e2eConfig{Builtin: true, StatusInterval: "1s"}
	d := e.start(e.newState(&cfg))
	bin := e.helperAs("e2e-load")

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()

	var procs, conns, failed atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // processes
		defer wg.Done()
		tick := time.NewTicker(time.Second / procsPerSec)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			cmd := exec.Command(bin, "wait")
			cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
			var stdin io.WriteCloser
			if procLife > 0 {
				var err error
				if stdin, err = cmd.StdinPipe(); err != nil {
					failed.Add(1)
					continue
				}
			} // else stdin is /dev/null: the helper exits at once
			if err := cmd.Start(); err != nil {
				failed.Add(1)
				continue
			}
			procs.Add(1)
			wg.Add(1)
			if stdin != nil {
				time.AfterFunc(procLife, func() { stdin.Close() })
			}
			go func() { defer wg.Done(); cmd.Wait() }()
		}
	}()
	go func() { // connections
		defer wg.Done()
		tick := time.NewTicker(time.Second / connsPerSec)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
			if err != nil {
				failed.Add(1)
				continue
			}
			conns.Add(1)
			time.AfterFunc(connHold, func() { c.Close() })
		}
	}()
	defer func() { close(stop); wg.Wait() }()

	// Let the load reach its steady state (every held connection and
	// process of the first seconds gone through the daemon) first.
	loadStart := time.Now()
	st0 := d.waitStatus("a status 3 s into the load", e2eWithin, func(st *Status) bool {
		return st.Updated.After(loadStart.Add(3 * time.Second))
	})
	for b.Loop() {
		c0, t0, p0, n0 := liveProcCPU(b, d.pid), time.Now(), procs.Load(), conns.Load()
		<-time.After(window) // a measurement window, not a wait for a condition
		st1 := d.waitStatus("a status after the window", e2eWithin, func(st *Status) bool {
			return st.Updated.Sub(st0.Updated) >= window
		})
		c1, t1, p1, n1 := liveProcCPU(b, d.pid), time.Now(), procs.Load(), conns.Load()
		liveReportCost(b, d, c1-c0, t1.Sub(t0))
		secs := st1.Updated.Sub(st0.Updated).Seconds()
		rate := func(k string) float64 { return float64(st1.Events[k]-st0.Events[k]) / secs }
		b.ReportMetric(rate("process"), "process-events/s")
		b.ReportMetric(rate("network"), "network-events/s")
		b.ReportMetric(rate("end"), "end-events/s")
		var drops uint64
		for _, v := range st1.Drops {
			drops += v
		}
		b.ReportMetric(float64(drops), "drops")
		b.ReportMetric(float64(st1.LateEvents), "late-events")
		b.ReportMetric(float64(p1-p0)/t1.Sub(t0).Seconds(), "spawned/s")
		b.ReportMetric(float64(n1-n0)/t1.Sub(t0).Seconds(), "connected/s")
		b.ReportMetric(st1.Polls.LastProcessMS, "last-process-poll-ms")
		b.ReportMetric(st1.Polls.LastSocketMS, "last-socket-poll-ms")
		b.Logf("status after the window: events %v, drops %v, sensor %v, polls %+v; generator failures %d",
			st1.Events, st1.Drops, st1.Sensor, st1.Polls, failed.Load())
	}
}

// liveReportCost reports CPU (utime+stime over the window, in % of one core)
// and memory (VmRSS now, VmHWM the peak) of the daemon.
func liveReportCost(b *testing.B, d *e2eDaemon, cpu, wall time.Duration) {
	rss, hwm := liveProcMem(b, d.pid)
	b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu-%core")
	b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
	b.ReportMetric(float64(hwm)/(1<<20), "hwm-MiB")
	b.Logf("window %v: cpu %v (%.3f%% of one core), VmRSS %.1f MiB, VmHWM %.1f MiB, load average %s",
		wall.Round(time.Millisecond), cpu, 100*cpu.Seconds()/wall.Seconds(), float64(rss)/(1<<20), float64(hwm)/(1<<20), liveLoadAverage())
}

// liveProcCPU is utime+stime of pid from /proc/<pid>/stat (fields 14 and 15,
// in clock ticks of USER_HZ, which the kernel fixes at 100 for user space
// on x86 and arm: include/asm-generic/param.h).
func liveProcCPU(tb testing.TB, pid int) time.Duration {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		tb.Fatal(err)
	}
	// comm (field 2) may hold spaces and parentheses: count fields after
	// the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		tb.Fatalf("/proc/%d/stat: no comm: %q", pid, data)
	}
	f := strings.Fields(string(data[i+1:])) // f[0] is field 3 (state)
	if len(f) < 13 {
		tb.Fatalf("/proc/%d/stat: %d fields", pid, len(f)+2)
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err1, err2); err != nil {
		tb.Fatal(err)
	}
	const userHZ = 100
	return time.Duration(ut+st) * time.Second / userHZ
}

// liveProcMem is VmRSS and VmHWM of pid in bytes, from /proc/<pid>/status.
func liveProcMem(tb testing.TB, pid int) (rss, hwm int64) {
	tb.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		tb.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			tb.Fatalf("/proc/%d/status %s: %v", pid, k, err)
		}
		if k == "VmRSS" {
			rss = kb << 10
		} else {
			hwm = kb << 10
		}
	}
	return rss, hwm
}

func liveLoadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// liveWindow reads a measurement window from the environment.
func liveWindow(tb testing.TB, env string, def time.Duration) time.Duration {
	v := os.Getenv(env)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		tb.Fatalf("%s=%q: want a duration like 5m", env, v)
	}
	return d
}
