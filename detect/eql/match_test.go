package eql

import (
	"strings"
	"testing"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// matchProcess is a typed process event with a few generic fields.
func matchProcess() *ecs.Event {
	e := &ecs.Event{Has: ecs.HasPID | ecs.HasParentPID | ecs.HasArgsCount | ecs.HasArgsTruncated | ecs.HasTimestamp}
	e.Timestamp = 1_700_000_000_000_000_000
	e.Event.Category = []string{"process"}
	e.Event.Type = []string{"start", "process_started"}
	e.Event.Action = "exec"
	e.Host.ID = "HOST-1"
	e.Host.OS.Type = "macos"
	e.Process.PID = 42
	e.Process.Parent.PID = 1
	e.Process.Name = "Automator"
	e.Process.Executable = "/usr/bin/osascript"
	e.Process.Args = []string{"/usr/bin/osascript", "-e", "Do Shell Script"}
	e.Process.ArgsCount = 3
	e.Process.CommandLine = "/usr/bin/osascript -e Do Shell Script"
	e.Process.ArgsTruncated = false
	e.Source.IP = "10.1.2.3"
	e.Destination.IP = "2001:db8::1"
	e.Fields.Set("process.code_signature.trusted", ecs.Bool(false))
	e.Fields.Set("process.code_signature.subject_name", ecs.String("Developer ID Application: Foo Corp"))
	e.Fields.Set("dll.path", ecs.Strings([]string{`C:\Windows\System32\KERNEL32.dll`, `C:\Windows\System32\ntdll.dll`}))
	e.Fields.Set("file.size", ecs.Int(1024))
	e.Fields.Set("file.ratio", ecs.Float(0.5))
	e.Fields.Set("x.code", ecs.String("42"))
	e.Fields.Set("tags", ecs.Value{Kind: ecs.KindList, List: []ecs.Value{ecs.Int(1), ecs.String("two")}})
	e.Fields.Set("empty", ecs.Value{Kind: ecs.KindStrings, Strs: []string{}})
	e.Fields.Set("nullf", ecs.Null)
	e.Fields.Set("obj", ecs.Value{Kind: ecs.KindRaw, Str: `[{"a":1}]`})
	e.Fields.Set("unicode", ecs.String("Ärger mit ſtraße"))
	e.Fields.Set("star", ecs.String("a*b?c"))
	return e
}

// genericNetwork is a network event whose fields are all in the generic
// store, including typed paths stored with unexpected JSON types.
func genericNetwork() *ecs.Event {
	e := &ecs.Event{}
	e.Fields.Set("event.category", ecs.String("network")) // a scalar, not an array
	e.Fields.Set("process.name", ecs.Strings([]string{"curl", "Curl-Helper"}))
	e.Fields.Set("process.pid", ecs.String("77")) // a string at an integer path
	e.Fields.Set("destination.port", ecs.Int(443))
	e.Fields.Set("source.ip", ecs.String("::ffff:192.168.1.9"))
	e.Fields.Set("process_name", ecs.String("curl"))
	return e
}

func TestMatch(t *testing.T) {
	proc, net := matchProcess(), genericNetwork()
	tests := []struct {
		ev    *ecs.Event
		query string
		want  bool
	}{
		// Category.
		{proc, `process where true`, true},
		{proc, `network where true`, false},
		{proc, `any where true`, true},
		{proc, `"process" where true`, true},
		{proc, `Process where true`, false}, // event.category is case-sensitive
		{net, `network where true`, true},   // scalar category in the generic store
		{net, `process where true`, false},
		{proc, `process where false`, false},
		{proc, `process where null`, false},

		// == and != on a typed string.
		{proc, `any where process.name == "Automator"`, true},
		{proc, `any where process.name == "automator"`, false},
		{proc, `any where process.name == "Auto*"`, false}, // no wildcards in ==
		{proc, `any where star == "a*b?c"`, true},
		{proc, `any where process.name != "automator"`, true},
		{proc, `any where process.name != "Automator"`, false},
		// Missing typed string: positive never, negative always.
		{proc, `any where user.name == "x"`, false},
		{proc, `any where user.name != "x"`, true},
		{proc, `any where user.name == null`, true},
		{proc, `any where user.name != null`, false},
		{proc, `any where process.name != null`, true},
		{proc, `any where ?user.name == null`, true},
		// Typed string array: any element.
		{proc, `any where process.args == "-e"`, true},
		{proc, `any where process.args != "-e"`, false}, // must_not: no element may equal
		{proc, `any where process.args != "zzz"`, true},
		{proc, `any where event.type == "process_started"`, true},
		// Typed integers.
		{proc, `any where process.pid == 42`, true},
		{proc, `any where process.pid == "42"`, true}, // a numeric string converts
		{proc, `any where process.pid == 42.0`, true},
		{proc, `any where process.pid == 42.5`, false},
		{proc, `any where process.pid != 42`, false},
		{proc, `any where process.pid == null`, false},
		{proc, `any where process.parent.pid == 1`, true},
		{proc, `any where source.port == 0`, false}, // absent: the presence bit is clear
		{proc, `any where source.port != 0`, true},
		{proc, `any where source.port == null`, true},
		// Typed and generic booleans.
		{proc, `any where process.Ext.command_line_truncated == false`, true},
		{proc, `any where process.Ext.command_line_truncated == true`, false},
		{proc, `any where process.Ext.command_line_truncated != true`, true},
		{proc, `any where process.code_signature.trusted == false`, true},
		{proc, `any where process.code_signature.trusted != true`, true},
		{proc, `any where process.code_signature.trusted == "false"`, true},
		{proc, `any where ?process.code_signature.exists == false`, false},
		{proc, `any where ?process.code_signature.exists != true`, true},
		{proc, `any where not process.code_signature.trusted`, true},
		// Generic numbers.
		{proc, `any where file.size == 1024`, true},
		{proc, `any where file.size == "1024"`, true},
		{proc, `any where file.size in (1, 1024)`, true},
		{proc, `any where file.size : "1024"`, true},
		{proc, `any where file.size : "10*"`, true},
		{proc, `any where file.size like "1?24"`, true},
		{proc, `any where file.ratio == 0.5`, true},
		{proc, `any where file.ratio < 1`, true},
		{proc, `any where file.ratio > 0.5`, false},
		{proc, `any where file.ratio >= 0.5`, true},
		{proc, `any where file.ratio == "0.5"`, true},
		// A keyword compared with a number compares as a string.
		{proc, `any where x.code == 42`, true},
		{proc, `any where x.code < 5`, true}, // "42" < "5"
		{proc, `any where x.code > 100`, true},
		// Mixed arrays, empty arrays, null, raw JSON.
		{proc, `any where tags == 1`, true},
		{proc, `any where tags == "two"`, true},
		{proc, `any where tags : "TW?"`, true},
		{proc, `any where tags == 2`, false},
		{proc, `any where empty == null`, true},
		{proc, `any where empty != null`, false},
		{proc, `any where empty == "x"`, false},
		{proc, `any where empty != "x"`, true},
		{proc, `any where nullf == null`, true},
		{proc, `any where nullf : "*"`, false},
		{proc, `any where obj == null`, false},
		{proc, `any where obj == "x"`, false},
		{proc, `any where missing.field : "*"`, false},
		{proc, `any where not missing.field : "*"`, true},

		// : (case-insensitive wildcards).
		{proc, `any where process.name : "automator"`, true},
		{proc, `any where process.name : "AUTO*"`, true},
		{proc, `any where process.name : "auto?ator"`, true},
		{proc, `any where process.name : "auto??ator"`, false},
		{proc, `any where process.name : "*mat*"`, true},
		{proc, `any where process.name : "*"`, true},
		{proc, `any where process.name : "*tor*"`, true},
		{proc, `any where process.name : "a*m*r"`, true},
		{proc, `any where process.name : "a*x*r"`, false},
		{proc, `any where process.name : ("x", "*MATOR")`, true},
		{proc, `any where process.name : ("x", "y")`, false},
		{proc, `any where process.args : "*SHELL*"`, true},
		{proc, `any where process.args : "-E"`, true},
		{proc, `any where unicode : "ärger mit STRASSE"`, false}, // simple folding: ß is not ss
		{proc, `any where unicode : "ärger MIT ſTRAßE"`, true},
		{proc, `any where unicode : "ÄRGER*straße"`, true}, // ſ folds with s
		{proc, `any where unicode == "ärger mit ſtraße"`, false},
		{proc, `any where user.name : "*"`, false},
		{proc, `any where not user.name : "*"`, true},
		{proc, `any where dll.path : "*\\kernel32.dll"`, true},
		{proc, `any where dll.path : "?:\\windows\\system32\\*.DLL"`, true},
		{proc, `any where dll.path like "*KERNEL32.dll"`, true},
		{proc, `any where dll.path like "*kernel32.dll"`, false},
		{proc, `any where dll.path like~ "*kernel32.dll"`, true},
		{proc, `any where dll.path regex ".*ntdll\\.dll"`, true},
		{proc, `any where dll.path in ("x", "C:\\Windows\\System32\\ntdll.dll")`, true},
		{proc, `any where dll.path in~ ("c:\\windows\\system32\\NTDLL.DLL")`, true},
		{proc, `any where dll.path not in ("C:\\Windows\\System32\\ntdll.dll")`, false},
		{proc, `any where dll.path > "C:\\Windows\\System32\\m"`, true}, // ntdll sorts after m
		{proc, `any where dll.path < "C:\\Windows\\System32\\A"`, false},
		{proc, `any where endsWith~(dll.path, "NTDLL.DLL")`, true},

		// like / like~ / regex / regex~.
		{proc, `any where process.name like "Auto*"`, true},
		{proc, `any where process.name like "auto*"`, false},
		{proc, `any where process.name like~ "auto*"`, true},
		{proc, `any where process.name like ("x", "?utomator")`, true},
		{proc, `any where process.name regex "Auto.*"`, true},
		{proc, `any where process.name regex "auto.*"`, false},
		{proc, `any where process.name regex~ "auto.*"`, true},
		{proc, `any where process.name regex "Auto"`, false}, // anchored
		{proc, `any where process.name regex ("x", "A[a-z]+")`, true},
		{proc, `any where process.args regex "-[a-z]"`, true},
		{proc, `any where process.name regex "Auto\\w+"`, true},
		{proc, `any where process.name regex """[A-Z]utomato."""`, true},
		{proc, `any where process.name regex "A@"`, true},
		{proc, `any where process.name regex "Au\"tom\"ator"`, true},
		{proc, `any where process.name regex "^Automator$"`, false}, // ^ and $ are literals in Lucene
		{proc, `any where process.executable regex "/usr/bin/.*"`, true},
		{proc, `any where user.name regex ".*"`, false},
		{proc, `any where not user.name regex ".*"`, true},

		// in / in~ / not in.
		{proc, `any where process.name in ("bash", "Automator")`, true},
		{proc, `any where process.name in ("automator")`, false},
		{proc, `any where process.name in~ ("AUTOMATOR")`, true},
		{proc, `any where process.name in~ ("auto*")`, false}, // no wildcards
		{proc, `any where process.name not in ("x", "y")`, true},
		{proc, `any where process.name not in~ ("automator")`, false},
		{proc, `any where user.name in ("x")`, false},
		{proc, `any where user.name not in ("x")`, true},
		{proc, `any where process.name in ("a", "b", "c", "d", "e", "f", "g", "h", "i", "Automator")`, true},
		{proc, `any where process.name in~ ("a", "b", "c", "d", "e", "f", "g", "h", "i", "AUTOMATOR")`, true},
		{proc, `any where process.name in~ ("a", "b", "c", "d", "e", "f", "g", "h", "i", "j")`, false},

		// Ranges.
		{proc, `any where process.pid > 41`, true},
		{proc, `any where process.pid >= 42`, true},
		{proc, `any where process.pid < 42`, false},
		{proc, `any where process.pid <= 42`, true},
		{proc, `any where 41 < process.pid`, true},
		{proc, `any where process.name > "A"`, true},
		{proc, `any where process.name < "B"`, true},
		{proc, `any where process.name >= "a"`, false}, // byte order: "A" < "a"
		{proc, `any where source.port > 0`, false},
		{proc, `any where not source.port > 0`, true},

		// Functions as queries (field, constants): missing never matches, not does.
		{proc, `any where startsWith(process.name, "Auto")`, true},
		{proc, `any where startsWith(process.name, "auto")`, false},
		{proc, `any where startsWith~(process.name, "auto")`, true},
		{proc, `any where STARTSWITH~(process.name, "auto")`, true},
		{proc, `any where endsWith(process.executable, "/osascript")`, true},
		{proc, `any where endsWith~(process.executable, "/OSASCRIPT")`, true},
		{proc, `any where stringContains(process.command_line, "Shell")`, true},
		{proc, `any where stringContains~(process.command_line, "shell")`, true},
		{proc, `any where stringContains(process.command_line, "shell")`, false},
		{proc, `any where endsWith(process.args, "Script")`, true},
		{proc, `any where not startsWith(user.name, "x")`, true},
		{proc, `any where cidrMatch(source.ip, "10.0.0.0/8")`, true},
		{proc, `any where cidrmatch(source.ip, "192.168.0.0/16", "10.1.2.3")`, true},
		{proc, `any where CIDRMATCH(source.ip, "192.168.0.0/16")`, false},
		{proc, `any where cidrMatch(destination.ip, "2001:db8::/32")`, true},
		{proc, `any where cidrMatch(source.ip, "::/0")`, true},
		{proc, `any where not cidrMatch(user.name, "10.0.0.0/8")`, true},
		{net, `any where cidrMatch(source.ip, "192.168.0.0/16")`, true}, // IPv4-mapped

		// Functions as scripts: null in, null out; not(null) is null.
		{proc, `any where not startsWith("abc", user.name)`, false},
		{proc, `any where startsWith("Automator.app", process.name)`, true},
		{proc, `any where length(process.name) == 9`, true},
		{proc, `any where length(user.name) == 0`, false},
		{proc, `any where not length(user.name) == 0`, false},
		{proc, `any where length(user.name) != 0`, false},
		{proc, `any where length(user.name) == null`, true},
		{proc, `any where not (length(user.name) == 1 and process.pid == 42)`, true},
		{proc, `any where length(process.args) == 2`, true}, // any element of the array
		{proc, `any where indexOf(process.name, "o") == 3`, true},
		{proc, `any where indexOf~(process.name, "MAT") == 4`, true},
		{proc, `any where substring(process.name, 0, 4) == "Auto"`, true},
		{proc, `any where substring(process.name, -4) == "ator"`, true},
		{proc, `any where between(process.executable, "/usr/", "/") == "bin"`, true},
		{proc, `any where concat(process.name, "-", process.pid) == "Automator-42"`, true},
		{proc, `any where string(process.pid) == "42"`, true},
		{proc, `any where number("42") == process.pid`, true},
		{proc, `any where process.pid + 1 == 43`, true},
		{proc, `any where process.pid * 2 == 84`, true},
		{proc, `any where process.pid / 5 == 8`, true},
		{proc, `any where process.pid / 5.0 == 8.4`, true},
		{proc, `any where process.pid % 5 == 2`, true},
		{proc, `any where -process.pid == -42`, true},
		{proc, `any where add(process.pid, 1) == 43 and modulo(process.pid, 40) == 2`, true},
		{proc, `any where startsWith~("explorer.exeaAAAA", "EXPLORER.exe")`, true},
		{proc, `any where cidrMatch(source.ip, "10.0.0.0/8") == true`, true},
		{proc, `any where true == cidrMatch(source.ip, "11.0.0.0/8")`, false},
		{proc, `any where string(cidrMatch(source.ip, "10.0.0.0/8")) : "TRUE"`, true},
		{proc, `any where ?process.code_signature.subject_name : "*foo*"`, true},

		// Typed paths whose value arrived in the generic store.
		{net, `any where process.name == "Curl-Helper"`, true},
		{net, `any where process.name : "curl"`, true},
		{net, `any where process.pid == 77`, true},
		{net, `any where process.pid > 70`, true},
		{net, `any where destination.port == 443`, true},
		{net, `any where process_name == "curl"`, true},
		{net, `any where length(process.name) == 11`, true},
	}
	for _, tt := range tests {
		q, err := Parse(tt.query)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.query, err)
			continue
		}
		m, err := Compile(q.Event)
		if err != nil {
			t.Errorf("Compile(%q): %v", tt.query, err)
			continue
		}
		if got := m(tt.ev); got != tt.want {
			t.Errorf("%q on %s: got %v, want %v", tt.query, eventName(tt.ev), got, tt.want)
		}
	}
}

func eventName(e *ecs.Event) string {
	if e.Process.Name != "" {
		return "typed process"
	}
	return "generic network"
}

// TestMatchNoAlloc pins the hot path: matching allocates nothing, for the
// seed rule's stages and for representative operators.
func TestMatchNoAlloc(t *testing.T) {
	queries := []string{
		`process where host.os.type == "macos" and event.type in ("start", "process_started") and process.name == "automator"`,
		`network where host.os.type == "macos" and process.name:"com.apple.automator.runner"`,
		`process where process.name : ("*AUTO*", "osa?cript", "*.app") or process.args : ("*shell*", "/tmp/*")`,
		`process where process.name in~ ("bash", "sh", "zsh", "dash", "ksh", "tcsh", "csh", "fish", "python", "perl", "automator")`,
		`process where process.name like~ "AUTO*" and not process.executable like "/System/*"`,
		`process where process.args regex~ ".*SHELL.*" and process.name regex "[A-Z][a-z]+"`,
		`process where process.pid > 10 and process.pid != 7 and process.Ext.command_line_truncated == false and user.name == null`,
		`process where startsWith~(process.name, "auto") and endsWith(process.executable, "script") and stringContains~(process.command_line, "SHELL")`,
		`process where cidrMatch(source.ip, "10.0.0.0/8", "fc00::/7") and not cidrMatch(destination.ip, "127.0.0.0/8")`,
		`process where process.code_signature.trusted == false and file.size >= 1000 and dll.path : "*\\ntdll.dll" and tags == 1`,
		`process where length(process.name) == 9 and substring(process.name, 0, 4) == "Auto" and indexOf(process.name, "m") == 4`,
	}
	e := matchProcess()
	for _, query := range queries {
		q, err := Parse(query)
		if err != nil {
			t.Fatalf("Parse(%q): %v", query, err)
		}
		m, err := Compile(q.Event)
		if err != nil {
			t.Fatalf("Compile(%q): %v", query, err)
		}
		m(e)
		if raceEnabled && strings.Contains(query, "regex") {
			continue // regexp's sync.Pool drops items under -race
		}
		if n := testing.AllocsPerRun(100, func() { m(e) }); n != 0 {
			t.Errorf("%q: %v allocations per match, want 0", query, n)
		}
	}
	k, err := CompileKey([]*Field{{Path: "host.id"}, {Path: "process.pid"}, {Path: "dll.path"}})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 256)
	if _, ok := k(buf, e); !ok {
		t.Fatal("key: not ok")
	}
	if n := testing.AllocsPerRun(100, func() { buf, _ = k(buf[:0], e) }); n != 0 {
		t.Errorf("key: %v allocations, want 0", n)
	}
}

func TestCompileEdges(t *testing.T) {
	if _, err := Compile(nil); err == nil {
		t.Error("Compile(nil): no error")
	}
	if _, err := Compile(&EventQuery{Category: "process"}); err == nil {
		t.Error("Compile without a condition: no error")
	}
	proc := matchProcess()
	for _, tt := range []struct {
		q    EventQuery
		want bool
	}{
		{EventQuery{Category: "process", Cond: &Literal{Value: ecs.Bool(true)}}, true},
		{EventQuery{Category: "network", Cond: &Literal{Value: ecs.Bool(true)}}, false},
		{EventQuery{Cond: &Literal{Value: ecs.Bool(false)}}, false},
		{EventQuery{Category: "process", Cond: &Or{X: []Expr{&Literal{Value: ecs.Bool(false)}, &Field{Path: "process.Ext.command_line_truncated"}}}}, false},
		{EventQuery{Category: "process", Cond: &And{X: []Expr{&Literal{Value: ecs.Bool(true)}, &Not{X: &Field{Path: "process.Ext.command_line_truncated"}}}}}, true},
	} {
		m, err := Compile(&tt.q)
		if err != nil {
			t.Errorf("Compile(%+v): %v", tt.q, err)
			continue
		}
		if got := m(proc); got != tt.want {
			t.Errorf("Compile(%+v) on process: %v, want %v", tt.q, got, tt.want)
		}
	}
}
