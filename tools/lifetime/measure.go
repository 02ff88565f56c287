package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/macsensor/macsensor/internal/testlock"
	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/capture"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/host"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/socket"
)

// probeName is the helper's process name: longer than the 15 bytes of
// /proc/<pid>/comm, so a run counts only when the name comes from the
// executable, as the sensor must do.
const probeName = "macsensor.lifetime.probe"

type measureConfig struct {
	runs        int
	lifetimes   []int
	intervals   []time.Duration
	ratePoll    float64 // helper starts a second, polling alone
	rateTrigger float64 // with the trigger
	maxAlive    int
	triggerMin  time.Duration
	helper      string
	modes       string // "both", "poll", "trigger", "exec", "all"
	// The exec measurement (exec.go).
	execLifetimes []int
	execIntervals []time.Duration
	seed          uint64
	interfaceLo   string
}

func measureCmd(args []string) error {
	fs := flag.NewFlagSet("measure", flag.ContinueOnError)
	out := fs.String("out", "tools/lifetime/results.csv", "CSV file to write")
	var c measureConfig
	fs.IntVar(&c.runs, "runs", 100, "runs per (mode, lifetime)")
	lifetimes := fs.String("lifetimes", "5,10,20,50,100,250,500,1000,2000,3000", "lifetimes L in ms: how long each helper holds its connection")
	intervals := fs.String("intervals", "100ms,250ms,1s,2s", "poll intervals")
	fs.Float64Var(&c.ratePoll, "rate-poll", 25, "helpers started a second (Poisson arrivals), polling alone")
	fs.Float64Var(&c.rateTrigger, "rate-trigger", 10, "helpers started a second with the trigger: keep it well under the rate limit (1/trigger-min-interval) to measure lifetime, not load")
	fs.IntVar(&c.maxAlive, "max-alive", 64, "helpers alive at once at most")
	fs.DurationVar(&c.triggerMin, "trigger-min-interval", 20*time.Millisecond, "the trigger's rate limit (as [capture] trigger_min_interval)")
	fs.StringVar(&c.helper, "helper", "", "helper binary (default: build sensor/testdata/helper)")
	fs.StringVar(&c.modes, "modes", "both", "connection modes: poll, trigger or both; exec: the exec modes (polling alone and with process events); all")
	execLifetimes := fs.String("exec-lifetimes", "1,2,5,10,20,50,100,250,500,1000", "lifetimes L in ms of the exec modes: how long each helper sleeps")
	execIntervals := fs.String("exec-intervals", "1s,2s", "poll intervals of the exec modes")
	fs.Uint64Var(&c.seed, "seed", 1, "seed of the job order and start delays")
	fs.StringVar(&c.interfaceLo, "lo", "lo", "the loopback interface")
	if err := fs.Parse(args); err != nil {
		return err
	}
	for _, s := range strings.Split(*lifetimes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-lifetimes: %q", s)
		}
		c.lifetimes = append(c.lifetimes, n)
	}
	for _, s := range strings.Split(*intervals, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < 10*time.Millisecond {
			return fmt.Errorf("-intervals: %q", s)
		}
		c.intervals = append(c.intervals, d)
	}
	for _, s := range strings.Split(*execLifetimes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n <= 0 {
			return fmt.Errorf("-exec-lifetimes: %q", s)
		}
		c.execLifetimes = append(c.execLifetimes, n)
	}
	for _, s := range strings.Split(*execIntervals, ",") {
		d, err := time.ParseDuration(strings.TrimSpace(s))
		if err != nil || d < 10*time.Millisecond {
			return fmt.Errorf("-exec-intervals: %q", s)
		}
		c.execIntervals = append(c.execIntervals, d)
	}
	if c.runs < 1 || c.maxAlive < 1 || c.ratePoll <= 0 || c.rateTrigger <= 0 || !slices.Contains([]string{"both", "poll", "trigger", "exec", "all"}, c.modes) {
		return errors.New("-runs, -max-alive and the rates must be positive, -modes poll, trigger, both, exec or all")
	}
	work, err := os.MkdirTemp("", "lifetime-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	probe, err := probeBinary(c.helper, work)
	if err != nil {
		return err
	}
	var pts []point
	var comments []string
	started := time.Now()
	comments = append(comments, fmt.Sprintf("lifetime measure: %d runs per point, helpers started at %g/s (polling alone) and %g/s (trigger), Poisson, at most %d alive; trigger_min_interval %v, burst %d; seed %d; %s/%s, %d CPUs; %s",
		c.runs, c.ratePoll, c.rateTrigger, c.maxAlive, c.triggerMin, sensor.DefaultTriggerBurst, c.seed, runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), started.UTC().Format(time.RFC3339)))
	measured := map[kind]bool{}
	// run measures one curve and keeps its points and its note.
	run := func(m curve, measure func() ([]point, string, error)) error {
		fmt.Fprintf(os.Stderr, "%s: ", m)
		t0 := time.Now()
		res, note, err := measure()
		if err != nil {
			return fmt.Errorf("%s: %w", m, err)
		}
		pts = append(pts, res...)
		measured[m.Kind] = true
		comments = append(comments, fmt.Sprintf("%s: %s, %v", m, note, time.Since(t0).Round(time.Second)))
		fmt.Fprintf(os.Stderr, "%s (%v)\n", note, time.Since(t0).Round(time.Second))
		return nil
	}
	for _, trig := range []bool{false, true} {
		if c.modes == "exec" || (trig && c.modes == "poll") || (!trig && c.modes == "trigger") {
			continue
		}
		for _, iv := range c.intervals {
			m := curve{int(iv / time.Millisecond), pollAlone}
			if trig {
				m.Kind = synTrigger
			}
			if err := run(m, func() ([]point, string, error) { return measureMode(c, probe, iv, trig) }); err != nil {
				return err
			}
		}
	}
	for _, events := range []bool{false, true} {
		if c.modes != "exec" && c.modes != "all" {
			break
		}
		for _, iv := range c.execIntervals {
			m := curve{int(iv / time.Millisecond), execPoll}
			if events {
				m.Kind = procEvents
			}
			if err := run(m, func() ([]point, string, error) { return measureExec(c, probe, iv, events) }); err != nil {
				return err
			}
		}
	}
	comments = append(comments, "load average at the end: "+loadAverage())
	// The kinds not measured this time keep their rows (and comments) from
	// the file being replaced, so that one plot holds every measurement.
	if old, err := os.Open(*out); err == nil {
		oldPts, oldComments, err := readCSV(old)
		old.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", *out, err)
		}
		var kept []point
		for _, p := range oldPts {
			if !measured[p.Kind] {
				kept = append(kept, p)
			}
		}
		if len(kept) > 0 {
			pts = append(kept, pts...)
			comments = append(keptComments(oldComments, measured), comments...)
		}
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	if err := writeCSV(f, comments, pts); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	fmt.Print(summary(pts))
	return nil
}

// probeBinary returns the helper copied as probeName into dir, building
// sensor/testdata/helper when no binary is given.
func probeBinary(helper, dir string) (string, error) {
	if helper == "" {
		helper = filepath.Join(dir, "helper")
		cmd := exec.Command("go", "build", "-o", helper, "./sensor/testdata/helper")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("build the helper (run from the repository root or give -helper): %v\n%s", err, out)
		}
	}
	data, err := os.ReadFile(helper)
	if err != nil {
		return "", err
	}
	p := filepath.Join(dir, probeName)
	return p, os.WriteFile(p, data, 0o755)
}

// job is one helper run.
type job struct {
	lifetime int
	pid      int64
	err      error
}

// measureMode runs every lifetime c.runs times against a fresh sensor
// polling every interval, with or without the trigger.
func measureMode(c measureConfig, probe string, interval time.Duration, trig bool) ([]point, string, error) {
	// The end-to-end tests of cmd/macsensor hold this lock: their daemons
	// see every process of the host, and so does this sensor.
	unlock, err := testlock.Acquire(testlock.E2E)
	if err != nil {
		return nil, "", err
	}
	defer unlock()

	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return nil, "", err
	}
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, conn); conn.Close() }()
		}
	}()
	port := int64(ln.Addr().(*net.TCPAddr).Port)

	pt, err := proc.Open()
	if err != nil {
		return nil, "", err
	}
	defer pt.Close()
	st, err := socket.Open()
	if err != nil {
		return nil, "", err
	}
	defer st.Close()
	hi, err := host.Read()
	if err != nil {
		return nil, "", err
	}
	s := sensor.New(pt, st, sensor.Options{Host: hi, Agent: ecs.Agent{Type: "macsensor", Version: "lifetime"}})
	opt := sensor.LoopOptions{ProcessEvery: interval, SocketEvery: interval}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var src *capture.Source
	capDone := make(chan struct{})
	if trig {
		src, err = capture.Open(capture.Options{Interfaces: []string{c.interfaceLo}, Loopback: true})
		if err != nil {
			return nil, "", err
		}
		defer src.Close()
		tr := sensor.NewTrigger()
		opt.Trigger, opt.TriggerInterval = tr, c.triggerMin
		go func() {
			defer close(capDone)
			src.Run(ctx, func(syn capture.SYN) { tr.Fire(syn.Time) }, nil)
		}()
	} else {
		close(capDone)
	}

	// The collector: names of the processes whose connection to the
	// listener the pipeline reported, by pid.
	out := make(chan sensor.Batch, 1<<14)
	var mu sync.Mutex
	seen := map[int64]string{}
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for b := range out {
			for _, ev := range b.Events {
				if ev.Event.Action == "connection_attempted" && ev.Destination.Port == port {
					mu.Lock()
					if seen[ev.Process.PID] != probeName {
						seen[ev.Process.PID] = ev.Process.Name
					}
					mu.Unlock()
				}
			}
		}
	}()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		s.LoopWith(ctx, opt, out)
	}()

	// Jobs in random order, started as a Poisson process: each start's
	// phase against the poll ticks is uniform, and the trigger sees SYNs
	// at a steady average rate.
	rng := rand.New(rand.NewPCG(c.seed, uint64(interval)^boolBits(trig)))
	var jobs []*job
	for _, l := range c.lifetimes {
		for range c.runs {
			jobs = append(jobs, &job{lifetime: l})
		}
	}
	rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	rate := c.ratePoll
	if trig {
		rate = c.rateTrigger
	}
	alive := make(chan struct{}, c.maxAlive)
	var wg sync.WaitGroup
	addr := ln.Addr().String()
	next := time.Now()
	for _, j := range jobs {
		next = next.Add(time.Duration(rng.ExpFloat64() / rate * float64(time.Second)))
		time.Sleep(time.Until(next))
		alive <- struct{}{}
		cmd := exec.Command(probe, "connect-exit", addr, strconv.Itoa(j.lifetime))
		if err := cmd.Start(); err != nil {
			j.err = err
			<-alive
			continue
		}
		j.pid = int64(cmd.Process.Pid)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := cmd.Wait(); err != nil {
				j.err = err
			}
			<-alive
		}()
	}
	wg.Wait()

	// Two more polls deliver what the last helpers left.
	if err := waitPolls(s, interval, 2); err != nil {
		return nil, "", err
	}
	cancel()
	<-loopDone
	<-capDone
	close(out)
	<-collected

	ps, ls := s.PublishedStats()
	byL := map[int]*point{}
	var pts []point
	failed := 0
	pids := map[int64]int{}
	for _, j := range jobs {
		if j.err != nil {
			failed++
			continue
		}
		pids[j.pid]++
		p := byL[j.lifetime]
		if p == nil {
			p = &point{IntervalMS: int(interval / time.Millisecond), Kind: pollAlone, LifetimeMS: j.lifetime}
			if trig {
				p.Kind = synTrigger
			}
			byL[j.lifetime] = p
		}
		p.Runs++
		switch name, ok := seen[j.pid]; {
		case ok && name == probeName:
			p.Captured++
		case ok:
			p.Unnamed++
		}
	}
	reused := 0
	for _, n := range pids {
		if n > 1 {
			reused++
		}
	}
	for _, l := range c.lifetimes {
		if p := byL[l]; p != nil {
			pts = append(pts, *p)
		}
	}
	note := fmt.Sprintf("%d helpers (%d failed, %d pids reused), %d process polls, %d socket polls, %d refreshes, %d unattributed",
		len(jobs), failed, reused, ps.ProcessPolls, ps.SocketPolls, ps.Refreshes, ps.Unattributed)
	if trig {
		cs := src.Stats()
		note += fmt.Sprintf("; capture: %d SYNs, %d kernel drops; %d triggered polls, %d deferred by the rate limit; SYN to poll start p50 <= %v p99 <= %v max %v; SYN to poll end p50 <= %v p99 <= %v max %v",
			cs.SYNs, cs.KernelDrops, ls.TriggeredPolls, ls.TriggerDeferred,
			ls.TriggerDelay.Quantile(0.5), ls.TriggerDelay.Quantile(0.99), ls.TriggerDelay.Max.Round(time.Microsecond),
			ls.TriggerDone.Quantile(0.5), ls.TriggerDone.Quantile(0.99), ls.TriggerDone.Max.Round(time.Microsecond))
	}
	return pts, note, nil
}

func boolBits(b bool) uint64 {
	if b {
		return 1 << 63
	}
	return 0
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// keptComments returns the comments of a previous file that describe the
// kinds not measured now: its runs ("lifetime measure: ..." up to "load
// average ..."), each kept when one of its curve lines is of a kept kind,
// without the curve lines of the measured kinds.
func keptComments(old []string, measured map[kind]bool) []string {
	kindOfLine := func(c string) (kind, bool) {
		for _, ki := range kinds {
			for _, iv := range []int{10, 100, 250, 500, 1000, 2000, 5000} {
				if strings.HasPrefix(c, curve{iv, ki.kind}.String()+":") {
					return ki.kind, true
				}
			}
		}
		return 0, false
	}
	var out, block []string
	keep := false
	flush := func() {
		if keep {
			out = append(out, block...)
		}
		block, keep = nil, false
	}
	for _, c := range old {
		if strings.HasPrefix(c, "lifetime measure:") {
			flush()
		}
		if k, ok := kindOfLine(c); ok {
			if measured[k] {
				continue
			}
			keep = true
		}
		block = append(block, c)
	}
	flush()
	return out
}

// waitPolls waits until the running Loop of s has finished n more process
// polls, or fails when it stops polling (ten intervals and 10 s).
func waitPolls(s *sensor.Sensor, interval time.Duration, n uint64) error {
	polls0, _ := s.PublishedStats()
	deadline := time.Now().Add(10*interval + 10*time.Second)
	for {
		ps, _ := s.PublishedStats()
		if ps.ProcessPolls >= polls0.ProcessPolls+n {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the poll loop stopped polling")
		}
		time.Sleep(interval / 10)
	}
}
