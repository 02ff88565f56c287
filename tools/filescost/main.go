// Command filescost measures what the file watchers cost on a tree shaped
// like a Mac's, built in a temporary folder: the descriptors (kqueue's
// count, estimated from the tree: 1 per watched folder + 1 per entry) and
// the inotify watches the default watch list takes, the resident memory
// before and after, the latency from writing a plist in a watched folder
// to its event, and the latency from dropping a rule file in a watched
// rules folder to the reload watcher's Change.
//
// It runs on Linux (inotify; /proc for descriptors and RSS):
//
//	go run ./tools/filescost [-users 3] [-agents 12] [-samples 200]
//	go run ./tools/filescost -tree DIR   # build the tree only, print a [files] table
//	go build -o /tmp/macsensor ./cmd/macsensor && go run ./tools/filescost -daemon /tmp/macsensor
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/macsensor/macsensor/internal/mactree"
	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/files"
	"github.com/macsensor/macsensor/sensor/reload"
)

func main() {
	users := flag.Int("users", 3, "people with a home (besides root)")
	agents := flag.Int("agents", 12, "plists in /Library/LaunchAgents (LaunchDaemons get 1.5×, each user's LaunchAgents 2/3)")
	samples := flag.Int("samples", 200, "latency samples")
	settle := flag.Duration("settle", files.DefaultSettle, "file events' settle time")
	quiet := flag.Duration("quiet", reload.DefaultQuiet, "reload watcher's quiet time")
	daemon := flag.String("daemon", "", "also measure this macsensor binary with [files] off and on (run from the repository root)")
	tree := flag.String("tree", "", "only build the tree in this (new) folder and print the watch list as a TOML [files] table, for a daemon")
	flag.Parse()

	if *tree != "" {
		check(os.Mkdir(*tree, 0o755))
		macTree(*tree, *users, *agents)
		us, _ := files.ReadUsers(filepath.Join(*tree, "var/db/dslocal/nodes/Default/users"))
		fmt.Println("[files]\nenabled = true\ndefault_paths = false\npaths = [")
		for _, p := range files.DefaultPaths(*tree, us) {
			fmt.Printf("  %q,\n", p)
		}
		fmt.Println("]")
		return
	}
	root, err := os.MkdirTemp("", "filescost")
	check(err)
	defer os.RemoveAll(root)
	entries := macTree(root, *users, *agents)
	us, _ := files.ReadUsers(filepath.Join(root, "var/db/dslocal/nodes/Default/users"))
	paths := files.DefaultPaths(root, us)

	fd0, rss0 := fds(), rss()
	// The kqueue estimate: the same list counted as kqueue would.
	kq, err := files.New(files.Options{Paths: paths, CountEntries: true, MaxDescriptors: 1 << 20})
	check(err)
	kst := kq.Stats()
	kq.Close()

	fd1 := fds()
	w, err := files.New(files.Options{Paths: paths, Settle: *settle})
	check(err)
	st := w.Stats()
	fd2, rss2 := fds(), rss()
	evs := make(chan *ecs.Event, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	go w.Run(ctx, func(e *ecs.Event) { evs <- e })

	fmt.Printf("tree: %d users with a home, %d files in watched folders, %d paths listed\n", len(us), entries, len(paths))
	fmt.Printf("default list: %d folders (subfolders of dir/* included): %d watched, %d missing, %d not watched (cap)\n", st.Folders, st.Watched, st.Missing, st.NotWatched)
	fmt.Printf("kqueue (macOS) descriptors, estimated: %d (cap %d)\n", kst.Descriptors, files.DefaultMaxDescriptors)
	fmt.Printf("inotify (Linux): %d watches, descriptors opened by the watcher: %d\n", st.Descriptors, fd2-fd1)
	fmt.Printf("RSS: %.1f MiB before, %.1f MiB with the watcher (process; fds before %d)\n", float64(rss0)/(1<<20), float64(rss2)/(1<<20), fd0)

	// Event latency: write a plist, wait for its event.
	dir := filepath.Join(root, "Library/LaunchAgents")
	var lat []time.Duration
	for i := 0; i < *samples; i++ {
		p := filepath.Join(dir, fmt.Sprintf("com.sample.%d.plist", i))
		t0 := time.Now()
		check(os.WriteFile(p, []byte("<?xml version=\"1.0\"?><plist/>"), 0o644))
		for e := range evs {
			if e.Fields.Get("file.path").Str == p {
				break
			}
		}
		lat = append(lat, time.Since(t0))
	}
	cancel()
	fmt.Printf("event latency (write → event, settle %v, n=%d): p50 %v p99 %v max %v\n", *settle, len(lat), q(lat, 0.5), q(lat, 0.99), q(lat, 1))
	w.Close()

	// Reload latency: drop a rule file, wait for the Change.
	rules := filepath.Join(root, "Library/macsensor/rules.d")
	check(os.MkdirAll(rules, 0o755))
	rw, err := reload.New(reload.Options{Paths: []string{filepath.Join(root, "Library/macsensor/macsensor.toml"), rules}, Quiet: *quiet})
	check(err)
	rctx, rcancel := context.WithCancel(context.Background())
	go rw.Run(rctx)
	lat = lat[:0]
	n := min(*samples, 20)
	for i := 0; i < n; i++ {
		p := filepath.Join(rules, fmt.Sprintf("r%d.toml", i))
		t0 := time.Now()
		check(os.WriteFile(p, []byte("[rule]\n"), 0o644))
		<-rw.C()
		lat = append(lat, time.Since(t0))
	}
	rcancel()
	rw.Close()
	fmt.Printf("reload watcher latency (rule drop → Change, quiet %v, n=%d): p50 %v max %v\n", *quiet, len(lat), q(lat, 0.5), q(lat, 1))
	if *daemon != "" {
		measureDaemon(*daemon, root, 15*time.Second, 5)
	}
}

func q(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	i := int(p * float64(len(s)-1))
	return s[i].Round(10 * time.Microsecond)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "filescost:", err)
		os.Exit(1)
	}
}

func fds() int {
	ents, _ := os.ReadDir("/proc/self/fd")
	return len(ents)
}

func rss() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			f := strings.Fields(l)
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// macTree builds the folders of the default watch list under root with the
// entries of a typical Mac (see sensor/files/mactree_test.go for the
// counts' origin) and returns the number of entries.
func macTree(root string, users, agents int) (entries int) {
	tr := &mactree.Tree{Root: root}
	tr.System()
	tr.Dir("Library/LaunchAgents", mactree.Plists("com.vendor.agent", agents)...)
	tr.Dir("Library/LaunchDaemons", mactree.Plists("com.vendor.daemon", agents*3/2)...)
	tr.Dir("Library/Services")
	tr.Dir("Library/Security/SecurityAgentPlugins", "vendor-auth.bundle")
	tr.Dir("Library/DirectoryServices/PlugIns")
	tr.User("root", 0, "/var/root")
	tr.User("_www", 70, "/Library/WebServer")
	for i := 0; i < users; i++ {
		name := fmt.Sprintf("user%d", i)
		tr.User(name, 501+i, "/Users/"+name)
		tr.Dir("Users/"+name+"/Library/LaunchAgents", mactree.Plists("com.user.agent", agents*2/3)...)
		tr.Dir("Users/"+name+"/Library/Services", "Open in Terminal.workflow")
	}
	check(tr.Err)
	return tr.Entries
}
