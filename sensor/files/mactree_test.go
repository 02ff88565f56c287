package files

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// userRecord is a dslocal user plist (XML; the real ones are binary, which
// ParseUser reads the same way).
func userRecord(name string, uid int, home string) []byte {
	return []byte(fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?>
<plist version="1.0"><dict>
<key>name</key><array><string>%s</string></array>
<key>uid</key><array><string>%d</string></array>
<key>home</key><array><string>%s</string></array>
<key>shell</key><array><string>/bin/zsh</string></array>
</dict></plist>`, name, uid, home))
}

// macTree builds, under root, the folders of a Mac that the default watch
// list names, with as many entries as a typical Mac holds (counted on a
// macOS 14 install with a few apps: Zoom, Chrome, Office, a VPN, an MDM
// agent), /etc and /var and /usr/lib/cron as symbolic links into /private,
// and the dslocal records of root, two people and two service accounts.
// It returns how many entries it created in watched folders.
func macTree(t testing.TB, root string) (entries int) {
	t.Helper()
	mk := func(dir string, files ...string) {
		d := filepath.Join(root, dir)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if err := os.WriteFile(filepath.Join(d, f), []byte("<?xml version=\"1.0\"?>\n<plist/>\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			entries++
		}
	}
	plists := func(prefix string, n int) []string {
		out := make([]string, n)
		for i := range out {
			out[i] = fmt.Sprintf("%s.%02d.plist", prefix, i)
		}
		return out
	}
	mk("private/etc/periodic/daily", "110.clean-tmps", "130.clean-msgs", "140.clean-rwho", "199.rotate-fax", "310.accounting", "400.status-disks", "420.status-network", "430.status-rwho", "999.local")
	mk("private/etc/periodic/weekly", "310.locate", "320.whatis", "999.local")
	mk("private/etc/periodic/monthly", "199.rotate-fax", "200.accounting", "999.local")
	mk("private/etc/emond.d/rules", "SampleRules.plist")
	mk("private/var/at/tabs")
	mk("private/var/db/dslocal/nodes/Default/users")
	mk("private/var/root/Library/LaunchAgents")
	for _, l := range [][2]string{{"private/etc", "etc"}, {"private/var", "var"}, {"../../private/var/at", "usr/lib/cron"}} {
		os.MkdirAll(filepath.Dir(filepath.Join(root, l[1])), 0o755)
		if err := os.Symlink(l[0], filepath.Join(root, l[1])); err != nil {
			t.Fatal(err)
		}
	}
	mk("Library/LaunchAgents", plists("com.vendor.agent", 12)...)
	mk("Library/LaunchDaemons", plists("com.vendor.daemon", 18)...)
	mk("Library/Services")
	mk("Library/Security/SecurityAgentPlugins", "vendor-auth.bundle.plist")
	mk("Library/DirectoryServices/PlugIns")
	// /Library/StartupItems is absent on a current Mac.
	mk("Users/alice/Library/LaunchAgents", plists("com.user.agent", 8)...)
	mk("Users/alice/Library/Services", "Open in Terminal.workflow.plist")
	mk("Users/bob/Library/LaunchAgents", plists("com.user.agent", 4)...)
	// bob has no ~/Library/Services.
	users := filepath.Join(root, "private/var/db/dslocal/nodes/Default/users")
	for _, u := range []struct {
		name string
		uid  int
		home string
	}{{"root", 0, "/var/root"}, {"alice", 501, "/Users/alice"}, {"bob", 502, "/Users/bob"}, {"_www", 70, "/Library/WebServer"}, {"nobody", -2, "/var/empty"}} {
		if err := os.WriteFile(filepath.Join(users, u.name+".plist"), userRecord(u.name, u.uid, u.home), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	os.WriteFile(filepath.Join(users, "broken.plist"), []byte("not a plist"), 0o600)
	return entries
}
