// Command instr counts the instructions a benchmark op or a replayed event
// costs, with valgrind's callgrind: the measure docs/PERFORMANCE.md uses
// since this machine's wall clock swings by half within an hour (issue 13).
//
//	instr bench [-pkg ./detect] BENCH         instructions per op of BENCH
//	instr replay [-lines N] FILE [REPLAY ARGS] instructions per event of replay
//	instr hosts [-n N] [-hosts H] FILE        write the benchmarks' event file
//
// hosts writes the file BenchmarkReplayCores replays (by default the
// 1M-event 16-host file of docs/PERFORMANCE.md, 748 MB), for replay and for
// timing `macsensor replay` by hand.
//
// Each subcommand runs the program twice under callgrind, once with a small
// and once with a larger amount of work, and divides the difference of the
// two totals by the difference of the work: start-up (building the engine,
// loading rules, the benchmark's warm-up) cancels out.
//
// bench builds the package's test binary and runs BENCH with
// -test.benchtime 20000x and 120000x, GOMAXPROCS=1.
//
// replay builds cmd/macsensor and replays the first N and 2N lines of FILE
// (N = 20,000 by default) with --workers 1 and the given replay arguments
// (e.g. --rules ../shared/rules/elastic-macos).
//
// Both run with GOGC=off (the collector's work depends on timing, not on
// the code measured) and GODEBUG=asyncpreemptoff=1. valgrind must be on
// PATH; the results are deterministic to about ±50 instructions.
package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/macsensor/macsensor/internal/replaydata"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "bench":
		err = benchCmd(os.Args[2:])
	case "replay":
		err = replayCmd(os.Args[2:])
	case "hosts":
		err = hostsCmd(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "instr:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: instr bench [-pkg DIR] BENCH | instr replay [-lines N] FILE [REPLAY ARGS...] | instr hosts [-n N] [-hosts H] FILE")
	os.Exit(2)
}

func benchCmd(args []string) error {
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	pkg := fs.String("pkg", "./detect", "package of the benchmark")
	fs.Parse(args)
	if fs.NArg() != 1 {
		usage()
	}
	dir, bin, err := build("pkg.test", "test", "-c", *pkg)
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	const small, large = 20000, 120000
	var totals [2]uint64
	for i, n := range []int{small, large} {
		cmd := exec.Command(bin, "-test.run", "^$", "-test.bench", fs.Arg(0), "-test.benchtime", strconv.Itoa(n)+"x")
		cmd.Dir = *pkg // the benchmark's testdata
		if totals[i], err = callgrind(cmd, "GOMAXPROCS=1"); err != nil {
			return err
		}
	}
	fmt.Printf("%s: %d instructions per op\n", fs.Arg(0), perUnit(totals, large-small))
	return nil
}

func replayCmd(args []string) error {
	fs := flag.NewFlagSet("replay", flag.ExitOnError)
	lines := fs.Int("lines", 20000, "lines of the smaller run (the larger has twice as many)")
	fs.Parse(args)
	if fs.NArg() < 1 || *lines < 1 {
		usage()
	}
	dir, bin, err := build("macsensor", "build", "./cmd/macsensor")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	var totals [2]uint64
	for i, n := range []int{*lines, 2 * *lines} {
		part := filepath.Join(dir, fmt.Sprintf("first-%d.ndjson", n))
		if err := firstLines(fs.Arg(0), part, n); err != nil {
			return err
		}
		argv := append([]string{"replay", "--workers", "1"}, fs.Args()[1:]...)
		cmd := exec.Command(bin, append(argv, part)...)
		if totals[i], err = callgrind(cmd); err != nil {
			return err
		}
	}
	fmt.Printf("replay %s: %d instructions per event\n", fs.Arg(0), perUnit(totals, *lines))
	return nil
}

func hostsCmd(args []string) error {
	fs := flag.NewFlagSet("hosts", flag.ExitOnError)
	n := fs.Int("n", 1_000_000, "events")
	hosts := fs.Int("hosts", 16, "hosts the events come from")
	fs.Parse(args)
	if fs.NArg() != 1 || *n < 0 || *hosts < 1 {
		usage()
	}
	pairs, err := replaydata.WriteHosts(fs.Arg(0), *n, *hosts)
	if err != nil {
		return err
	}
	fmt.Printf("%s: %d events from %d hosts, %d automator pairs\n", fs.Arg(0), *n, *hosts, pairs)
	return nil
}

// build runs `go GOARGS... -o DIR/NAME` in a new temporary folder DIR
// (the caller removes it) and returns DIR and the program's path.
func build(name string, goArgs ...string) (dir, bin string, err error) {
	dir, err = os.MkdirTemp("", "instr-")
	if err != nil {
		return "", "", err
	}
	bin = filepath.Join(dir, name)
	args := append(goArgs[:1:1], "-o", bin)
	if err := run(exec.Command("go", append(args, goArgs[1:]...)...), nil); err != nil {
		os.RemoveAll(dir)
		return "", "", err
	}
	return dir, bin, nil
}

// perUnit is the difference of the two totals per unit of work.
func perUnit(totals [2]uint64, units int) int64 {
	return (int64(totals[1]) - int64(totals[0])) / int64(units)
}

// callgrind runs cmd under callgrind, with env added to its environment,
// and returns the instructions it collected. The program's output is
// discarded.
func callgrind(cmd *exec.Cmd, env ...string) (uint64, error) {
	argv := append([]string{"--tool=callgrind", "--callgrind-out-file=/dev/null", cmd.Path}, cmd.Args[1:]...)
	vg := exec.Command("valgrind", argv...)
	vg.Dir = cmd.Dir
	vg.Env = append(os.Environ(), "GOGC=off", "GODEBUG=asyncpreemptoff=1")
	vg.Env = append(vg.Env, env...)
	var stderr bytes.Buffer
	if err := run(vg, &stderr); err != nil {
		return 0, fmt.Errorf("%w\n%s", err, tail(stderr.Bytes(), 2000))
	}
	return collected(stderr.Bytes())
}

// collectedRE is callgrind's summary line ("==123== Collected : 4567").
var collectedRE = regexp.MustCompile(`(?m)^==\d+== Collected : (\d+)\s*$`)

// collected returns the count of callgrind's summary line in its stderr.
func collected(stderr []byte) (uint64, error) {
	m := collectedRE.FindSubmatch(stderr)
	if m == nil {
		return 0, errors.New("no \"Collected\" line in callgrind's output")
	}
	return strconv.ParseUint(string(m[1]), 10, 64)
}

// firstLines copies the first n lines of src to dst; it fails when src has
// fewer.
func firstLines(src, dst string, n int) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(out)
	r := bufio.NewReader(in)
	got := 0
	for got < n {
		line, err := r.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			w.Write(line)
			continue // the rest of a long line
		}
		if len(line) > 0 {
			w.Write(line)
			got++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			out.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	if got < n {
		return fmt.Errorf("%s: %d lines, %d needed", src, got, n)
	}
	return nil
}

func run(cmd *exec.Cmd, stderr *bytes.Buffer) error {
	if stderr != nil {
		cmd.Stderr = stderr
	} else {
		cmd.Stderr = os.Stderr
	}
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("%s: %w", filepath.Base(cmd.Path), err)
	}
	return nil
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
