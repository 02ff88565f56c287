package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/macsensor/macsensor/internal/replaydata"
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
	return replaydata.WriteHosts(path, n, hosts)
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
