package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/macsensor/macsensor/internal/testlock"
	"github.com/macsensor/macsensor/sensor"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/host"
	"github.com/macsensor/macsensor/sensor/proc"
	"github.com/macsensor/macsensor/sensor/procevents"
)

// The exec measurement (issue 10): the helper runs as
//
//	macsensor.lifetime.probe live L alpha-N beta-N gamma-N
//
// (three distinctive arguments), sleeps L ms and exits; this process is its
// parent. A run is captured when the pipeline emitted an exec event for the
// helper's pid with exactly those args and with this process as
// process.parent (pid and name). Polling alone (execPoll) against polling
// with the process connector (procEvents): sensor.ProcessEvents fed by
// procevents.Open, the sensor's default read limits.

// execJob is one helper run of the exec measurement.
type execJob struct {
	lifetime int
	pid      int64
	args     []string
	life     time.Duration // from Start to Wait returning
	err      error
}

// measureExec runs every lifetime c.runs times against a fresh process-only
// sensor polling every interval, with or without process events.
func measureExec(c measureConfig, probe string, interval time.Duration, events bool) ([]point, string, error) {
	unlock, err := testlock.Acquire(testlock.E2E)
	if err != nil {
		return nil, "", err
	}
	defer unlock()

	pt, err := proc.Open()
	if err != nil {
		return nil, "", err
	}
	defer pt.Close()
	hi, err := host.Read()
	if err != nil {
		return nil, "", err
	}
	s := sensor.New(pt, nil, sensor.Options{Host: hi, Agent: ecs.Agent{Type: "macsensor", Version: "lifetime"}})
	opt := sensor.LoopOptions{ProcessEvery: interval, SocketEvery: interval}
	var src *procevents.Source
	feedDone := make(chan struct{})
	if events {
		if src, err = procevents.Open(); err != nil {
			return nil, "", err
		}
		q := sensor.NewProcessEvents(0)
		opt.ProcessEvents = q
		go func() {
			defer close(feedDone)
			q.Feed(src)
		}()
	} else {
		close(feedDone)
	}
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	selfPID, selfName := int64(os.Getpid()), filepath.Base(self)

	out := make(chan sensor.Batch, 1<<14)
	var mu sync.Mutex
	seen := map[int64]*ecs.Event{}
	collected := make(chan struct{})
	go func() {
		defer close(collected)
		for b := range out {
			for _, ev := range b.Events {
				if ev.Event.Action == "exec" && ev.Process.Name == probeName {
					mu.Lock()
					seen[ev.Process.PID] = ev
					mu.Unlock()
				}
			}
		}
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		s.LoopWith(ctx, opt, out)
	}()

	rng := rand.New(rand.NewPCG(c.seed, uint64(interval)^boolBits(events)^0x5a5a))
	var jobs []*execJob
	for _, l := range c.execLifetimes {
		for range c.runs {
			jobs = append(jobs, &execJob{lifetime: l})
		}
	}
	rng.Shuffle(len(jobs), func(i, j int) { jobs[i], jobs[j] = jobs[j], jobs[i] })
	alive := make(chan struct{}, c.maxAlive)
	var wg sync.WaitGroup
	next := time.Now()
	for i, j := range jobs {
		next = next.Add(time.Duration(rng.ExpFloat64() / c.ratePoll * float64(time.Second)))
		time.Sleep(time.Until(next))
		alive <- struct{}{}
		j.args = []string{probe, "live", strconv.Itoa(j.lifetime),
			fmt.Sprintf("alpha-%d", i), fmt.Sprintf("beta-%d", i), fmt.Sprintf("gamma-%d", i)}
		cmd := &exec.Cmd{Path: probe, Args: j.args}
		t0 := time.Now()
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
			j.life = time.Since(t0)
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
	if src != nil {
		src.Close()
	}
	<-feedDone
	close(out)
	<-collected

	ps, ls := s.PublishedStats()
	k := execPoll
	if events {
		k = procEvents
	}
	byL := map[int]*point{}
	lives := map[int][]time.Duration{}
	failed, wrongArgs, wrongParent := 0, 0, 0
	for _, j := range jobs {
		if j.err != nil {
			failed++
			continue
		}
		p := byL[j.lifetime]
		if p == nil {
			p = &point{IntervalMS: int(interval / time.Millisecond), Kind: k, LifetimeMS: j.lifetime}
			byL[j.lifetime] = p
		}
		p.Runs++
		lives[j.lifetime] = append(lives[j.lifetime], j.life)
		ev := seen[j.pid]
		switch {
		case ev == nil:
		case !slices.Equal(ev.Process.Args, j.args):
			wrongArgs++
			p.Unnamed++
		case ev.Process.Parent.PID != selfPID || ev.Process.Parent.Name != selfName:
			wrongParent++
			p.Unnamed++
		default:
			p.Captured++
		}
	}
	var pts []point
	medians := ""
	for _, l := range c.execLifetimes {
		if p := byL[l]; p != nil {
			pts = append(pts, *p)
			d := lives[l]
			sort.Slice(d, func(a, b int) bool { return d[a] < d[b] })
			medians += fmt.Sprintf(" %dms:%v", l, d[len(d)/2].Round(100*time.Microsecond))
		}
	}
	note := fmt.Sprintf("%d helpers (%d failed), %d exec events with wrong args, %d with a wrong parent; %d process polls; median life from Start to Wait by L:%s",
		len(jobs), failed, wrongArgs, wrongParent, ps.ProcessPolls, medians)
	if events {
		pe := ls.Process
		st := src.Stats()
		note += fmt.Sprintf("; process events: %d put, %d dropped, %d kernel losses, %d reads (%d gone), %d deferred by the read limit; event to read p50 <= %v p99 <= %v max %v; connector %d messages, %d ignored",
			pe.Put, pe.Dropped, pe.Lost, pe.Reads, pe.Gone, pe.Deferred,
			pe.ReadDelay.Quantile(0.5), pe.ReadDelay.Quantile(0.99), pe.ReadDelay.Max.Round(time.Microsecond), st.Messages, st.Ignored)
	}
	return pts, note, nil
}
