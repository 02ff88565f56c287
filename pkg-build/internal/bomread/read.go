package bomread

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
)

// Entry is one path of the bill of materials: the fields of bom.Entry, so
// that one converts to the other.
type Entry struct {
	Path     string // "." or "./Library/..."
	Mode     uint32 // st_mode as stored (16 bits)
	UID      uint32
	GID      uint32
	Mtime    uint32 // seconds since the epoch
	Size     uint32
	Checksum uint32 // cksum(1) CRC of the contents or of the link target
	LinkName string // symlinks only
}

// The layout (bomutils src/bom.h), kept apart from the writer's constants
// so that a wrong one in pkg-build/bom shows as a failed read.
const (
	typeMask    = 0o170000 // file type bits of st_mode
	typeDir     = 0o040000
	typeRegular = 0o100000
	typeSymlink = 0o120000

	kindFile = 1 // BOMPathInfo2.type
	kindDir  = 2
	kindLink = 3

	treeSize    = 21 // BOMTree: "tree", version, child, blockSize, pathCount, 1 byte
	pathsHeader = 12 // BOMPaths: isLeaf u16, count u16, forward u32, backward u32
	info2Size   = 31 // BOMPathInfo2 without the link name
)

// File is a decoded BOMStore.
type File struct {
	Vars          []string // variable names, in file order
	NumberOfPaths uint32   // BomInfo's count (mkbom: paths + 1)
	PathCount     uint32   // the Paths tree's count
	Entries       []Entry  // in the order of the Paths leaves
}

// Read decodes a BOMStore as bomutils' lsbom does, with every offset,
// length and index bounds-checked and the leaf chain and parent links
// checked for cycles.
func Read(b []byte) (*File, error) {
	if len(b) < 32 || string(b[:8]) != "BOMStore" {
		return nil, errors.New("bom: not a BOMStore")
	}
	if v := be32(b[8:]); v != 1 {
		return nil, fmt.Errorf("bom: version %d, want 1", v)
	}
	indexOff, indexLen := be32(b[16:]), be32(b[20:])
	varsOff, varsLen := be32(b[24:]), be32(b[28:])
	index, err := span(b, indexOff, indexLen, "block table")
	if err != nil {
		return nil, err
	}
	varsb, err := span(b, varsOff, varsLen, "variables")
	if err != nil {
		return nil, err
	}
	if len(index) < 4 {
		return nil, errors.New("bom: block table too short")
	}
	nBlocks := be32(index)
	if uint64(nBlocks)*8 > uint64(len(index)-4) {
		return nil, fmt.Errorf("bom: block table claims %d blocks in %d bytes", nBlocks, len(index))
	}
	r := reader{b: b, index: index[4 : 4+8*int(nBlocks)]}

	f := &File{}
	vars := map[string]uint32{}
	if len(varsb) < 4 {
		return nil, errors.New("bom: variables too short")
	}
	nVars := be32(varsb)
	p := varsb[4:]
	for i := uint32(0); i < nVars; i++ {
		if len(p) < 5 || len(p) < 5+int(p[4]) {
			return nil, fmt.Errorf("bom: variable %d truncated", i)
		}
		name := string(p[5 : 5+int(p[4])])
		vars[name] = be32(p)
		f.Vars = append(f.Vars, name)
		p = p[5+int(p[4]):]
	}

	if id, ok := vars["BomInfo"]; ok {
		info, err := r.block(id, 12)
		if err != nil {
			return nil, fmt.Errorf("bom: BomInfo: %w", err)
		}
		f.NumberOfPaths = be32(info[4:])
	}
	treeID, ok := vars["Paths"]
	if !ok {
		return nil, errors.New(`bom: no "Paths" variable`)
	}
	t, err := r.block(treeID, treeSize)
	if err != nil {
		return nil, fmt.Errorf("bom: Paths tree: %w", err)
	}
	if string(t[:4]) != "tree" {
		return nil, fmt.Errorf("bom: Paths tree magic %q", t[:4])
	}
	f.PathCount = be32(t[16:])

	// Descend to the first leaf through indices[0] of branch nodes.
	node, err := r.paths(be32(t[8:]))
	if err != nil {
		return nil, err
	}
	for depth := 0; !node.leaf; depth++ {
		if depth > 32 || node.count == 0 {
			return nil, errors.New("bom: Paths tree has no reachable leaf")
		}
		if node, err = r.paths(be32(node.indices)); err != nil {
			return nil, err
		}
	}

	type named struct {
		parent uint32
		name   string
	}
	names := map[uint32]named{}
	type pending struct {
		id uint32
		e  Entry
	}
	var list []pending
	seenLeaf := map[uint32]bool{}
	for {
		for i := 0; i < node.count; i++ {
			idx := node.indices[8*i:]
			info1, err := r.block(be32(idx), 8)
			if err != nil {
				return nil, fmt.Errorf("bom: BOMPathInfo1: %w", err)
			}
			file, err := r.block(be32(idx[4:]), 5)
			if err != nil {
				return nil, fmt.Errorf("bom: BOMFile: %w", err)
			}
			name, _, _ := strings.Cut(string(file[4:]), "\x00")
			id := be32(info1)
			if _, dup := names[id]; dup || id == 0 {
				return nil, fmt.Errorf("bom: path id %d repeated or zero", id)
			}
			names[id] = named{parent: be32(file), name: name}
			info2, err := r.block(be32(info1[4:]), info2Size)
			if err != nil {
				return nil, fmt.Errorf("bom: BOMPathInfo2 of %q: %w", name, err)
			}
			e := Entry{
				Mode:     uint32(be16(info2[4:])),
				UID:      be32(info2[6:]),
				GID:      be32(info2[10:]),
				Mtime:    be32(info2[14:]),
				Size:     be32(info2[18:]),
				Checksum: be32(info2[23:]),
			}
			if info2[0] == kindLink {
				n := be32(info2[27:])
				if uint64(n) > uint64(len(info2)-info2Size) {
					return nil, fmt.Errorf("bom: link name of %q beyond its block", name)
				}
				e.LinkName, _, _ = strings.Cut(string(info2[info2Size:info2Size+int(n)]), "\x00")
			}
			if want := map[uint8]uint32{kindFile: typeRegular, kindDir: typeDir, kindLink: typeSymlink}[info2[0]]; want != 0 && e.Mode&typeMask != want {
				return nil, fmt.Errorf("bom: %q: type %d disagrees with mode %#o", name, info2[0], e.Mode)
			}
			list = append(list, pending{id: id, e: e})
		}
		seenLeaf[node.id] = true
		if node.forward == 0 {
			break
		}
		if seenLeaf[node.forward] {
			return nil, errors.New("bom: Paths leaves form a cycle")
		}
		if node, err = r.paths(node.forward); err != nil {
			return nil, err
		}
		if !node.leaf {
			return nil, errors.New("bom: Paths leaf chain reaches a branch")
		}
	}

	for _, p := range list {
		n := names[p.id]
		full := n.name
		for hops, parent := 0, n.parent; parent != 0; hops++ {
			if hops > len(names) {
				return nil, fmt.Errorf("bom: parent cycle at %q", n.name)
			}
			pn, ok := names[parent]
			if !ok {
				return nil, fmt.Errorf("bom: %q: parent id %d not in the tree", n.name, parent)
			}
			full = pn.name + "/" + full
			parent = pn.parent
		}
		p.e.Path = full
		f.Entries = append(f.Entries, p.e)
	}
	return f, nil
}

type reader struct {
	b     []byte
	index []byte // 8 bytes per block: address, length
}

func (r reader) block(id uint32, minLen int) ([]byte, error) {
	if id == 0 || uint64(id) >= uint64(len(r.index)/8) {
		return nil, fmt.Errorf("block %d out of range", id)
	}
	addr, n := be32(r.index[8*id:]), be32(r.index[8*id+4:])
	b, err := span(r.b, addr, n, fmt.Sprintf("block %d", id))
	if err != nil {
		return nil, err
	}
	if len(b) < minLen {
		return nil, fmt.Errorf("block %d: %d bytes, want at least %d", id, len(b), minLen)
	}
	return b, nil
}

type pathsNodeView struct {
	id                uint32
	leaf              bool
	count             int
	forward, backward uint32
	indices           []byte
}

func (r reader) paths(id uint32) (pathsNodeView, error) {
	b, err := r.block(id, pathsHeader)
	if err != nil {
		return pathsNodeView{}, fmt.Errorf("bom: BOMPaths: %w", err)
	}
	n := pathsNodeView{
		id:       id,
		leaf:     be16(b) != 0,
		count:    int(be16(b[2:])),
		forward:  be32(b[4:]),
		backward: be32(b[8:]),
	}
	if len(b) < pathsHeader+8*n.count {
		return pathsNodeView{}, fmt.Errorf("bom: BOMPaths block %d: %d indices in %d bytes", id, n.count, len(b))
	}
	n.indices = b[pathsHeader : pathsHeader+8*n.count]
	return n, nil
}

func span(b []byte, off, n uint32, what string) ([]byte, error) {
	if uint64(off)+uint64(n) > uint64(len(b)) {
		return nil, fmt.Errorf("bom: %s [%d, +%d) beyond end of file (%d bytes)", what, off, n, len(b))
	}
	return b[off : off+n], nil
}

func be32(b []byte) uint32 { return binary.BigEndian.Uint32(b) }
func be16(b []byte) uint16 { return binary.BigEndian.Uint16(b) }
