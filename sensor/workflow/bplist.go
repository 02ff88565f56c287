package workflow

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// checkBinary bounds the container nesting of a binary property list
// ("bplist00") before the plist decoder, which recurses once per level,
// reads it. Format (CoreFoundation CFBinaryPList.c): objects, an offset
// table, and a 32-byte trailer holding the offset and reference sizes, the
// object count, the top object and the offset table's position. An object
// starts with a marker byte: the high nibble its type (0xA array, 0xB
// ordered set, 0xC set, 0xD dict), the low nibble its count, 0xF meaning
// that an integer object (marker 0x1n, 2^n bytes) follows with the count.
// Arrays and sets hold count object references; dicts count key references
// then count value references.
//
// The walk is iterative and revisits an object only when it is reached
// deeper than before, so its cost is bounded by maxDepth × references; a
// cycle runs past maxDepth and is refused.
func checkBinary(data []byte, maxDepth int) error {
	const trailerSize = 32
	if len(data) < 8+trailerSize {
		return errors.New("workflow: binary plist: too short")
	}
	tr := data[len(data)-trailerSize:]
	offSize, refSize := int(tr[6]), int(tr[7])
	numObjects := binary.BigEndian.Uint64(tr[8:16])
	top := binary.BigEndian.Uint64(tr[16:24])
	tableAt := binary.BigEndian.Uint64(tr[24:32])
	limit := uint64(len(data) - trailerSize)
	switch {
	case offSize < 1 || offSize > 8 || refSize < 1 || refSize > 8:
		return fmt.Errorf("workflow: binary plist: offset size %d, reference size %d", offSize, refSize)
	case numObjects == 0 || numObjects > limit || top >= numObjects:
		return fmt.Errorf("workflow: binary plist: %d objects, top object %d", numObjects, top)
	case tableAt < 8 || tableAt > limit || numObjects*uint64(offSize) > limit-tableAt:
		return fmt.Errorf("workflow: binary plist: offset table at %d out of bounds", tableAt)
	}
	n := int(numObjects)
	offset := func(i uint64) (uint64, error) {
		o := readUint(data[tableAt+i*uint64(offSize):], offSize)
		if o < 8 || o >= tableAt {
			return 0, fmt.Errorf("workflow: binary plist: object %d at %d out of bounds", i, o)
		}
		return o, nil
	}
	deepest := make([]int8, n) // 0: not reached; else the deepest level reached at, capped
	type item struct {
		obj   uint64
		depth int
	}
	stack := []item{{top, 1}}
	for len(stack) > 0 {
		it := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if it.depth > maxDepth {
			return fmt.Errorf("workflow: binary plist: nesting deeper than %d", maxDepth)
		}
		if int(deepest[it.obj]) >= it.depth {
			continue
		}
		deepest[it.obj] = int8(min(it.depth, 127))
		at, err := offset(it.obj)
		if err != nil {
			return err
		}
		marker := data[at]
		kind := marker >> 4
		if kind != 0xA && kind != 0xB && kind != 0xC && kind != 0xD {
			continue // a scalar: no references
		}
		count := uint64(marker & 0x0F)
		p := at + 1
		if count == 0x0F {
			if p >= tableAt || data[p]>>4 != 0x1 {
				return fmt.Errorf("workflow: binary plist: object %d: bad count", it.obj)
			}
			w := uint64(1) << (data[p] & 0x0F)
			if w > 8 || p+1+w > tableAt {
				return fmt.Errorf("workflow: binary plist: object %d: bad count", it.obj)
			}
			count = readUint(data[p+1:], int(w))
			p += 1 + w
		}
		refs := count
		if kind == 0xD {
			refs = 2 * count
		}
		if count > limit || refs*uint64(refSize) > tableAt-p {
			return fmt.Errorf("workflow: binary plist: object %d: %d references out of bounds", it.obj, refs)
		}
		for i := uint64(0); i < refs; i++ {
			child := readUint(data[p+i*uint64(refSize):], refSize)
			if child >= numObjects {
				return fmt.Errorf("workflow: binary plist: object %d: reference %d out of range", it.obj, child)
			}
			if int(deepest[child]) < it.depth+1 {
				stack = append(stack, item{child, it.depth + 1})
			}
		}
	}
	return nil
}

// readUint reads a big-endian unsigned integer of size bytes (1–8).
func readUint(b []byte, size int) uint64 {
	var v uint64
	for i := 0; i < size; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v
}
