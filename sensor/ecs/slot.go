package ecs

import (
	"bytes"
	"encoding/binary"
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
// encoder, the decoder, the accessors and Clone address typed fields
// through this table, so that one loop serves every field;
// TestSlotsMatchStruct checks it against the struct by reflection.
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

// The slot ids (sTimestamp, ...), the slots table, slotOrder, slotOf and
// the trie of path segments (the nodes nRoot, ... and child) are generated
// from the ecs tags of Event into fields_gen.go. The trie lets the decoder
// find a typed field while it descends nested objects without building
// the dotted path: its nodes are the proper prefixes of typed paths, and
// child maps a node and one segment to the child node or typed slot, as
// switches (a binary search over constants, no hashing).

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
