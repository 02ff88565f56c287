package ecs

//go:generate go run ./internal/fieldgen

// Event is one ECS event. The typed fields are those the sensor produces and
// the rules read most; every other field of an event read from a file is kept
// in Fields. Strings hold "" when absent; numeric and boolean fields carry a
// presence bit in Has because 0 is a real value (ppid 0, port 0).
//
// An Event is not safe for concurrent mutation. Decoded events may share
// memory with the line they were decoded from (see Decode): never mutate that
// line afterwards.
//
// The typed fields are declared here and only here: a field with an
// `ecs:"segment[,time][,has=Name]"` tag is a typed field at the dotted path
// of the tags from Event down (a struct-typed field is a field set), of
// type string ("" is absent), []string (nil is absent), int64 or bool (with
// a presence bit, HasName or by default Has and the Go field names, as in
// HasSourcePort); "time" marks Unix nanoseconds written as RFC 3339. `go
// generate` writes the decoder's and encoder's tables from the tags
// (fields_gen.go; internal/fieldgen). Adding a field is one tagged line
// here, then go generate.
type Event struct {
	Timestamp int64 `ecs:"@timestamp,time"` // Unix nanoseconds

	Event       EventMeta `ecs:"event"`
	Host        Host      `ecs:"host"`
	Agent       Agent     `ecs:"agent"`
	Process     Process   `ecs:"process"`
	User        User      `ecs:"user"`
	Source      Endpoint  `ecs:"source"`
	Destination Endpoint  `ecs:"destination"`
	Network     Network   `ecs:"network"`

	// Has records which numeric and boolean typed fields are present.
	Has Presence

	// Fields holds every field outside the typed struct, by dotted path,
	// sorted by Path, each path at most once.
	Fields Fields

	// Note is what a consumer computed for this event on the goroutine
	// that decoded it (ReaderOptions.Annotate); ecs never reads it.
	Note Note
}

// Note is a consumer's scratch in an event: detect's rule plan keeps there
// the event's category mask and which rule conditions hold, computed by
// the Reader's decoding goroutines while the event is in their cache.
// Owner says whose it is (0: nobody's); a consumer ignores a Note it did
// not write. Copies (Clone, Copy) carry it along; a decoded event starts
// with none.
type Note struct {
	Owner uint64
	Words [9]uint64
}

// EventMeta is the ECS event.* field set.
type EventMeta struct {
	ID       string   `ecs:"id"`
	Kind     string   `ecs:"kind"`
	Category []string `ecs:"category"`
	Type     []string `ecs:"type"`
	Action   string   `ecs:"action"`
	Dataset  string   `ecs:"dataset"`
	Module   string   `ecs:"module"`
	Outcome  string   `ecs:"outcome"`
	Created  int64    `ecs:"created,time,has=Created"` // Unix nanoseconds
	Sequence int64    `ecs:"sequence,has=Sequence"`
}

// Host is the ECS host.* field set.
type Host struct {
	ID           string `ecs:"id"`
	Name         string `ecs:"name"`
	Hostname     string `ecs:"hostname"`
	Architecture string `ecs:"architecture"`
	OS           OS     `ecs:"os"`
}

// OS is the ECS host.os.* field set.
type OS struct {
	Type     string `ecs:"type"` // macos, linux
	Name     string `ecs:"name"`
	Version  string `ecs:"version"`
	Kernel   string `ecs:"kernel"`
	Family   string `ecs:"family"`
	Platform string `ecs:"platform"`
	Full     string `ecs:"full"`
}

// Agent is the ECS agent.* field set.
type Agent struct {
	ID      string `ecs:"id"`
	Type    string `ecs:"type"`
	Version string `ecs:"version"`
	Name    string `ecs:"name"`
}

// Process is the ECS process.* field set.
type Process struct {
	PID              int64    `ecs:"pid,has=PID"`
	EntityID         string   `ecs:"entity_id"`
	Name             string   `ecs:"name"`
	Executable       string   `ecs:"executable"`
	Args             []string `ecs:"args"`
	ArgsCount        int64    `ecs:"args_count,has=ArgsCount"`
	CommandLine      string   `ecs:"command_line"`
	Start            int64    `ecs:"start,time,has=Start"` // Unix nanoseconds
	WorkingDirectory string   `ecs:"working_directory"`
	// ArgsTruncated is process.Ext.command_line_truncated: args or
	// command_line were cut to fit (HasArgsTruncated).
	ArgsTruncated bool   `ecs:"Ext.command_line_truncated,has=ArgsTruncated"`
	Parent        Parent `ecs:"parent"`
	// CodeSignature and Hash describe the executable (sensor/codesign):
	// set on the process and network events of a process whose
	// executable was verified (Hash on process events only).
	CodeSignature CodeSignature `ecs:"code_signature"`
	Hash          Hash          `ecs:"hash"`
	// ExitCode is set on end events when the kernel gave the exit status.
	ExitCode      int64         `ecs:"exit_code,has=ExitCode"`
	GroupLeader   GroupLeader   `ecs:"group_leader"`
	SessionLeader SessionLeader `ecs:"session_leader"`
}

// GroupLeader is the ECS process.group_leader.* field set: the leader of
// the process group.
type GroupLeader struct {
	PID int64 `ecs:"pid,has=GroupLeaderPID"`
}

// SessionLeader is the ECS process.session_leader.* field set: the leader
// of the session.
type SessionLeader struct {
	PID int64 `ecs:"pid,has=SessionLeaderPID"`
}

// Parent is the ECS process.parent.* field set.
type Parent struct {
	PID         int64    `ecs:"pid,has=ParentPID"`
	EntityID    string   `ecs:"entity_id"`
	Name        string   `ecs:"name"`
	Executable  string   `ecs:"executable"`
	Args        []string `ecs:"args"`
	ArgsCount   int64    `ecs:"args_count,has=ParentArgsCount"`
	CommandLine string   `ecs:"command_line"`
	// CodeSignature is the parent's executable's, as its own events carry it.
	CodeSignature CodeSignature `ecs:"code_signature"`
}

// CodeSignature is the ECS code_signature.* field set of an executable, as
// Elastic Defend fills it on macOS (sensor/codesign says how each field is
// computed). Exists and Trusted have presence bits
// (HasProcessCodeSignatureExists, HasProcessParentCodeSignatureTrusted, ...):
// they are set only when the file was judged, never on a file the sensor did
// not read.
type CodeSignature struct {
	Exists      bool   `ecs:"exists"`
	Trusted     bool   `ecs:"trusted"`
	Status      string `ecs:"status"`
	SigningID   string `ecs:"signing_id"`
	TeamID      string `ecs:"team_id"`
	SubjectName string `ecs:"subject_name"`
}

// Hash is the ECS hash.* field set of a file.
type Hash struct {
	SHA256 string `ecs:"sha256"`
}

// User is the ECS user.* field set.
type User struct {
	ID   string `ecs:"id"`
	Name string `ecs:"name"`
}

// Endpoint is the ECS source.* / destination.* field set.
type Endpoint struct {
	IP     string `ecs:"ip"`
	Port   int64  `ecs:"port"`
	Domain string `ecs:"domain"`
}

// Network is the ECS network.* field set.
type Network struct {
	Transport string `ecs:"transport"` // tcp, udp
	Type      string `ecs:"type"`      // ipv4, ipv6
	Direction string `ecs:"direction"` // egress, ingress
}

// Presence is a set of bits, one per numeric or boolean typed field; the
// generator assigns them (HasTimestamp, HasPID, ...: fields_gen.go).
type Presence uint64
