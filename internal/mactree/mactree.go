// Package mactree builds, in a folder on any OS, the part of a Mac's file
// tree that the persistence file watcher (sensor/files) watches: the
// tests of sensor/files and tools/filescost measure on it. It is test and
// measurement scaffolding, not part of the product.
package mactree

import (
	"fmt"
	"os"
	"path/filepath"
)

// Tree writes under Root and counts the entries it creates in watched
// folders. The first error stops every later write and is kept in Err.
type Tree struct {
	Root    string
	Entries int
	Err     error
}

// plist is the content of every entry: a minimal XML property list.
var plist = []byte("<?xml version=\"1.0\"?>\n<plist/>\n")

// Dir creates Root/dir and the named entries in it.
func (t *Tree) Dir(dir string, names ...string) {
	if t.Err != nil {
		return
	}
	d := filepath.Join(t.Root, dir)
	if t.Err = os.MkdirAll(d, 0o755); t.Err != nil {
		return
	}
	for _, n := range names {
		if t.Err = os.WriteFile(filepath.Join(d, n), plist, 0o644); t.Err != nil {
			return
		}
		t.Entries++
	}
}

// User writes the dslocal record of one user (XML; the real ones are
// binary, which sensor/files.ParseUser reads the same way).
func (t *Tree) User(name string, uid int, home string) {
	if t.Err != nil {
		return
	}
	t.Err = os.WriteFile(filepath.Join(t.Root, UsersDir, name+".plist"), UserRecord(name, uid, home), 0o600)
}

// UsersDir is the dslocal folder of user records, under Root.
const UsersDir = "private/var/db/dslocal/nodes/Default/users"

// System creates what every Mac has: the periodic scripts, emond's rules,
// the cron tabs folder, the dslocal users folder, root's LaunchAgents, and
// /etc, /var and /usr/lib/cron as symbolic links into /private.
func (t *Tree) System() {
	t.Dir("private/etc/periodic/daily", "110.clean-tmps", "130.clean-msgs", "140.clean-rwho", "199.rotate-fax", "310.accounting", "400.status-disks", "420.status-network", "430.status-rwho", "999.local")
	t.Dir("private/etc/periodic/weekly", "310.locate", "320.whatis", "999.local")
	t.Dir("private/etc/periodic/monthly", "199.rotate-fax", "200.accounting", "999.local")
	t.Dir("private/etc/emond.d/rules", "SampleRules.plist")
	t.Dir("private/var/at/tabs")
	t.Dir(UsersDir)
	t.Dir("private/var/root/Library/LaunchAgents")
	for _, l := range [][2]string{{"private/etc", "etc"}, {"private/var", "var"}, {"../../private/var/at", "usr/lib/cron"}} {
		if t.Err != nil {
			return
		}
		if t.Err = os.MkdirAll(filepath.Dir(filepath.Join(t.Root, l[1])), 0o755); t.Err == nil {
			t.Err = os.Symlink(l[0], filepath.Join(t.Root, l[1]))
		}
	}
}

// Plists returns n entry names prefix.00.plist, prefix.01.plist, ….
func Plists(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s.%02d.plist", prefix, i)
	}
	return out
}

// UserRecord is a dslocal user record as an XML property list.
func UserRecord(name string, uid int, home string) []byte {
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>name</key><array><string>%s</string></array>
<key>uid</key><array><string>%d</string></array>
<key>home</key><array><string>%s</string></array>
<key>shell</key><array><string>/bin/zsh</string></array>
</dict></plist>`, name, uid, home))
}
