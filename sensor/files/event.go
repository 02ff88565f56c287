package files

import (
	"encoding/hex"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// HeaderBytes is how many leading bytes of a file file.Ext.header_bytes
// holds: 16, as Elastic Defend documents the field ("First 16 bytes of
// file used to check file integrity", endpoint-package
// custom_schemas/custom_file.yml), in lower-case hex as its sample events
// show.
const HeaderBytes = 16

// The event.type and event.action values, after Elastic Defend's macOS
// file events (endpoint-package custom_documentation/doc/endpoint/file/
// macos/): there is no macOS "creation" action; a file written, new or
// not, is a "modification" (Elastic's macOS rules named *_creation test
// event.action == "modification"); event.type says whether it is new.
var (
	catFile      = []string{"file"}
	typeCreation = []string{"creation"}
	typeChange   = []string{"change"}
	typeDeletion = []string{"deletion"}
)

// Actions.
const (
	ActionModification = "modification"
	ActionRename       = "rename"
	ActionDeletion     = "deletion"
)

// Op is what happened to an entry, as an event reports it.
type Op int

// The operations.
const (
	Created Op = iota // event.type creation, event.action modification
	Changed           // event.type change, event.action modification
	Renamed           // event.type change, event.action rename
	Deleted           // event.type deletion, event.action deletion
)

// Entry is what is known of an entry when its event is built.
type Entry struct {
	Size     int64  // file.size, when HasSize
	HasSize  bool   // a regular file whose size was read
	Inode    uint64 // file.inode, when HasInode
	HasInode bool
	Header   []byte // the first bytes (file.Ext.header_bytes)
	Original string // file.Ext.original.path of a rename
}

// NewEvent builds the event the Watcher emits for path: the same shape,
// for tests and tools that need file events of a Mac's paths.
func NewEvent(path string, op Op, ts int64, e Entry) *ecs.Event {
	typ, action := typeChange, ActionModification
	switch op {
	case Created:
		typ = typeCreation
	case Renamed:
		action = ActionRename
	case Deleted:
		typ, action = typeDeletion, ActionDeletion
	}
	ev := &ecs.Event{
		Timestamp: ts,
		Has:       ecs.HasTimestamp,
		Event: ecs.EventMeta{
			Kind:     "event",
			Category: catFile,
			Type:     typ,
			Action:   action,
			Dataset:  "endpoint.events.file",
			Module:   "endpoint",
			Outcome:  "success",
		},
	}
	name := filepath.Base(path)
	fs := make(ecs.Fields, 0, 8)
	fs.Set("file.path", ecs.String(path))
	fs.Set("file.name", ecs.String(name))
	fs.Set("file.directory", ecs.String(filepath.Dir(path)))
	if ext := extension(name); ext != "" {
		fs.Set("file.extension", ecs.String(ext))
	}
	if e.HasSize {
		fs.Set("file.size", ecs.Int(e.Size))
	}
	if e.HasInode {
		fs.Set("file.inode", ecs.String(strconv.FormatUint(e.Inode, 10)))
	}
	if len(e.Header) > 0 {
		fs.Set("file.Ext.header_bytes", ecs.String(hex.EncodeToString(e.Header)))
	}
	if e.Original != "" {
		fs.Set("file.Ext.original.path", ecs.String(e.Original))
		fs.Set("file.Ext.original.name", ecs.String(filepath.Base(e.Original)))
		if ext := extension(filepath.Base(e.Original)); ext != "" {
			fs.Set("file.Ext.original.extension", ecs.String(ext))
		}
	}
	ev.Fields = fs
	return ev
}

// entryOf describes an entry from its Lstat (nil when it is gone).
func entryOf(fi os.FileInfo, header []byte, original string) Entry {
	e := Entry{Header: header, Original: original}
	if fi != nil {
		if fi.Mode().IsRegular() {
			e.Size, e.HasSize = fi.Size(), true
		}
		e.Inode, e.HasInode = inode(fi)
	}
	return e
}

// extension is ECS file.extension: the part after the last dot, without
// the dot ("plist" for com.x.plist and for .plist); "" when there is none.
func extension(name string) string {
	i := strings.LastIndexByte(name, '.')
	if i < 0 || i == len(name)-1 {
		return ""
	}
	return name[i+1:]
}

// readHeader returns the first n bytes of a regular file, opened without
// following a link and without blocking on a FIFO; nil when it cannot be
// read or is not a regular file.
func readHeader(path string, n int) []byte {
	if n <= 0 {
		return nil
	}
	f, err := os.OpenFile(path, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return nil
	}
	buf := make([]byte, n)
	k, _ := io.ReadFull(f, buf)
	return buf[:k]
}
