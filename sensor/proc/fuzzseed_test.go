package proc

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// TestWriteFuzzSeeds writes the committed seed corpora of this package's fuzz
// targets (testdata/fuzz/<target>/) in go's corpus format. It runs only with
// -update; the seeds are the fixtures plus hostile inputs.
func TestWriteFuzzSeeds(t *testing.T) {
	if !*update {
		t.Skip("writes testdata/fuzz only with -update")
	}
	write := func(target, name string, values ...any) {
		var b strings.Builder
		b.WriteString("go test fuzz v1\n")
		for _, v := range values {
			switch v := v.(type) {
			case []byte:
				fmt.Fprintf(&b, "[]byte(%q)\n", v)
			case int:
				fmt.Fprintf(&b, "int(%d)\n", v)
			default:
				t.Fatalf("seed value %T", v)
			}
		}
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}

	names := make([]string, 0, len(procargs2Fixtures))
	for name := range procargs2Fixtures {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		write("FuzzParseProcargs2", name, procargs2Fixtures[name], MaxArgs, MaxArgBytes)
	}
	write("FuzzParseProcargs2", "zsh_curl_small_caps", procargs2Fixtures["zsh_curl"], 2, 12)
	write("FuzzParseProcargs2", "non_utf8_cut", procargs2Fixtures["non_utf8"], 0, 21)
	write("FuzzParseProcargs2", "no_caps", procargs2Fixtures["chrome_spaces"], 0, 0)
	write("FuzzParseProcargs2", "negative_caps", procargs2Fixtures["automator"], -1, -5)
	write("FuzzParseProcargs2", "empty", []byte{}, MaxArgs, MaxArgBytes)
	write("FuzzParseProcargs2", "negative_argc", []byte("\xff\xff\xff\xff/bin/sh\x00sh\x00"), MaxArgs, MaxArgBytes)
	write("FuzzParseProcargs2", "huge_argc", []byte("\xff\xff\xff\x7f/bin/sh\x00sh\x00"), MaxArgs, MaxArgBytes)
	write("FuzzParseProcargs2", "path_no_nul", []byte("\x01\x00\x00\x00/bin/sh"), MaxArgs, MaxArgBytes)
	write("FuzzParseProcargs2", "all_nul", make([]byte, 40), MaxArgs, MaxArgBytes)

	stats, err := filepath.Glob(filepath.Join("testdata", "stat", "*.stat"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range stats {
		line, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		write("FuzzParseStat", strings.TrimSuffix(filepath.Base(file), ".stat"), line)
	}

	write("FuzzParseVnodePathInfo", "users_alice", vnodePathInfo("/Users/alice", ""), vnodePathInfoSize)
	write("FuzzParseVnodePathInfo", "chrooted", vnodePathInfo("/private/var/empty/sub", "/private/var/empty"), vnodePathInfoSize)
	write("FuzzParseVnodePathInfo", "short", vnodePathInfo("/tmp", "")[:200], 200)
	write("FuzzParseVnodePathInfo", "n_past_buffer", vnodePathInfo("/tmp", "")[:2000], vnodePathInfoSize)

	proc := direntsOf(".", "..", "fb", "1", "self", "42", "thread-self", "4194304")
	write("FuzzDirents", "proc", proc)
	write("FuzzDirents", "cut", proc[:len(proc)-3])
	write("FuzzDirents", "reclen_zero", append(direntsOf("1")[:16], 0, 0, 4, '1', 0))
}
