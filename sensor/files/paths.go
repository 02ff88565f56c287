package files

import (
	"path/filepath"
	"strings"
)

// SystemFolders are the persistence folders of macOS that the file events
// watch by default, as absolute paths on the Mac. A path ending in "/*" is
// the folder and each folder in it, one level down, as they come and go:
// periodic(8) runs the scripts of /etc/periodic/{daily,weekly,monthly},
// and a startup item is a folder of /Library/StartupItems holding its
// StartupParameters.plist.
var SystemFolders = []string{
	"/Library/LaunchAgents",
	"/Library/LaunchDaemons",
	"/Library/StartupItems/*",
	"/Library/Services",
	"/Library/Security/SecurityAgentPlugins",
	"/Library/DirectoryServices/PlugIns",
	"/etc/periodic/*",
	"/etc/emond.d/rules",
	"/var/db/emondClients",
	"/usr/lib/cron/tabs",
}

// UserFolders are the per-user persistence folders, relative to each home.
var UserFolders = []string{
	"Library/LaunchAgents",
	"Library/Services",
}

// DefaultPaths returns the default watch list of a Mac whose file system
// is seen under root ("" or "/" for the real one; tests build a Mac-shaped
// tree in a temporary folder): SystemFolders, then UserFolders under every
// user's home. Folders that do not exist are listed all the same (the
// Watcher looks for them at every rescan).
func DefaultPaths(root string, users []User) []string {
	if root == "" {
		root = "/"
	}
	var out []string
	for _, p := range SystemFolders {
		out = append(out, join(root, p))
	}
	for _, u := range users {
		for _, p := range UserFolders {
			out = append(out, join(root, u.Home, p))
		}
	}
	return out
}

// join is filepath.Join keeping a trailing "/*".
func join(parts ...string) string {
	last := parts[len(parts)-1]
	if strings.HasSuffix(last, "/*") {
		parts[len(parts)-1] = strings.TrimSuffix(last, "/*")
		return filepath.Join(parts...) + "/*"
	}
	return filepath.Join(parts...)
}
