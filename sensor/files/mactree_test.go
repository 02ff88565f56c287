package files

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/macsensor/macsensor/internal/mactree"
)

// userRecord is a dslocal user plist (mactree.UserRecord).
func userRecord(name string, uid int, home string) []byte { return mactree.UserRecord(name, uid, home) }

// macTree builds, under root, the folders of a Mac that the default watch
// list names, with as many entries as a typical Mac holds (counted on a
// macOS 14 install with a few apps: Zoom, Chrome, Office, a VPN, an MDM
// agent), /etc and /var and /usr/lib/cron as symbolic links into /private,
// and the dslocal records of root, two people and two service accounts.
// It returns how many entries it created in watched folders.
func macTree(t testing.TB, root string) (entries int) {
	t.Helper()
	tr := &mactree.Tree{Root: root}
	tr.System()
	tr.Dir("Library/LaunchAgents", mactree.Plists("com.vendor.agent", 12)...)
	tr.Dir("Library/LaunchDaemons", mactree.Plists("com.vendor.daemon", 18)...)
	tr.Dir("Library/Services")
	tr.Dir("Library/Security/SecurityAgentPlugins", "vendor-auth.bundle.plist")
	tr.Dir("Library/DirectoryServices/PlugIns")
	// /Library/StartupItems is absent on a current Mac.
	tr.Dir("Users/alice/Library/LaunchAgents", mactree.Plists("com.user.agent", 8)...)
	tr.Dir("Users/alice/Library/Services", "Open in Terminal.workflow.plist")
	tr.Dir("Users/bob/Library/LaunchAgents", mactree.Plists("com.user.agent", 4)...)
	// bob has no ~/Library/Services.
	for _, u := range []struct {
		name string
		uid  int
		home string
	}{{"root", 0, "/var/root"}, {"alice", 501, "/Users/alice"}, {"bob", 502, "/Users/bob"}, {"_www", 70, "/Library/WebServer"}, {"nobody", -2, "/var/empty"}} {
		tr.User(u.name, u.uid, u.home)
	}
	if tr.Err != nil {
		t.Fatal(tr.Err)
	}
	if err := os.WriteFile(filepath.Join(root, mactree.UsersDir, "broken.plist"), []byte("not a plist"), 0o600); err != nil {
		t.Fatal(err)
	}
	return tr.Entries
}
