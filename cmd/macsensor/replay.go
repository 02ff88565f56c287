package main

import (
	"bufio"
	"compress/gzip"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"time"

	"github.com/macsensor/macsensor/detect"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/host"
)

func init() {
	register("replay", "run rules (or one --query) over ndjson event files; alerts to stdout", cmdReplay)
}

// replayNow stamps event.created on replayed alerts; tests pin it.
var replayNow = time.Now

// replayAgent is the agent.* of replayed alerts: the machine and the
// macsensor that ran the replay, not the agent that recorded the events
// (the Events[] keep theirs). Tests pin it.
var replayAgent = func() *ecs.Agent {
	ag := &ecs.Agent{Type: "macsensor", Version: version}
	if hi, err := host.Read(); err == nil || hi.ID != "" {
		ag.ID, ag.Name = hi.ID, hi.Hostname
	}
	return ag
}

// maxMalformedShown bounds the malformed-line reports printed one by one;
// the count in the summary is always exact.
const maxMalformedShown = 20

func cmdReplay(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var rulePaths pathList
	fs.Var(&rulePaths, "rules", "rule file or folder of detection-rules TOML to add (repeatable)")
	noBuiltin := fs.Bool("no-builtin", false, "leave out the built-in seed rule")
	exceptions := fs.String("exceptions", "", "exceptions file (TOML) applied to the rules' matches")
	query := fs.String("query", "", "run this one EQL query instead of the rules and print each match")
	window := fs.Duration("reorder-window", 5*time.Second, "how far out of @timestamp order events may arrive and still be put in order")
	workers := fs.Int("workers", runtime.GOMAXPROCS(0), "goroutines decoding ndjson in parallel")
	partitions := fs.Int("partitions", 1, "engines per partition family run in parallel, events split by each rule's first join key (host.id, process.entity_id, ...); 1: one engine, whose rule conditions run on the decoding goroutines (see --annotate); --query always runs one")
	annotate := fs.Bool("annotate", true, "with one engine, run the rules' index lookups and conditions on the decoding goroutines, leaving the engine the sequences and alerts")
	progress := fs.String("progress", "auto", "progress line on stderr: auto (only when stderr is a terminal), always, never")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the replay to this file (go tool pprof)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: macsensor replay [--rules PATH]... [--no-builtin] [--exceptions FILE] [--query EQL] [--reorder-window DUR] [--partitions N] [--annotate=false] FILE... (- for stdin)")
		fmt.Fprintln(stderr, "\nReads ECS events as ndjson (nested objects or dotted keys; gzip-compressed files too), runs the")
		fmt.Fprintln(stderr, "rules over them in @timestamp order and writes alerts as ndjson to stdout; a summary goes to stderr.")
		fmt.Fprintln(stderr, "Files are read one after the other as one stream. On a terminal, a progress line shows on stderr.")
		fmt.Fprintln(stderr, "With --query, prints each match: the event, or {\"sequence\":[events...]}.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	var prog *replayProgress
	switch *progress {
	case "auto":
		if f, ok := stderr.(*os.File); ok && isTerminal(f.Fd()) {
			prog = newReplayProgress(stderr, fs.Args())
		}
	case "always":
		prog = newReplayProgress(stderr, fs.Args())
	case "never":
	default:
		fmt.Fprintf(stderr, "macsensor replay: --progress %q: want auto, always or never\n", *progress)
		return 2
	}

	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			fmt.Fprintln(stderr, "macsensor replay:", err)
			return 1
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintln(stderr, "macsensor replay:", err)
			return 1
		}
		defer pprof.StopCPUProfile()
	}
	out := bufio.NewWriterSize(stdout, 256<<10)
	var line []byte
	opt := detect.Options{Now: replayNow, KeepEvents: true} // a Reader's events are never rewritten
	// One loader for rules and exceptions (detect.LoadRuleSet), as the
	// daemon's; with --query only the exceptions are taken from it.
	lopt := ruleSetOptions(nil, rulePaths, !*noBuiltin, *exceptions, false)
	if *query != "" {
		lopt.Paths, lopt.Builtin = nil, false
	}
	set, lerrs := detect.LoadRuleSet(lopt)
	failed := 0
	for _, e := range lerrs {
		if *exceptions != "" && e.File == *exceptions {
			fmt.Fprintln(stderr, "macsensor replay: exception:", e.Error())
			continue
		}
		failed++
		fmt.Fprintln(stderr, "macsensor replay: rule:", e.Error())
	}
	if set.ExceptionsFailed {
		return 1
	}
	rules := set.Rules
	agent := replayAgent()
	if *query != "" {
		r, err := detect.QueryRule(*query)
		if err != nil {
			fmt.Fprintln(stderr, "macsensor replay: --query:", err)
			return 2
		}
		rules = []*detect.Rule{r}
		opt.OnMatch = func(_ *detect.Rule, evs []*ecs.Event) {
			line = appendMatch(line[:0], evs)
			out.Write(append(line, '\n'))
		}
	} else {
		if len(rules) == 0 {
			fmt.Fprintln(stderr, "macsensor replay: no rule to run")
			return 1
		}
		opt.OnAlert = func(a *detect.Alert) {
			a.Agent = agent
			line = a.AppendJSON(line[:0])
			out.Write(append(line, '\n'))
			prog.alert()
		}
		opt.OnThrottle = func(s detect.ThrottleSummary) {
			fmt.Fprintf(stderr, "macsensor replay: rule %q: %d alerts throttled in the window from %s (max_signals %d)\n",
				s.RuleName, s.Throttled, time.Unix(0, s.WindowStart).UTC().Format(time.RFC3339), s.Allowed)
		}
	}
	var eng replayEngine
	var err error
	// With one engine, the decoding goroutines also run the rules'
	// conditions (detect.Engine.Annotator).
	var annotator func() func(*ecs.Event)
	if *query != "" || *partitions <= 1 {
		var e *detect.Engine
		e, err = detect.NewEngine(rules, set.Exceptions, opt)
		eng = e
		if err == nil && *annotate {
			annotator = e.Annotator
		}
	} else {
		// detect.Parallel: one engine per host partition (and one for the
		// rules whose sequences do not join on host.id), alerts merged
		// into the serial order.
		popt := detect.ParallelOptions{Options: opt, Partitions: *partitions, Agent: agent}
		popt.OnAlert = nil
		popt.Output = func(_ *detect.Rule, l []byte) {
			out.Write(l)
			out.WriteByte('\n')
			prog.alert()
		}
		eng, err = detect.NewParallel(rules, set.Exceptions, popt)
	}
	if err != nil {
		fmt.Fprintln(stderr, "macsensor replay:", err)
		return 1
	}
	reorder := detect.NewReorder(*window, eng.Process)

	prog.start()
	var read, malformed int
	for _, name := range fs.Args() {
		n, bad, err := replayFile(name, *workers, annotator, reorder, stderr, malformed, prog)
		read += n
		malformed += bad
		if err != nil {
			prog.stop()
			fmt.Fprintln(stderr, "macsensor replay:", err)
			reorder.Flush()
			eng.Flush()
			out.Flush()
			return 1
		}
	}
	reorder.Flush()
	eng.Flush()
	prog.stop()
	if rs := reorder.Stats(); rs.Late > 0 && *partitions > 1 && *query == "" {
		fmt.Fprintf(stderr, "macsensor replay: %d late events: a partitioned run may differ from --partitions 1 for them (detect.Parallel)\n", rs.Late)
	}
	if err := out.Flush(); err != nil {
		fmt.Fprintln(stderr, "macsensor replay: writing output:", err)
		return 1
	}
	printReplaySummary(stderr, read, malformed, failed, reorder.Stats(), eng.Stats(), *query != "")
	return 0
}

// replayEngine is what replay runs the events through: a detect.Engine,
// or a detect.Parallel.
type replayEngine interface {
	Process(ev *ecs.Event)
	Flush()
	Stats() detect.Stats
}

// replayFile feeds one file's events to reorder: ndjson, or gzip-compressed
// ndjson (recognised by its magic bytes, whatever the name). Malformed lines
// are reported (the first few one by one) and skipped.
func replayFile(name string, workers int, annotate func() func(*ecs.Event), reorder *detect.Reorder, stderr io.Writer, shown int, prog *replayProgress) (read, malformed int, err error) {
	var f io.Reader = os.Stdin
	if name != "-" {
		fh, err := os.Open(name)
		if err != nil {
			return 0, 0, err
		}
		defer fh.Close()
		f = fh
	}
	br := bufio.NewReaderSize(prog.counter(f), 64<<10)
	var r io.Reader = br
	if magic, _ := br.Peek(2); len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return 0, 0, fmt.Errorf("%s: %w", name, err)
		}
		defer zr.Close()
		r = zr
	}
	defer replayGC()()
	rd := ecs.NewReader(r, ecs.ReaderOptions{Workers: workers, Annotate: annotate})
	defer rd.Close()
	for {
		ev, err := rd.Next()
		if err == nil {
			read++
			prog.event()
			reorder.Push(ev)
			continue
		}
		if err == io.EOF {
			return read, malformed, nil
		}
		var le *ecs.LineError
		if !errors.As(err, &le) {
			return read, malformed, fmt.Errorf("%s: %w", name, err)
		}
		malformed++
		if shown+malformed <= maxMalformedShown {
			fmt.Fprintf(stderr, "macsensor replay: %s:%d: skipped: %v\n", name, le.Line, le.Err)
		}
	}
}

// Replay's garbage collector settings, unless GOGC or GOMEMLIMIT say
// otherwise. A replay allocates every event and keeps only the reorder
// window and the pending sequences: in BenchmarkReplayEndToEnd the heap
// live after a collection stays at 11-21 MiB whatever the file length. At
// the default GOGC=100 it collects every few thousand events and spent a
// quarter of its CPU there. GOGC=400 lets the heap grow to five times the
// live one (95-145 MiB peak resident in that benchmark, against 45 MiB,
// for a third less CPU; 200 and 800 measured worse); the memory limit
// bounds the heap of a rule set that keeps many events pending, at the
// price of collecting more often.
const (
	replayGCPercent   = 400
	replayMemoryLimit = 1 << 30
)

// replayGC applies replay's GC settings and returns the function that
// restores the previous ones.
func replayGC() (restore func()) {
	var undo []func()
	if os.Getenv("GOGC") == "" {
		old := debug.SetGCPercent(replayGCPercent)
		undo = append(undo, func() { debug.SetGCPercent(old) })
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		old := debug.SetMemoryLimit(replayMemoryLimit)
		undo = append(undo, func() { debug.SetMemoryLimit(old) })
	}
	return func() {
		for _, f := range undo {
			f()
		}
	}
}

// appendMatch encodes one --query match: the event itself, or
// {"sequence":[...]} for a sequence.
func appendMatch(dst []byte, evs []*ecs.Event) []byte {
	if len(evs) == 1 {
		return evs[0].AppendJSON(dst)
	}
	dst = append(dst, `{"sequence":[`...)
	for i, ev := range evs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = ev.AppendJSON(dst)
	}
	return append(dst, "]}"...)
}

func printReplaySummary(w io.Writer, read, malformed, failed int, rs detect.ReorderStats, es detect.Stats, query bool) {
	fmt.Fprintf(w, "macsensor replay: %d events read, %d malformed lines skipped, %d late events (processed anyway)\n", read, malformed, rs.Late)
	if failed > 0 {
		fmt.Fprintf(w, "macsensor replay: %d rule files failed to load\n", failed)
	}
	for _, r := range es.Rules {
		if query {
			fmt.Fprintf(w, "  query: %d matches\n", r.Matches)
			continue
		}
		fmt.Fprintf(w, "  %s [%s]: %d alerts (%d matches, %d suppressed by exceptions, %d throttled)\n",
			r.Name, r.ID, r.Alerts, r.Matches, r.Suppressed, r.Throttled)
	}
}
