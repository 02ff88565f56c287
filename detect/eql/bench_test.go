package eql

import (
	"testing"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// seedQuery is the seed rule (Suspicious Automator Workflows Execution,
// rule 5d9f8cfc, version 107), verbatim.
const seedQuery = `sequence by host.id with maxspan=30s
 [process where host.os.type == "macos" and event.type in ("start", "process_started") and process.name == "automator"]
 [network where host.os.type == "macos" and process.name:"com.apple.automator.runner"]`

// typedProcess is a process start as the sensor produces it (typed fields
// only, no generic store).
func typedProcess(name string) *ecs.Event {
	e := &ecs.Event{Timestamp: 1_700_000_000_000_000_000, Has: ecs.HasTimestamp | ecs.HasPID | ecs.HasParentPID | ecs.HasArgsCount}
	e.Event.Kind = "event"
	e.Event.Category = []string{"process"}
	e.Event.Type = []string{"start"}
	e.Event.Action = "exec"
	e.Host.ID = "9F3E3B2A-1C2D-4E5F-8A9B-0C1D2E3F4A5B"
	e.Host.OS.Type = "macos"
	e.Process.PID = 4242
	e.Process.Name = name
	e.Process.Executable = "/usr/bin/" + name
	e.Process.Args = []string{"/usr/bin/" + name, "-i", "/Users/alice/Library/Workflow.wflow"}
	e.Process.ArgsCount = 3
	e.Process.Parent.PID = 1
	e.Process.Parent.Name = "launchd"
	e.User.Name = "alice"
	return e
}

// typedNetwork is a network event as the sensor produces it.
func typedNetwork(name string) *ecs.Event {
	e := &ecs.Event{Timestamp: 1_700_000_001_000_000_000, Has: ecs.HasTimestamp | ecs.HasPID | ecs.HasSourcePort | ecs.HasDestinationPort}
	e.Event.Kind = "event"
	e.Event.Category = []string{"network"}
	e.Event.Type = []string{"start"}
	e.Event.Action = "connection_attempted"
	e.Host.ID = "9F3E3B2A-1C2D-4E5F-8A9B-0C1D2E3F4A5B"
	e.Host.OS.Type = "macos"
	e.Process.PID = 4243
	e.Process.Name = name
	e.Source.IP, e.Source.Port = "192.168.1.20", 50123
	e.Destination.IP, e.Destination.Port = "93.184.216.34", 443
	e.Network.Transport, e.Network.Type, e.Network.Direction = "tcp", "ipv4", "egress"
	return e
}

func seedStages(tb testing.TB) []Matcher {
	tb.Helper()
	q, err := Parse(seedQuery)
	if err != nil {
		tb.Fatal(err)
	}
	var ms []Matcher
	for i := range q.Sequence.Stages {
		m, err := Compile(&q.Sequence.Stages[i].Query)
		if err != nil {
			tb.Fatal(err)
		}
		ms = append(ms, m)
	}
	return ms
}

// BenchmarkMatch runs the seed rule's two stage matchers over a mixed set of
// typed events (matching and not).
func BenchmarkMatch(b *testing.B) {
	ms := seedStages(b)
	events := []*ecs.Event{
		typedProcess("automator"), typedProcess("bash"), typedProcess("Automator"),
		typedNetwork("com.apple.automator.runner"), typedNetwork("Com.Apple.Automator.Runner"), typedNetwork("curl"),
	}
	b.ReportAllocs()
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		e := events[i%len(events)]
		for _, m := range ms {
			if m(e) {
				n++
			}
		}
	}
	if n == 0 {
		b.Fatal("no match")
	}
}

func benchQuery(b *testing.B, query string, e *ecs.Event) {
	q, err := Parse(query)
	if err != nil {
		b.Fatal(err)
	}
	m, err := Compile(q.Event)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		m(e)
	}
}

// BenchmarkMatchStage1 is the seed rule's first stage on its matching event.
func BenchmarkMatchStage1(b *testing.B) {
	benchQuery(b, `process where host.os.type == "macos" and event.type in ("start", "process_started") and process.name == "automator"`, typedProcess("automator"))
}

// BenchmarkMatchStage2 is the seed rule's second stage on its matching event
// (case-insensitive : on a 26-byte name).
func BenchmarkMatchStage2(b *testing.B) {
	benchQuery(b, `network where host.os.type == "macos" and process.name:"com.apple.automator.runner"`, typedNetwork("com.apple.automator.runner"))
}

// BenchmarkMatchWildcards is a case-insensitive : over a list of wildcard
// patterns against every argument of a process (no match: the worst case).
func BenchmarkMatchWildcards(b *testing.B) {
	benchQuery(b, `process where process.args : ("*curl*", "*wget*", "/tmp/*", "*.sh", "?:\\Users\\*", "*base64*-d*", "*python*-c*")`, typedProcess("automator"))
}

// BenchmarkMatchInFold is in~ over a list long enough to use the folded set.
func BenchmarkMatchInFold(b *testing.B) {
	benchQuery(b, `process where process.name in~ ("bash", "sh", "zsh", "dash", "ksh", "tcsh", "csh", "fish", "python", "perl", "ruby", "osascript", "AUTOMATOR")`, typedProcess("automator"))
}

// BenchmarkMatchRegex is a regex over the arguments.
func BenchmarkMatchRegex(b *testing.B) {
	benchQuery(b, `process where process.args regex~ """https?:\/\/[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}(:[0-9]{1,5})?\/.*"""`, typedProcess("automator"))
}

// BenchmarkMatchGeneric is the seed's first stage over an event whose fields
// are all in the generic store (the replay path for foreign events).
func BenchmarkMatchGeneric(b *testing.B) {
	e := &ecs.Event{}
	e.Fields.Set("event.category", ecs.Strings([]string{"process"}))
	e.Fields.Set("event.type", ecs.Strings([]string{"start"}))
	e.Fields.Set("host.os.type", ecs.String("macos"))
	e.Fields.Set("process.name", ecs.String("automator"))
	benchQuery(b, `process where host.os.type == "macos" and event.type in ("start", "process_started") and process.name == "automator"`, e)
}

// BenchmarkKey is the seed rule's join key (one typed string).
func BenchmarkKey(b *testing.B) {
	k, err := CompileKey([]*Field{{Path: "host.id"}})
	if err != nil {
		b.Fatal(err)
	}
	e := typedProcess("automator")
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf, _ = k(buf[:0], e)
	}
}

// BenchmarkKey2 is a two-field key (host.id, process.entity_id).
func BenchmarkKey2(b *testing.B) {
	k, err := CompileKey([]*Field{{Path: "host.id"}, {Path: "process.pid"}})
	if err != nil {
		b.Fatal(err)
	}
	e := typedProcess("automator")
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf, _ = k(buf[:0], e)
	}
}

// BenchmarkParseCompile parses and compiles the seed rule.
func BenchmarkParseCompile(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		q, err := Parse(seedQuery)
		if err != nil {
			b.Fatal(err)
		}
		if err := compileQuery(q); err != nil {
			b.Fatal(err)
		}
	}
}
