package ecs

// Event is one ECS event. The typed fields are those the sensor produces and
// the rules read most; every other field of an event read from a file is kept
// in Fields. Strings hold "" when absent; numeric and boolean fields carry a
// presence bit in Has because 0 is a real value (ppid 0, port 0).
//
// An Event is not safe for concurrent mutation. Decoded events may share
// memory with the line they were decoded from (see Decode): never mutate that
// line afterwards.
type Event struct {
	Timestamp int64 // @timestamp, Unix nanoseconds (Has&HasTimestamp)

	Event       EventMeta
	Host        Host
	Agent       Agent
	Process     Process
	User        User
	Source      Endpoint
	Destination Endpoint
	Network     Network

	// Has records which numeric and boolean typed fields are present.
	Has Presence

	// Fields holds every field outside the typed struct, by dotted path,
	// sorted by Path, each path at most once.
	Fields Fields
}

// EventMeta is the ECS event.* field set.
type EventMeta struct {
	ID       string   // event.id
	Kind     string   // event.kind
	Category []string // event.category
	Type     []string // event.type
	Action   string   // event.action
	Dataset  string   // event.dataset
	Module   string   // event.module
	Outcome  string   // event.outcome
	Created  int64    // event.created, Unix nanoseconds (HasCreated)
	Sequence int64    // event.sequence (HasSequence)
}

// Host is the ECS host.* field set.
type Host struct {
	ID           string // host.id
	Name         string // host.name
	Hostname     string // host.hostname
	Architecture string // host.architecture
	OS           OS
}

// OS is the ECS host.os.* field set.
type OS struct {
	Type     string // host.os.type: macos, linux
	Name     string // host.os.name
	Version  string // host.os.version
	Kernel   string // host.os.kernel
	Family   string // host.os.family
	Platform string // host.os.platform
	Full     string // host.os.full
}

// Agent is the ECS agent.* field set.
type Agent struct {
	ID      string // agent.id
	Type    string // agent.type
	Version string // agent.version
	Name    string // agent.name
}

// Process is the ECS process.* field set.
type Process struct {
	PID              int64    // process.pid (HasPID)
	EntityID         string   // process.entity_id
	Name             string   // process.name
	Executable       string   // process.executable
	Args             []string // process.args
	ArgsCount        int64    // process.args_count (HasArgsCount)
	CommandLine      string   // process.command_line
	Start            int64    // process.start, Unix nanoseconds (HasStart)
	WorkingDirectory string   // process.working_directory
	// ArgsTruncated is process.Ext.command_line_truncated: args or
	// command_line were cut to fit (HasArgsTruncated).
	ArgsTruncated bool
	Parent        Parent
}

// Parent is the ECS process.parent.* field set.
type Parent struct {
	PID         int64    // process.parent.pid (HasParentPID)
	EntityID    string   // process.parent.entity_id
	Name        string   // process.parent.name
	Executable  string   // process.parent.executable
	Args        []string // process.parent.args
	CommandLine string   // process.parent.command_line
}

// User is the ECS user.* field set.
type User struct {
	ID   string // user.id
	Name string // user.name
}

// Endpoint is the ECS source.* / destination.* field set.
type Endpoint struct {
	IP     string // .ip
	Port   int64  // .port (HasSourcePort / HasDestinationPort)
	Domain string // .domain
}

// Network is the ECS network.* field set.
type Network struct {
	Transport string // network.transport: tcp, udp
	Type      string // network.type: ipv4, ipv6
	Direction string // network.direction: egress, ingress
}

// Presence is a set of bits, one per numeric or boolean typed field.
type Presence uint32

// The presence bits.
const (
	HasTimestamp Presence = 1 << iota
	HasCreated
	HasSequence
	HasPID
	HasArgsCount
	HasStart
	HasArgsTruncated
	HasParentPID
	HasSourcePort
	HasDestinationPort
)
