package bom

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"path"
	"sort"
	"strings"
)

// File type bits of Entry.Mode (st_mode).
const (
	typeMask    = 0o170000
	typeDir     = 0o040000
	typeRegular = 0o100000
	typeSymlink = 0o120000
)

// BOMPathInfo2.type values (bomutils src/bom.h).
const (
	kindFile = 1
	kindDir  = 2
	kindLink = 3
)

const (
	headerSize   = 512
	leafCapacity = 256 // paths per leaf, as mkbom
	treeSize     = 21  // BOMTree: "tree", version, child, blockSize, pathCount, 1 byte
	pathsHeader  = 12  // BOMPaths: isLeaf u16, count u16, forward u32, backward u32
	info2Size    = 31  // BOMPathInfo2 without the link name
	architecture = 3   // what mkbom writes; its meaning is unknown
)

// Entry is one path of the bill of materials.
type Entry struct {
	Path     string // "." or "./Library/..."
	Mode     uint32 // st_mode: type bits | permission bits (16 bits are stored)
	UID      uint32
	GID      uint32
	Mtime    uint32 // seconds since the epoch
	Size     uint32 // regular files and symlinks; 0 for directories
	Checksum uint32 // Checksum of the contents (files) or of the link target
	LinkName string // symlinks only
}

func (e Entry) kind() (uint8, error) {
	switch e.Mode & typeMask {
	case typeRegular:
		return kindFile, nil
	case typeDir:
		return kindDir, nil
	case typeSymlink:
		return kindLink, nil
	}
	return 0, fmt.Errorf("bom: %s: unsupported file type %#o", e.Path, e.Mode&typeMask)
}

// Write returns the BOMStore for entries, which must include "." and the
// parent directory of every other path. Their order does not matter.
func Write(entries []Entry) ([]byte, error) {
	byPath := make(map[string]*Entry, len(entries))
	children := make(map[string][]string)
	for i := range entries {
		e := &entries[i]
		if err := checkPath(e.Path); err != nil {
			return nil, err
		}
		if e.Mode > 0xffff {
			return nil, fmt.Errorf("bom: %s: mode %#o does not fit 16 bits", e.Path, e.Mode)
		}
		k, err := e.kind()
		if err != nil {
			return nil, err
		}
		if (k == kindLink) != (e.LinkName != "") {
			return nil, fmt.Errorf("bom: %s: a link name goes with, and only with, a symlink", e.Path)
		}
		if strings.IndexByte(e.LinkName, 0) >= 0 {
			return nil, fmt.Errorf("bom: %s: link name contains NUL", e.Path)
		}
		if _, dup := byPath[e.Path]; dup {
			return nil, fmt.Errorf("bom: %s: listed twice", e.Path)
		}
		byPath[e.Path] = e
		if e.Path != "." {
			dir, name := path.Split(e.Path)
			children[strings.TrimSuffix(dir, "/")] = append(children[strings.TrimSuffix(dir, "/")], name)
		}
	}
	root, ok := byPath["."]
	if !ok {
		return nil, errors.New(`bom: no "." entry`)
	}
	if root.Mode&typeMask != typeDir {
		return nil, errors.New(`bom: "." is not a directory`)
	}
	for dir := range children {
		d, ok := byPath[dir]
		if !ok {
			return nil, fmt.Errorf("bom: %s: parent directory not listed", dir)
		}
		if d.Mode&typeMask != typeDir {
			return nil, fmt.Errorf("bom: %s: parent is not a directory", dir)
		}
		sort.Strings(children[dir])
	}

	// Breadth-first order gives ids 1..n; a node's parent id is known
	// before the node is reached.
	type node struct {
		e      *Entry
		name   string
		parent uint32
	}
	order := []node{{e: root, name: ".", parent: 0}}
	for i := 0; i < len(order); i++ {
		p := order[i].e.Path
		for _, name := range children[p] {
			order = append(order, node{e: byPath[p+"/"+name], name: name, parent: uint32(i + 1)})
		}
	}
	if len(order) != len(entries) {
		// Unreachable: every path's parent is listed and paths are clean.
		return nil, fmt.Errorf("bom: %d of %d entries reachable from \".\"", len(order), len(entries))
	}

	var s store
	info := make([]byte, 12+16)
	binary.BigEndian.PutUint32(info[0:], 1) // version
	binary.BigEndian.PutUint32(info[4:], uint32(len(order)+1))
	binary.BigEndian.PutUint32(info[8:], 1) // one (zero) BOMInfoEntry
	infoBlock := s.add(info)

	type pair struct{ info1, file uint32 }
	pairs := make([]pair, len(order))
	for i, n := range order {
		k, _ := n.e.kind()
		info2 := make([]byte, info2Size, info2Size+len(n.e.LinkName)+1)
		info2[0] = k
		info2[1] = 1
		binary.BigEndian.PutUint16(info2[2:], architecture)
		binary.BigEndian.PutUint16(info2[4:], uint16(n.e.Mode))
		binary.BigEndian.PutUint32(info2[6:], n.e.UID)
		binary.BigEndian.PutUint32(info2[10:], n.e.GID)
		binary.BigEndian.PutUint32(info2[14:], n.e.Mtime)
		binary.BigEndian.PutUint32(info2[18:], n.e.Size)
		info2[22] = 1
		binary.BigEndian.PutUint32(info2[23:], n.e.Checksum)
		if n.e.LinkName != "" {
			binary.BigEndian.PutUint32(info2[27:], uint32(len(n.e.LinkName)+1))
			info2 = append(append(info2, n.e.LinkName...), 0)
		}
		info2Block := s.add(info2)
		info1 := make([]byte, 8)
		binary.BigEndian.PutUint32(info1[0:], uint32(i+1))
		binary.BigEndian.PutUint32(info1[4:], info2Block)
		pairs[i].info1 = s.add(info1)
		file := make([]byte, 4, 4+len(n.name)+1)
		binary.BigEndian.PutUint32(file, n.parent)
		file = append(append(file, n.name...), 0)
		pairs[i].file = s.add(file)
	}

	// Leaves of up to 256 paths, chained forward and backward.
	nLeaves := (len(pairs) + leafCapacity - 1) / leafCapacity
	leafIDs := make([]uint32, nLeaves)
	for i := range leafIDs {
		leafIDs[i] = s.add(nil)
	}
	for i, id := range leafIDs {
		chunk := pairs[i*leafCapacity : min((i+1)*leafCapacity, len(pairs))]
		var fwd, back uint32
		if i+1 < nLeaves {
			fwd = leafIDs[i+1]
		}
		if i > 0 {
			back = leafIDs[i-1]
		}
		b := pathsNode(true, len(chunk), fwd, back)
		for _, p := range chunk {
			b = binary.BigEndian.AppendUint32(b, p.info1)
			b = binary.BigEndian.AppendUint32(b, p.file)
		}
		s.set(id, b)
	}
	top := leafIDs[0]
	if nLeaves > 1 {
		// A branch: per leaf, (leaf, last BOMFile of that leaf) as mkbom.
		b := pathsNode(false, nLeaves, 0, 0)
		for i, id := range leafIDs {
			last := pairs[min((i+1)*leafCapacity, len(pairs))-1]
			b = binary.BigEndian.AppendUint32(b, id)
			b = binary.BigEndian.AppendUint32(b, last.file)
		}
		top = s.add(b)
	}
	pathsTree := s.add(tree(top, 4096, uint32(len(order))))
	hlTree := s.add(tree(s.add(pathsNode(true, 0, 0, 0)), 4096, 0))
	vTree := s.add(tree(s.add(pathsNode(true, 0, 0, 0)), 128, 0))
	vindex := make([]byte, 13)
	binary.BigEndian.PutUint32(vindex[0:], 1)
	binary.BigEndian.PutUint32(vindex[4:], vTree)
	vindexBlock := s.add(vindex)
	size64Tree := s.add(tree(s.add(pathsNode(true, 0, 0, 0)), 4096, 0))

	vars := []struct {
		name  string
		block uint32
	}{
		{"BomInfo", infoBlock},
		{"Paths", pathsTree},
		{"HLIndex", hlTree},
		{"VIndex", vindexBlock},
		{"Size64", size64Tree},
	}
	varBytes := binary.BigEndian.AppendUint32(nil, uint32(len(vars)))
	for _, v := range vars {
		varBytes = binary.BigEndian.AppendUint32(varBytes, v.block)
		varBytes = append(varBytes, byte(len(v.name)))
		varBytes = append(varBytes, v.name...)
	}
	return s.bytes(varBytes)
}

func checkPath(p string) error {
	if p == "." {
		return nil
	}
	rest, ok := strings.CutPrefix(p, "./")
	if !ok || rest == "" || path.Clean(rest) != rest || rest == ".." || strings.HasPrefix(rest, "../") || strings.HasPrefix(rest, "/") || strings.IndexByte(rest, 0) >= 0 {
		return fmt.Errorf("bom: path %q: want \".\" or a clean \"./...\" path", p)
	}
	return nil
}

func pathsNode(leaf bool, count int, forward, backward uint32) []byte {
	b := make([]byte, pathsHeader, pathsHeader+8*count)
	if leaf {
		binary.BigEndian.PutUint16(b[0:], 1)
	}
	binary.BigEndian.PutUint16(b[2:], uint16(count))
	binary.BigEndian.PutUint32(b[4:], forward)
	binary.BigEndian.PutUint32(b[8:], backward)
	return b
}

func tree(child, blockSize, pathCount uint32) []byte {
	b := make([]byte, treeSize)
	copy(b, "tree")
	binary.BigEndian.PutUint32(b[4:], 1)
	binary.BigEndian.PutUint32(b[8:], child)
	binary.BigEndian.PutUint32(b[12:], blockSize)
	binary.BigEndian.PutUint32(b[16:], pathCount)
	return b
}

// store collects blocks; block 0 is the null block.
type store struct{ blocks [][]byte }

func (s *store) add(b []byte) uint32 {
	if len(s.blocks) == 0 {
		s.blocks = append(s.blocks, nil)
	}
	s.blocks = append(s.blocks, b)
	return uint32(len(s.blocks) - 1)
}

func (s *store) set(id uint32, b []byte) { s.blocks[id] = b }

// bytes lays the file out as mkbom's BOMStorage::write: header, variables,
// block data, block table, free list.
func (s *store) bytes(vars []byte) ([]byte, error) {
	var data bytes.Buffer
	table := binary.BigEndian.AppendUint32(nil, uint32(len(s.blocks)))
	nonNull := uint32(0)
	base := headerSize + len(vars)
	for i, b := range s.blocks {
		if i == 0 || len(b) == 0 {
			table = binary.BigEndian.AppendUint32(table, 0)
			table = binary.BigEndian.AppendUint32(table, 0)
			continue
		}
		nonNull++
		table = binary.BigEndian.AppendUint32(table, uint32(base+data.Len()))
		table = binary.BigEndian.AppendUint32(table, uint32(len(b)))
		data.Write(b)
	}
	freeList := make([]byte, 4+2*8) // count 0, two null pointers (mkbom)
	total := base + data.Len() + len(table) + len(freeList)
	if uint64(total) > 1<<32-1 {
		return nil, fmt.Errorf("bom: %d bytes does not fit 32-bit offsets", total)
	}
	out := make([]byte, headerSize, total)
	copy(out, "BOMStore")
	binary.BigEndian.PutUint32(out[8:], 1)
	binary.BigEndian.PutUint32(out[12:], nonNull)
	binary.BigEndian.PutUint32(out[16:], uint32(base+data.Len()))
	binary.BigEndian.PutUint32(out[20:], uint32(len(table)+len(freeList)))
	binary.BigEndian.PutUint32(out[24:], headerSize)
	binary.BigEndian.PutUint32(out[28:], uint32(len(vars)))
	out = append(out, vars...)
	out = append(out, data.Bytes()...)
	out = append(out, table...)
	out = append(out, freeList...)
	return out, nil
}
