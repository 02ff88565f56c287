package detect

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/macsensor/macsensor/sensor/ecs"
)

var noiseNames = []string{
	"mdworker_shared", "zsh", "git", "node", "Safari", "com.apple.WebKit.Networking",
	"curl", "python3", "ssh", "cloudd", "nsurlsessiond", "trustd", "Slack Helper",
	"Google Chrome Helper", "softwareupdated", "bash", "sh", "osascript", "launchd", "xpcproxy",
	"com.apple.automa", // the 16-byte comm of the runner: must not match
	"Automator",        // == is case-sensitive
}

// noiseEvents returns n non-matching process and network events from many
// processes on one macOS host, 10 ms apart, in order: 40 % process starts,
// 60 % connections.
func noiseEvents(n int) []*ecs.Event {
	rng := rand.New(rand.NewPCG(7, 11))
	evs := make([]*ecs.Event, 0, n)
	for i := 0; i < n; i++ {
		name := noiseNames[rng.IntN(len(noiseNames))]
		pid := int64(1000 + rng.IntN(3000))
		ev := &ecs.Event{Timestamp: t0.Add(time.Duration(i) * 10 * time.Millisecond).UnixNano(),
			Has: ecs.HasTimestamp | ecs.HasSequence | ecs.HasPID}
		fillHost(ev)
		ev.Event.Kind = "event"
		ev.Event.Sequence = int64(i)
		ev.Process.PID = pid
		ev.Process.Name = name
		ev.Process.EntityID = fmt.Sprintf("ent-%d", pid)
		ev.Process.Executable = "/usr/bin/" + name
		if rng.IntN(10) < 4 {
			ev.Event.Category = []string{"process"}
			ev.Event.Type = []string{"start"}
			ev.Event.Action = "exec"
			ev.Process.Args = []string{ev.Process.Executable, "--flag", fmt.Sprint(i)}
		} else {
			ev.Event.Category = []string{"network"}
			ev.Event.Type = []string{"start"}
			ev.Event.Action = "connection_attempted"
			ev.Has |= ecs.HasSourcePort | ecs.HasDestinationPort
			ev.Source = ecs.Endpoint{IP: "192.168.1.20", Port: int64(40000 + i%20000)}
			ev.Destination = ecs.Endpoint{IP: "17.253.144.10", Port: 443}
			ev.Network = ecs.Network{Transport: "tcp", Type: "ipv4", Direction: "egress"}
		}
		evs = append(evs, ev)
	}
	return evs
}

// mixedStream is noise with an automator pair every 4,096 events (every n
// events when n is smaller), the first after half that many.
func mixedStream(n int) []*ecs.Event {
	evs := noiseEvents(n)
	every := min(n, 4096)
	for i := every / 2; i+1 < n; i += every {
		p, net := automatorPair(time.Unix(0, evs[i].Timestamp), evs[i].Event.Sequence)
		net.Timestamp = evs[i+1].Timestamp
		net.Event.Sequence = evs[i+1].Event.Sequence
		evs[i], evs[i+1] = p, net
	}
	return evs
}

// cpuTime is the process's user+system CPU time: on a shared machine the
// wall clock overstates the cost, so the benchmarks also report CPU time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchEngine runs rules over a ring of n events, shifting their
// timestamps forward on each pass; one op is one event. A ring of 4,096
// events (4.5 MB) is larger than a core's cache: each event is read from
// the shared cache or memory, as the engine reads a Reader's events
// seconds after another core decoded them; a ring of 512 (565 kB) stays
// in the core's cache (1 MB of L2 on this machine), as a collector's
// events just built.
func benchEngine(b *testing.B, rules []*Rule, n int, ruleAtATime, noted bool) {
	evs := mixedStream(n)
	span := evs[n-1].Timestamp - evs[0].Timestamp + int64(10*time.Millisecond)
	var alerts int
	eng, err := NewEngine(rules, nil, Options{Now: fixedNow, OnAlert: func(a *Alert) { alerts++ }, ruleAtATime: ruleAtATime})
	if err != nil {
		b.Fatal(err)
	}
	if noted {
		// As a Reader's decoding goroutines would (Annotate): a Note
		// depends on the event's fields, not on its timestamp.
		note := eng.Annotator()
		for _, ev := range evs {
			note(ev)
		}
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	var paused time.Duration
	for i := 0; i < b.N; i++ {
		j := i % n
		if j == 0 && i > 0 {
			b.StopTimer()
			p0 := cpuTime()
			for _, ev := range evs { // next pass: keep time moving forward
				ev.Timestamp += span
				ev.Event.Sequence += int64(n)
			}
			paused += cpuTime() - p0
			b.StartTimer()
		}
		eng.Process(evs[j])
	}
	b.StopTimer()
	cpu := cpuTime() - cpu0 - paused
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	if cpu > 0 {
		b.ReportMetric(float64(b.N)/cpu.Seconds(), "events/cpu-s")
	}
	if b.N >= n && alerts == 0 {
		b.Fatal("no alert in the stream")
	}
}

// BenchmarkEngineSeed runs the seed rule over a mixed stream: mostly
// process starts and connections of many processes on one Mac, and an
// automator/runner pair every 4,096 events; through the plan (the engine's
// default), rule at a time (the reference), and through the plan on
// events annotated beforehand ("noted": what is left to the engine's
// goroutine when the Reader's goroutines run Engine.Annotator).
//
//	go test -run '^$' -bench 'Engine(Seed|AllRules)' -benchmem ./detect/
func BenchmarkEngineSeed(b *testing.B) {
	rules := []*Rule{seedRule(b)}
	b.Run("plan", func(b *testing.B) { benchEngine(b, rules, 4096, false, false) })
	b.Run("rule-at-a-time", func(b *testing.B) { benchEngine(b, rules, 4096, true, false) })
	b.Run("noted", func(b *testing.B) { benchEngine(b, rules, 4096, false, true) })
	b.Run("plan-in-cache", func(b *testing.B) { benchEngine(b, rules, 512, false, false) })
}

// BenchmarkEngineAllRules runs Elastic's 143 macOS rules over the same
// stream (before the plan, this was BenchmarkEngineElasticMacOS).
func BenchmarkEngineAllRules(b *testing.B) {
	rules := allRules(b)
	b.Run("plan", func(b *testing.B) { benchEngine(b, rules, 4096, false, false) })
	b.Run("rule-at-a-time", func(b *testing.B) { benchEngine(b, rules, 4096, true, false) })
	b.Run("noted", func(b *testing.B) { benchEngine(b, rules, 4096, false, true) })
	b.Run("plan-in-cache", func(b *testing.B) { benchEngine(b, rules, 512, false, false) })
}

// BenchmarkAnnotate is Engine.Annotator's cost per event (the part a
// Reader's decoding goroutines take over), on the same stream.
func BenchmarkAnnotate(b *testing.B) {
	for _, set := range []struct {
		name  string
		rules []*Rule
	}{{"seed", []*Rule{seedRule(b)}}, {"all", allRules(b)}} {
		b.Run(set.name, func(b *testing.B) {
			evs := mixedStream(4096)
			eng, err := NewEngine(set.rules, nil, Options{Now: fixedNow})
			if err != nil {
				b.Fatal(err)
			}
			note := eng.Annotator()
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				note(evs[i%len(evs)])
			}
		})
	}
}

// allRules is Elastic's 143 macOS rules, as `replay --rules` loads them
// (their copy of the seed rule replaces the built-in one).
func allRules(tb testing.TB) []*Rule {
	tb.Helper()
	rules, errs := LoadRules("testdata/rules/elastic-macos")
	if len(errs) > 0 {
		tb.Fatal(errs)
	}
	return rules
}

func BenchmarkReorder(b *testing.B) {
	evs := noiseEvents(4096)
	ro := NewReorder(time.Second, func(*ecs.Event) {})
	rng := rand.New(rand.NewPCG(1, 1))
	jitter := make([]int64, len(evs))
	for i := range jitter {
		jitter[i] = rng.Int64N(int64(500 * time.Millisecond))
	}
	var base int64
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		j := i % len(evs)
		if j == 0 {
			base += int64(len(evs)) * int64(10*time.Millisecond)
		}
		ev := evs[j]
		ev.Timestamp = base + int64(j)*int64(10*time.Millisecond) - jitter[j]
		ro.Push(ev)
	}
}

// BenchmarkReorderInOrder is the common case of replay and of the live
// pipeline: events arrive already in order.
func BenchmarkReorderInOrder(b *testing.B) {
	evs := noiseEvents(4096)
	ro := NewReorder(time.Second, func(*ecs.Event) {})
	var base int64
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		j := i % len(evs)
		if j == 0 {
			base += int64(len(evs)) * int64(time.Millisecond)
		}
		ev := evs[j]
		ev.Timestamp = base + int64(j)*int64(time.Millisecond)
		ro.Push(ev)
	}
}
