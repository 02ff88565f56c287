package ecs

import (
	"bytes"
	"encoding/binary"
	"sort"
	"strings"
	"unsafe"
)

// slotKind is how a typed field is stored and encoded.
type slotKind uint8

const (
	slotString  slotKind = iota // string; "" is absent
	slotStrings                 // []string; nil is absent
	slotInt                     // int64 with a presence bit
	slotBool                    // bool with a presence bit
	slotTime                    // int64 Unix nanoseconds with a presence bit
)

// slot describes one typed field: its dotted path, its kind, its presence
// bit (numeric and boolean kinds) and its byte offset inside Event. The
// encoder and the decoder address typed fields through this table, so that
// one loop serves every field; TestSlotsMatchAccessors checks every offset
// against the hand-written accessors in accessor.go.
type slot struct {
	path string
	kind slotKind
	bit  Presence
	off  uintptr
}

// at returns a pointer to the slot's field inside e. The offset comes from
// the same Event type, so the pointer is always in bounds.
func (s *slot) at(e *Event) unsafe.Pointer { return unsafe.Add(unsafe.Pointer(e), s.off) }

// present reports whether the typed field holds a value in e.
func (s *slot) present(e *Event) bool {
	switch s.kind {
	case slotString:
		return *(*string)(s.at(e)) != ""
	case slotStrings:
		return *(*[]string)(s.at(e)) != nil
	default:
		return e.Has&s.bit != 0
	}
}

// The slot ids, in the order of the slots table.
const (
	sTimestamp = iota
	sEventID
	sEventKind
	sEventCategory
	sEventType
	sEventAction
	sEventDataset
	sEventModule
	sEventOutcome
	sEventCreated
	sEventSequence
	sHostID
	sHostName
	sHostHostname
	sHostArchitecture
	sHostOSType
	sHostOSName
	sHostOSVersion
	sHostOSKernel
	sHostOSFamily
	sHostOSPlatform
	sHostOSFull
	sAgentID
	sAgentType
	sAgentVersion
	sAgentName
	sProcessPID
	sProcessEntityID
	sProcessName
	sProcessExecutable
	sProcessArgs
	sProcessArgsCount
	sProcessCommandLine
	sProcessStart
	sProcessWorkingDirectory
	sProcessArgsTruncated
	sParentPID
	sParentEntityID
	sParentName
	sParentExecutable
	sParentArgs
	sParentCommandLine
	sUserID
	sUserName
	sSourceIP
	sSourcePort
	sSourceDomain
	sDestinationIP
	sDestinationPort
	sDestinationDomain
	sNetworkTransport
	sNetworkType
	sNetworkDirection
	nSlots
)

// slotOf returns the slot id of a dotted path, or -1. The switch neither
// allocates nor hashes: the compiler turns it into a binary search over
// the constant cases.
func slotOf(path string) int {
	switch path {
	case "@timestamp":
		return sTimestamp
	case "event.id":
		return sEventID
	case "event.kind":
		return sEventKind
	case "event.category":
		return sEventCategory
	case "event.type":
		return sEventType
	case "event.action":
		return sEventAction
	case "event.dataset":
		return sEventDataset
	case "event.module":
		return sEventModule
	case "event.outcome":
		return sEventOutcome
	case "event.created":
		return sEventCreated
	case "event.sequence":
		return sEventSequence
	case "host.id":
		return sHostID
	case "host.name":
		return sHostName
	case "host.hostname":
		return sHostHostname
	case "host.architecture":
		return sHostArchitecture
	case "host.os.type":
		return sHostOSType
	case "host.os.name":
		return sHostOSName
	case "host.os.version":
		return sHostOSVersion
	case "host.os.kernel":
		return sHostOSKernel
	case "host.os.family":
		return sHostOSFamily
	case "host.os.platform":
		return sHostOSPlatform
	case "host.os.full":
		return sHostOSFull
	case "agent.id":
		return sAgentID
	case "agent.type":
		return sAgentType
	case "agent.version":
		return sAgentVersion
	case "agent.name":
		return sAgentName
	case "process.pid":
		return sProcessPID
	case "process.entity_id":
		return sProcessEntityID
	case "process.name":
		return sProcessName
	case "process.executable":
		return sProcessExecutable
	case "process.args":
		return sProcessArgs
	case "process.args_count":
		return sProcessArgsCount
	case "process.command_line":
		return sProcessCommandLine
	case "process.start":
		return sProcessStart
	case "process.working_directory":
		return sProcessWorkingDirectory
	case "process.Ext.command_line_truncated":
		return sProcessArgsTruncated
	case "process.parent.pid":
		return sParentPID
	case "process.parent.entity_id":
		return sParentEntityID
	case "process.parent.name":
		return sParentName
	case "process.parent.executable":
		return sParentExecutable
	case "process.parent.args":
		return sParentArgs
	case "process.parent.command_line":
		return sParentCommandLine
	case "user.id":
		return sUserID
	case "user.name":
		return sUserName
	case "source.ip":
		return sSourceIP
	case "source.port":
		return sSourcePort
	case "source.domain":
		return sSourceDomain
	case "destination.ip":
		return sDestinationIP
	case "destination.port":
		return sDestinationPort
	case "destination.domain":
		return sDestinationDomain
	case "network.transport":
		return sNetworkTransport
	case "network.type":
		return sNetworkType
	case "network.direction":
		return sNetworkDirection
	}
	return -1
}

// protoEvent is only used to compute field offsets.
var protoEvent Event

func offsetOf(p unsafe.Pointer) uintptr {
	return uintptr(p) - uintptr(unsafe.Pointer(&protoEvent))
}

var slots = func() [nSlots]slot {
	e := &protoEvent
	str := func(path string, p *string) slot {
		return slot{path: path, kind: slotString, off: offsetOf(unsafe.Pointer(p))}
	}
	strs := func(path string, p *[]string) slot {
		return slot{path: path, kind: slotStrings, off: offsetOf(unsafe.Pointer(p))}
	}
	num := func(path string, k slotKind, bit Presence, p *int64) slot {
		return slot{path: path, kind: k, bit: bit, off: offsetOf(unsafe.Pointer(p))}
	}
	var t [nSlots]slot
	t[sTimestamp] = num("@timestamp", slotTime, HasTimestamp, &e.Timestamp)
	t[sEventID] = str("event.id", &e.Event.ID)
	t[sEventKind] = str("event.kind", &e.Event.Kind)
	t[sEventCategory] = strs("event.category", &e.Event.Category)
	t[sEventType] = strs("event.type", &e.Event.Type)
	t[sEventAction] = str("event.action", &e.Event.Action)
	t[sEventDataset] = str("event.dataset", &e.Event.Dataset)
	t[sEventModule] = str("event.module", &e.Event.Module)
	t[sEventOutcome] = str("event.outcome", &e.Event.Outcome)
	t[sEventCreated] = num("event.created", slotTime, HasCreated, &e.Event.Created)
	t[sEventSequence] = num("event.sequence", slotInt, HasSequence, &e.Event.Sequence)
	t[sHostID] = str("host.id", &e.Host.ID)
	t[sHostName] = str("host.name", &e.Host.Name)
	t[sHostHostname] = str("host.hostname", &e.Host.Hostname)
	t[sHostArchitecture] = str("host.architecture", &e.Host.Architecture)
	t[sHostOSType] = str("host.os.type", &e.Host.OS.Type)
	t[sHostOSName] = str("host.os.name", &e.Host.OS.Name)
	t[sHostOSVersion] = str("host.os.version", &e.Host.OS.Version)
	t[sHostOSKernel] = str("host.os.kernel", &e.Host.OS.Kernel)
	t[sHostOSFamily] = str("host.os.family", &e.Host.OS.Family)
	t[sHostOSPlatform] = str("host.os.platform", &e.Host.OS.Platform)
	t[sHostOSFull] = str("host.os.full", &e.Host.OS.Full)
	t[sAgentID] = str("agent.id", &e.Agent.ID)
	t[sAgentType] = str("agent.type", &e.Agent.Type)
	t[sAgentVersion] = str("agent.version", &e.Agent.Version)
	t[sAgentName] = str("agent.name", &e.Agent.Name)
	t[sProcessPID] = num("process.pid", slotInt, HasPID, &e.Process.PID)
	t[sProcessEntityID] = str("process.entity_id", &e.Process.EntityID)
	t[sProcessName] = str("process.name", &e.Process.Name)
	t[sProcessExecutable] = str("process.executable", &e.Process.Executable)
	t[sProcessArgs] = strs("process.args", &e.Process.Args)
	t[sProcessArgsCount] = num("process.args_count", slotInt, HasArgsCount, &e.Process.ArgsCount)
	t[sProcessCommandLine] = str("process.command_line", &e.Process.CommandLine)
	t[sProcessStart] = num("process.start", slotTime, HasStart, &e.Process.Start)
	t[sProcessWorkingDirectory] = str("process.working_directory", &e.Process.WorkingDirectory)
	t[sProcessArgsTruncated] = slot{path: "process.Ext.command_line_truncated", kind: slotBool, bit: HasArgsTruncated,
		off: offsetOf(unsafe.Pointer(&e.Process.ArgsTruncated))}
	t[sParentPID] = num("process.parent.pid", slotInt, HasParentPID, &e.Process.Parent.PID)
	t[sParentEntityID] = str("process.parent.entity_id", &e.Process.Parent.EntityID)
	t[sParentName] = str("process.parent.name", &e.Process.Parent.Name)
	t[sParentExecutable] = str("process.parent.executable", &e.Process.Parent.Executable)
	t[sParentArgs] = strs("process.parent.args", &e.Process.Parent.Args)
	t[sParentCommandLine] = str("process.parent.command_line", &e.Process.Parent.CommandLine)
	t[sUserID] = str("user.id", &e.User.ID)
	t[sUserName] = str("user.name", &e.User.Name)
	t[sSourceIP] = str("source.ip", &e.Source.IP)
	t[sSourcePort] = num("source.port", slotInt, HasSourcePort, &e.Source.Port)
	t[sSourceDomain] = str("source.domain", &e.Source.Domain)
	t[sDestinationIP] = str("destination.ip", &e.Destination.IP)
	t[sDestinationPort] = num("destination.port", slotInt, HasDestinationPort, &e.Destination.Port)
	t[sDestinationDomain] = str("destination.domain", &e.Destination.Domain)
	t[sNetworkTransport] = str("network.transport", &e.Network.Transport)
	t[sNetworkType] = str("network.type", &e.Network.Type)
	t[sNetworkDirection] = str("network.direction", &e.Network.Direction)
	return t
}()

// slotOrder lists the slot ids sorted by path (byte order, the order of
// Fields), so that the encoder can merge typed fields and Fields in one pass.
var slotOrder = func() [nSlots]uint8 {
	var o [nSlots]uint8
	for i := range o {
		o[i] = uint8(i)
	}
	sort.Slice(o[:], func(i, j int) bool { return slots[o[i]].path < slots[o[j]].path })
	return o
}()

// The typed paths as a trie of path segments, so that the decoder finds a
// typed field while it descends nested objects without building the dotted
// path. The nodes are the proper prefixes of typed paths; child maps a
// node and one segment to the child node or typed slot. It is written out
// as switches (a binary search over constants, no hashing);
// TestTrieMatchesSlots checks it against the slots table both ways.
const (
	nRoot = iota
	nEvent
	nHost
	nHostOS
	nAgent
	nProcess
	nProcessExt
	nParent
	nUser
	nSource
	nDestination
	nNetwork
	nNodes
)

// child returns the trie node (or -1) and the typed slot (or -1) reached
// from node by one path segment.
func child(node int, seg []byte) (int, int) {
	switch node {
	case nRoot:
		switch string(seg) {
		case "@timestamp":
			return -1, sTimestamp
		case "event":
			return nEvent, -1
		case "host":
			return nHost, -1
		case "agent":
			return nAgent, -1
		case "process":
			return nProcess, -1
		case "user":
			return nUser, -1
		case "source":
			return nSource, -1
		case "destination":
			return nDestination, -1
		case "network":
			return nNetwork, -1
		}
	case nEvent:
		switch string(seg) {
		case "id":
			return -1, sEventID
		case "kind":
			return -1, sEventKind
		case "category":
			return -1, sEventCategory
		case "type":
			return -1, sEventType
		case "action":
			return -1, sEventAction
		case "dataset":
			return -1, sEventDataset
		case "module":
			return -1, sEventModule
		case "outcome":
			return -1, sEventOutcome
		case "created":
			return -1, sEventCreated
		case "sequence":
			return -1, sEventSequence
		}
	case nHost:
		switch string(seg) {
		case "id":
			return -1, sHostID
		case "name":
			return -1, sHostName
		case "hostname":
			return -1, sHostHostname
		case "architecture":
			return -1, sHostArchitecture
		case "os":
			return nHostOS, -1
		}
	case nHostOS:
		switch string(seg) {
		case "type":
			return -1, sHostOSType
		case "name":
			return -1, sHostOSName
		case "version":
			return -1, sHostOSVersion
		case "kernel":
			return -1, sHostOSKernel
		case "family":
			return -1, sHostOSFamily
		case "platform":
			return -1, sHostOSPlatform
		case "full":
			return -1, sHostOSFull
		}
	case nAgent:
		switch string(seg) {
		case "id":
			return -1, sAgentID
		case "type":
			return -1, sAgentType
		case "version":
			return -1, sAgentVersion
		case "name":
			return -1, sAgentName
		}
	case nProcess:
		switch string(seg) {
		case "pid":
			return -1, sProcessPID
		case "entity_id":
			return -1, sProcessEntityID
		case "name":
			return -1, sProcessName
		case "executable":
			return -1, sProcessExecutable
		case "args":
			return -1, sProcessArgs
		case "args_count":
			return -1, sProcessArgsCount
		case "command_line":
			return -1, sProcessCommandLine
		case "start":
			return -1, sProcessStart
		case "working_directory":
			return -1, sProcessWorkingDirectory
		case "Ext":
			return nProcessExt, -1
		case "parent":
			return nParent, -1
		}
	case nProcessExt:
		if string(seg) == "command_line_truncated" {
			return -1, sProcessArgsTruncated
		}
	case nParent:
		switch string(seg) {
		case "pid":
			return -1, sParentPID
		case "entity_id":
			return -1, sParentEntityID
		case "name":
			return -1, sParentName
		case "executable":
			return -1, sParentExecutable
		case "args":
			return -1, sParentArgs
		case "command_line":
			return -1, sParentCommandLine
		}
	case nUser:
		switch string(seg) {
		case "id":
			return -1, sUserID
		case "name":
			return -1, sUserName
		}
	case nSource:
		switch string(seg) {
		case "ip":
			return -1, sSourceIP
		case "port":
			return -1, sSourcePort
		case "domain":
			return -1, sSourceDomain
		}
	case nDestination:
		switch string(seg) {
		case "ip":
			return -1, sDestinationIP
		case "port":
			return -1, sDestinationPort
		case "domain":
			return -1, sDestinationDomain
		}
	case nNetwork:
		switch string(seg) {
		case "transport":
			return -1, sNetworkTransport
		case "type":
			return -1, sNetworkType
		case "direction":
			return -1, sNetworkDirection
		}
	}
	return -1, -1
}

// walk follows key, one or more dot-separated segments, from trie node n.
// It returns the node reached (-1 if none) and the typed slot reached (-1
// if none); at most one of them is set. A key without a dot (the nested
// form) costs one child lookup; dots are looked for only on a miss.
func walk(n int, key []byte) (node, slot int) {
	if node, slot = child(n, key); node >= 0 || slot >= 0 {
		return node, slot
	}
	for {
		dot := -1
		for j, c := range key {
			if c == '.' {
				dot = j
				break
			}
		}
		if dot < 0 {
			return child(n, key)
		}
		if n, _ = child(n, key[:dot]); n < 0 {
			return -1, -1
		}
		key = key[dot+1:]
	}
}

// The decoder's fast lookup of one key under a trie node: a table indexed
// by the node and a hash of the key's first and last bytes, each entry
// holding the key's first 16 bytes as two little-endian words with their
// masks, so that a hit costs two loads and compares and no call. The hash
// has no collision between the keys of one node today
// (TestKeyTableComplete); should a new typed path collide, its node is
// marked incomplete and its keys go through child as before.
const keyHashBits = 5

type keyEntry struct {
	w0, w1 uint64 // the key's bytes 0-7 and 8-15, zero-padded
	m0, m1 uint64 // the masks of those bytes
	key    string
	node   int8 // the child node, or -1
	slot   int8 // the typed slot, or -1
}

var (
	keyTable     [nNodes << keyHashBits]keyEntry
	nodeComplete [nNodes]bool // every key of the node is in keyTable
)

func keyHash(node int, first, last byte) int {
	return node<<keyHashBits | int((first+9*last)&(1<<keyHashBits-1))
}

func init() {
	type key struct {
		node     int
		seg      string
		cn, slot int
	}
	var keys []key
	seen := map[key]bool{}
	for id := range slots {
		node := nRoot
		segs := strings.Split(slots[id].path, ".")
		for j, seg := range segs {
			k := key{node: node, seg: seg, cn: -1, slot: id}
			if j < len(segs)-1 {
				k.cn, _ = child(node, []byte(seg))
				k.slot = -1
			}
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
			node = k.cn
		}
	}
	count := map[int]int{}
	for _, k := range keys {
		count[keyHash(k.node, k.seg[0], k.seg[len(k.seg)-1])]++
	}
	for n := range nodeComplete {
		nodeComplete[n] = true
	}
	for _, k := range keys {
		h := keyHash(k.node, k.seg[0], k.seg[len(k.seg)-1])
		if count[h] > 1 {
			nodeComplete[k.node] = false
			continue
		}
		var b [16]byte
		copy(b[:], k.seg)
		ent := keyEntry{key: k.seg, node: int8(k.cn), slot: int8(k.slot)}
		ent.w0 = binary.LittleEndian.Uint64(b[:8])
		ent.w1 = binary.LittleEndian.Uint64(b[8:])
		for i := range min(len(k.seg), 16) {
			if i < 8 {
				ent.m0 |= 0xff << (8 * i)
			} else {
				ent.m1 |= 0xff << (8 * (i - 8))
			}
		}
		keyTable[h] = ent
	}
}

// lookup returns the trie node and typed slot (each -1 if none) of the
// unescaped key buf[ks:ke] under node, as walk does.
func lookup(node int, buf []byte, ks, ke int) (int, int) {
	if ke > ks {
		ent := &keyTable[keyHash(node, buf[ks], buf[ke-1])]
		if len(ent.key) == ke-ks {
			if ks+16 <= len(buf) {
				if load64(buf, ks)&ent.m0 == ent.w0 && load64(buf, ks+8)&ent.m1 == ent.w1 &&
					(ke-ks <= 16 || string(buf[ks+16:ke]) == ent.key[16:]) {
					return int(ent.node), int(ent.slot)
				}
			} else if string(buf[ks:ke]) == ent.key {
				return int(ent.node), int(ent.slot)
			}
		}
	}
	return lookupMiss(node, buf[ks:ke])
}

// lookupMiss is lookup for a key not in keyTable: a dotted key, a key of
// an incomplete node, or no typed path at all.
func lookupMiss(node int, key []byte) (int, int) {
	if nodeComplete[node] && bytes.IndexByte(key, '.') < 0 {
		return -1, -1
	}
	return walk(node, key)
}
