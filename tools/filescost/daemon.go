package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/macsensor/macsensor/sensor/files"
)

// measureDaemon runs the daemon binary twice on state folders under root,
// with [files] off and on (the Mac-shaped tree's default list), and reports
// its resident memory, descriptors and CPU after settle, and the latency
// from moving a rule file into its rules.d to its "rules loaded" log line.
func measureDaemon(bin, root string, settle time.Duration, drops int) {
	us, _ := files.ReadUsers(filepath.Join(root, "var/db/dslocal/nodes/Default/users"))
	var b strings.Builder
	b.WriteString("[files]\nenabled = true\ndefault_paths = false\npaths = [")
	for i, p := range files.DefaultPaths(root, us) {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(strconv.Quote(p))
	}
	b.WriteString("]\n")
	rule, err := os.ReadFile("cmd/macsensor/testdata/filerules/persistence_emond_rules_file_creation.toml")
	check(err)
	for _, mode := range []struct{ name, toml string }{{"files off", ""}, {"files on", b.String()}} {
		state := filepath.Join(root, "state-"+strings.ReplaceAll(mode.name, " ", "-"))
		check(os.MkdirAll(filepath.Join(state, "rules.d"), 0o755))
		cfg := "[sensor]\nprocess_interval = \"1s\"\nsocket_interval = \"1s\"\n[status]\ninterval = \"1s\"\n" + mode.toml
		check(os.WriteFile(filepath.Join(state, "macsensor.toml"), []byte(cfg), 0o644))
		cmd := exec.Command(bin, "run", "--state-dir", state)
		stderr, err := cmd.StderrPipe()
		check(err)
		check(cmd.Start())
		var mu sync.Mutex
		var loaded []time.Time
		go func() {
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				if strings.Contains(sc.Text(), `"rules loaded"`) {
					mu.Lock()
					loaded = append(loaded, time.Now())
					mu.Unlock()
				}
			}
		}()
		count := func() int { mu.Lock(); defer mu.Unlock(); return len(loaded) }
		time.Sleep(settle)
		pid := cmd.Process.Pid
		rss := procField(pid, "VmRSS:")
		ents, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		f := strings.Fields(string(stat))
		ut, _ := strconv.Atoi(f[13])
		st, _ := strconv.Atoi(f[14])
		var lat []time.Duration
		for i := 0; i < drops; i++ {
			n := count()
			data := strings.Replace(string(rule), `rule_id = "`, fmt.Sprintf(`rule_id = "%02d`, i), 1)
			tmp := filepath.Join(state, fmt.Sprintf("stage%d.toml", i))
			check(os.WriteFile(tmp, []byte(data), 0o644))
			t0 := time.Now()
			check(os.Rename(tmp, filepath.Join(state, "rules.d", fmt.Sprintf("r%d.toml", i))))
			for count() == n {
				time.Sleep(time.Millisecond)
			}
			mu.Lock()
			lat = append(lat, loaded[len(loaded)-1].Sub(t0))
			mu.Unlock()
			time.Sleep(time.Second)
		}
		cmd.Process.Signal(os.Interrupt)
		cmd.Wait()
		fmt.Printf("daemon, %-9s: RSS %s, %d descriptors, CPU %.2f%% of a core over %v; rule drop → rules loaded: p50 %v max %v (n=%d)\n",
			mode.name, rss, len(ents), float64(ut+st)/100/settle.Seconds()*100, settle, q(lat, 0.5), q(lat, 1), len(lat))
	}
}

func procField(pid int, key string) string {
	data, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(l, key) {
			return strings.Join(strings.Fields(strings.TrimPrefix(l, key)), " ")
		}
	}
	return "?"
}
