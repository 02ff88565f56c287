package files

import "testing"

func TestEventJSON(t *testing.T) {
	ev := NewEvent("/Users/alice/Library/LaunchAgents/com.evil.plist", Created, 1715678493417000000,
		Entry{Size: 431, HasSize: true, Inode: 12884987, HasInode: true, Header: []byte("<?xml version=\"1")})
	want := `{"@timestamp":"2024-05-14T09:21:33.417Z","event":{"action":"modification","category":["file"],"dataset":"endpoint.events.file","kind":"event","module":"endpoint","outcome":"success","type":["creation"]},"file":{"Ext":{"header_bytes":"3c3f786d6c2076657273696f6e3d2231"},"directory":"/Users/alice/Library/LaunchAgents","extension":"plist","inode":"12884987","name":"com.evil.plist","path":"/Users/alice/Library/LaunchAgents/com.evil.plist","size":431}}`
	if got := string(ev.AppendJSON(nil)); got != want {
		t.Errorf("JSON:\n got %s\nwant %s", got, want)
	}
	ren := NewEvent("/Library/LaunchDaemons/b.plist", Renamed, 1, Entry{Original: "/Library/LaunchDaemons/.b.plist.tmp"})
	if ren.Event.Action != "rename" || ren.Event.Type[0] != "change" {
		t.Errorf("rename event = %+v", ren.Event)
	}
	if got := ren.Fields.Get("file.Ext.original.path").Str; got != "/Library/LaunchDaemons/.b.plist.tmp" {
		t.Errorf("original path = %q", got)
	}
	if got := ren.Fields.Get("file.Ext.original.extension").Str; got != "tmp" {
		t.Errorf("original extension = %q", got)
	}
}

func TestExtension(t *testing.T) {
	for name, want := range map[string]string{"a.plist": "plist", ".plist": "plist", "x.tar.gz": "gz", "noext": "", "dot.": "", "": ""} {
		if got := extension(name); got != want {
			t.Errorf("extension(%q) = %q, want %q", name, got, want)
		}
	}
}
