package files

import (
	"os"
	"path/filepath"
	"sort"
)

// SystemFolders are the persistence folders of macOS that the file events
// watch by default, as absolute paths on the Mac. /etc/periodic/* is
// expanded by DefaultPaths.
var SystemFolders = []string{
	"/Library/LaunchAgents",
	"/Library/LaunchDaemons",
	"/Library/StartupItems",
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

// periodicDefault is what /etc/periodic/* stands for when the folder
// cannot be listed: the three folders periodic(8) runs.
var periodicDefault = []string{"daily", "weekly", "monthly"}

// DefaultPaths returns the default watch list of a Mac whose file system
// is seen under root ("" or "/" for the real one; tests build a Mac-shaped
// tree in a temporary folder): SystemFolders with /etc/periodic/* expanded
// to the folders it holds, then UserFolders under every user's home. Each
// path is under root; folders that do not exist are listed all the same
// (the Watcher looks for them at every rescan).
func DefaultPaths(root string, users []User) []string {
	if root == "" {
		root = "/"
	}
	var out []string
	for _, p := range SystemFolders {
		if filepath.Base(p) == "*" {
			out = append(out, expandDirs(root, filepath.Dir(p))...)
			continue
		}
		out = append(out, filepath.Join(root, p))
	}
	for _, u := range users {
		for _, p := range UserFolders {
			out = append(out, filepath.Join(root, u.Home, p))
		}
	}
	return out
}

// expandDirs lists the folders in root/dir (sorted), or the periodic
// defaults when it cannot be listed.
func expandDirs(root, dir string) []string {
	var names []string
	if ents, err := os.ReadDir(filepath.Join(root, dir)); err == nil {
		for _, e := range ents {
			if e.IsDir() {
				names = append(names, e.Name())
			}
		}
	}
	if len(names) == 0 {
		names = periodicDefault
	}
	sort.Strings(names)
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = filepath.Join(root, dir, n)
	}
	return out
}
