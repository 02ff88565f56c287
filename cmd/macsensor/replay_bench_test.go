package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"
)

// writeStream writes n realistic events as ndjson: Elastic Defend-shaped
// process starts (70 %) and network connections (30 %) from a few hundred
// processes on one host, with an automator → runner pair every 100,000
// events. It returns the number of pairs.
func writeStream(path string, n int) (pairs int, err error) {
	return writeHostsStream(path, n, 1)
}

// writeHostsStream is writeStream over hosts machines: event i comes from
// host (i/2) mod hosts (an automator and its runner, i and i+1 with i
// even, share a host). With hosts = 1 it is writeStream's file.
func writeHostsStream(path string, n, hosts int) (pairs int, err error) {
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	w := bufio.NewWriterSize(f, 1<<20)
	base := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC).UnixMilli()
	hostOf := func(k int) string {
		return fmt.Sprintf(`"host":{"id":"8E1B0A8E-2F0C-4E57-A3A4-0D2C9E1B%04X","name":"mac-%02d","hostname":"mac-%02d","architecture":"arm64","os":{"type":"macos","name":"macOS","version":"14.5","kernel":"23.5.0","family":"darwin","platform":"darwin"}},"agent":{"type":"macsensor","version":"0.1.0"}`, 0x7F10+k, k+1, k+1)
	}
	hostLines := make([]string, hosts)
	for k := range hostLines {
		hostLines[k] = hostOf(k)
	}
	names := []string{"zsh", "git", "curl", "python3", "node", "mdworker_shared", "Safari", "cfprefsd", "ssh", "xcodebuild"}
	ts := func(i int) string { return time.UnixMilli(base + int64(i)).UTC().Format("2006-01-02T15:04:05.000Z") }
	for i := 0; i < n; i++ {
		host := hostLines[(i/2)%hosts]
		pid := 1000 + i%500
		switch {
		case i%100000 == 50000:
			fmt.Fprintf(w, `{"@timestamp":"%s","event":{"kind":"event","category":["process"],"type":["start"],"action":"exec","sequence":%d},%s,"process":{"pid":%d,"entity_id":"E%d","name":"automator","executable":"/usr/bin/automator","args":["automator","-i","/tmp/x.workflow"],"args_count":3,"command_line":"automator -i /tmp/x.workflow","parent":{"pid":400,"name":"zsh"}},"user":{"id":"501","name":"alice"}}`+"\n",
				ts(i), i, host, 9000+i, 9000+i)
		case i%100000 == 50001:
			pairs++
			fmt.Fprintf(w, `{"@timestamp":"%s","event":{"kind":"event","category":["network"],"type":["start"],"action":"connection_attempted","sequence":%d},%s,"process":{"pid":%d,"entity_id":"E%d","name":"com.apple.automator.runner","executable":"/System/Library/x/com.apple.automator.runner"},"source":{"ip":"192.168.1.10","port":52000},"destination":{"ip":"93.184.216.34","port":443},"network":{"transport":"tcp","type":"ipv4","direction":"egress"},"user":{"id":"501","name":"alice"}}`+"\n",
				ts(i), i, host, 9100+i, 9100+i)
		case i%10 < 7:
			name := names[i%len(names)]
			fmt.Fprintf(w, `{"@timestamp":"%s","event":{"kind":"event","category":["process"],"type":["start"],"action":"exec","sequence":%d},%s,"process":{"pid":%d,"entity_id":"E%d","name":"%s","executable":"/usr/bin/%s","args":["/usr/bin/%s","--flag","value-%d"],"args_count":3,"command_line":"/usr/bin/%s --flag value-%d","start":"%s","parent":{"pid":400,"entity_id":"E400","name":"zsh","executable":"/bin/zsh"}},"user":{"id":"501","name":"alice"}}`+"\n",
				ts(i), i, host, pid, pid, name, name, name, i, name, i, ts(i))
		default:
			fmt.Fprintf(w, `{"@timestamp":"%s","event":{"kind":"event","category":["network"],"type":["start"],"action":"connection_attempted","sequence":%d},%s,"process":{"pid":%d,"entity_id":"E%d","name":"%s","executable":"/usr/bin/%s"},"source":{"ip":"192.168.1.10","port":%d},"destination":{"ip":"17.253.144.10","port":443},"network":{"transport":"tcp","type":"ipv4","direction":"egress"},"user":{"id":"501","name":"alice"}}`+"\n",
				ts(i), i, host, pid, pid, names[i%len(names)], names[i%len(names)], 49152+i%16000)
		}
	}
	return pairs, w.Flush()
}

var (
	benchBinOnce sync.Once
	benchBin     string
	benchBinErr  error
)

// builtBinary builds macsensor once per test binary run.
func builtBinary(tb testing.TB) string {
	benchBinOnce.Do(func() {
		dir, err := os.MkdirTemp("", "macsensor-bin-")
		if err != nil {
			benchBinErr = err
			return
		}
		benchBin = filepath.Join(dir, "macsensor")
		out, err := exec.Command("go", "build", "-o", benchBin, ".").CombinedOutput()
		if err != nil {
			benchBinErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if benchBinErr != nil {
		tb.Fatal(benchBinErr)
	}
	return benchBin
}

// BenchmarkReplayEndToEnd runs the macsensor binary (`replay`, seed rule)
// over generated ndjson files of 100,000 and 1,000,000 events, as a child
// process: decoding, ordering, detection and alert output included. It
// reports events/s and the child's peak resident memory, which must not
// grow with the file.
//
//	go test ./cmd/macsensor -run '^$' -bench ReplayEndToEnd -benchtime 3x
func BenchmarkReplayEndToEnd(b *testing.B) {
	bin := builtBinary(b)
	for _, n := range []int{100_000, 1_000_000} {
		b.Run("events="+strconv.Itoa(n), func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "events.ndjson")
			pairs, err := writeStream(path, n)
			if err != nil {
				b.Fatal(err)
			}
			fi, _ := os.Stat(path)
			b.SetBytes(fi.Size())
			b.ResetTimer()
			var maxRSS int64
			for b.Loop() {
				cmd := exec.Command(bin, "replay", path)
				out, err := cmd.Output()
				if err != nil {
					b.Fatalf("replay: %v", err)
				}
				if got := countLines(out); got != pairs {
					b.Fatalf("%d alerts, want %d", got, pairs)
				}
				if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
					maxRSS = max(maxRSS, int64(ru.Maxrss))
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			b.ReportMetric(float64(maxRSS)/1024, "maxrss-MiB")
		})
	}
}

func countLines(b []byte) int {
	n := 0
	for _, c := range b {
		if c == '\n' {
			n++
		}
	}
	return n
}

// BenchmarkReplayCores runs the macsensor binary over 1,000,000 events of
// 16 hosts (writeHostsStream) with GOMAXPROCS=k, k = 1 and 2, with the
// seed rule and with Elastic's macOS rules (../shared/rules/elastic-macos,
// when present): one engine (the default: its conditions run on the
// decoding goroutines) and, for k > 1, --partitions k.
//
//	go test ./cmd/macsensor -run '^$' -bench ReplayCores -benchtime 1x -count 3 -benchmem
func BenchmarkReplayCores(b *testing.B) {
	bin := builtBinary(b)
	path := filepath.Join(b.TempDir(), "hosts.ndjson")
	const n = 1_000_000
	pairs, err := writeHostsStream(path, n, 16)
	if err != nil {
		b.Fatal(err)
	}
	fi, _ := os.Stat(path)
	sets := map[string][]string{"seed": nil}
	if all := filepath.Join("..", "..", "..", "shared", "rules", "elastic-macos"); dirExists(all) {
		sets["all"] = []string{"--rules", all}
	}
	for _, name := range []string{"seed", "all"} {
		rs, ok := sets[name]
		if !ok {
			continue
		}
		for _, run := range []struct{ k, partitions int }{{1, 1}, {2, 1}, {2, 2}} {
			k := run.k
			b.Run(fmt.Sprintf("rules=%s/cores=%d/partitions=%d", name, k, run.partitions), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(fi.Size())
				for b.Loop() {
					args := append(append([]string{"replay", "--partitions", strconv.Itoa(run.partitions)}, rs...), path)
					cmd := exec.Command(bin, args...)
					cmd.Env = append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(k))
					out, err := cmd.Output()
					if err != nil {
						b.Fatalf("replay: %v", err)
					}
					if name == "seed" && countLines(out) != pairs {
						b.Fatalf("%d alerts, want %d", countLines(out), pairs)
					}
				}
				b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}
