package main

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"crypto/sha1"
	"debug/macho"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"howett.net/plist"

	"github.com/macsensor/macsensor/launchd"
	"github.com/macsensor/macsensor/pkg-build/fat"
	"github.com/macsensor/macsensor/pkg-build/internal/bomread"
	"github.com/macsensor/macsensor/pkg-build/internal/xarread"
)

const testEpoch = "1700000000" // 2023-11-14T22:13:20Z

// requireTools fails the test when an external verifier is missing (they
// are not ours, which is the point), unless MACSENSOR_SKIP_TOOLS=1.
func requireTools(t *testing.T) {
	t.Helper()
	tools := []struct{ cmd, pkg string }{
		{"bsdtar", "libarchive-tools"},
		{"cpio", "cpio"},
		{"file", "file"},
		{"shellcheck", "shellcheck"},
		{"cksum", "coreutils"},
	}
	for _, tool := range tools {
		_, err := exec.LookPath(tool.cmd)
		if err == nil && tool.cmd == "cpio" {
			out, _ := exec.Command("cpio", "--version").Output()
			if !bytes.Contains(out, []byte("GNU cpio")) {
				err = fmt.Errorf("cpio is not GNU cpio")
			}
		}
		if err != nil {
			if os.Getenv("MACSENSOR_SKIP_TOOLS") == "1" {
				t.Skipf("%s: %v; install %s (MACSENSOR_SKIP_TOOLS=1)", tool.cmd, err, tool.pkg)
			}
			t.Fatalf("%s: %v: install %s (apt-get install -y %s), or set MACSENSOR_SKIP_TOOLS=1 to skip", tool.cmd, err, tool.pkg, tool.pkg)
		}
	}
}

func runTool(t *testing.T, dir string, stdin []byte, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %q: %v\n%s%s", name, args, err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.String()
}

// thinMachO is a minimal 64-bit Mach-O executable header for cpu, padded
// with n filler bytes.
func thinMachO(cpu macho.Cpu, filler byte, n int) []byte {
	b := make([]byte, 32+n)
	le := binary.LittleEndian
	le.PutUint32(b[0:], macho.Magic64)
	le.PutUint32(b[4:], uint32(cpu))
	le.PutUint32(b[12:], uint32(macho.TypeExec))
	for i := 32; i < len(b); i++ {
		b[i] = filler
	}
	return b
}

// fakeTree writes two thin fake slices, a module dir with README.md and a
// docs dir with two pages, and returns the flags that use them.
func fakeTree(t *testing.T) (dir string, flags []string) {
	t.Helper()
	dir = t.TempDir()
	write := func(name string, b []byte) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("arm64", thinMachO(macho.CpuArm64, 0xaa, 70000))
	write("amd64", thinMachO(macho.CpuAmd64, 0xbb, 50000))
	write("module/README.md", []byte("# macsensor\n"))
	write("docs/INSTALL.md", []byte("# Install\n"))
	write("docs/PERFORMANCE.md", []byte("# Performance\n"))
	write("docs/notes.txt", []byte("not markdown: not shipped\n"))
	return dir, []string{
		"--binary-arm64", filepath.Join(dir, "arm64"),
		"--binary-amd64", filepath.Join(dir, "amd64"),
		"--module", filepath.Join(dir, "module"),
		"--docs", filepath.Join(dir, "docs"),
	}
}

func buildPkg(t *testing.T, args ...string) []byte {
	t.Helper()
	out := filepath.Join(t.TempDir(), "x.pkg")
	var stdout, stderr bytes.Buffer
	env := func(k string) string {
		if k == "SOURCE_DATE_EPOCH" {
			return testEpoch
		}
		return ""
	}
	if code := run(append(args, "-o", out), env, &stdout, &stderr); code != 0 {
		t.Fatalf("pkg-build exit %d: %s", code, stderr.Bytes())
	}
	if !strings.Contains(stdout.String(), "pkg-build: wrote "+out+" (") {
		t.Errorf("stdout: %s", stdout.Bytes())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// cpioEntry is one line of GNU cpio -itv --numeric-uid-gid.
type cpioEntry struct {
	mode     string
	uid, gid string
	size     int64
}

func cpioList(t *testing.T, archive []byte) (names []string, entries map[string]cpioEntry) {
	t.Helper()
	out := runTool(t, "", archive, "cpio", "-itv", "--numeric-uid-gid", "--quiet")
	entries = map[string]cpioEntry{}
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		// drwxr-xr-x   2 0        0               0 Nov 14  2023 ./Library
		f := strings.Fields(sc.Text())
		if len(f) != 9 {
			t.Fatalf("cpio line %q", sc.Text())
		}
		size, err := strconv.ParseInt(f[4], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		if f[5] != "Nov" || f[6] != "14" || f[7] != "2023" {
			t.Errorf("%s: date %s %s %s, want the SOURCE_DATE_EPOCH Nov 14 2023", f[8], f[5], f[6], f[7])
		}
		names = append(names, f[8])
		entries[f[8]] = cpioEntry{mode: f[0], uid: f[2], gid: f[3], size: size}
	}
	return names, entries
}

func gunzip(t *testing.T, b []byte) []byte {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	out, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// lsMode renders an st_mode as ls and cpio -tv print it.
func lsMode(m uint32) string {
	var b strings.Builder
	switch m & 0o170000 {
	case 0o040000:
		b.WriteByte('d')
	case 0o120000:
		b.WriteByte('l')
	default:
		b.WriteByte('-')
	}
	for i := 8; i >= 0; i-- {
		if m&(1<<i) != 0 {
			b.WriteByte("rwxrwxrwx"[8-i])
		} else {
			b.WriteByte('-')
		}
	}
	return b.String()
}

type inspected struct {
	dir     string   // bsdtar extraction of the archive
	root    string   // GNU cpio extraction of the Payload
	names   []string // Payload member names, in archive order
	entries map[string]cpioEntry
	members map[string][]byte // xar members by path
}

// inspect checks a built package with tools we did not write, plus our own
// readers where no outside tool exists (the Bom), and returns what it
// extracted.
func inspect(t *testing.T, pkg []byte) *inspected {
	t.Helper()
	requireTools(t)
	in := &inspected{dir: t.TempDir(), root: t.TempDir(), members: map[string][]byte{}}
	pkgPath := filepath.Join(t.TempDir(), "x.pkg")
	if err := os.WriteFile(pkgPath, pkg, 0o644); err != nil {
		t.Fatal(err)
	}

	// 1. libarchive lists and extracts the xar.
	list := strings.Fields(runTool(t, "", nil, "bsdtar", "-tf", pkgPath))
	want := []string{"Distribution", "macsensor.pkg", "macsensor.pkg/Bom", "macsensor.pkg/PackageInfo", "macsensor.pkg/Payload", "macsensor.pkg/Scripts"}
	if !reflect.DeepEqual(list, want) {
		t.Fatalf("bsdtar -tf: %q, want %q", list, want)
	}
	runTool(t, in.dir, nil, "bsdtar", "-xf", pkgPath)

	// 2. Every xar checksum verifies, computed here over the raw heap.
	be := binary.BigEndian
	if string(pkg[:4]) != "xar!" || be.Uint16(pkg[4:]) != 28 || be.Uint16(pkg[6:]) != 1 || be.Uint32(pkg[24:]) != 1 {
		t.Fatalf("xar header % x", pkg[:28])
	}
	clen := be.Uint64(pkg[8:])
	heap := pkg[28+clen:]
	tocSum := sha1.Sum(pkg[28 : 28+clen])
	if !bytes.Equal(heap[:20], tocSum[:]) {
		t.Fatal("heap[0:20] is not the SHA-1 of the compressed TOC")
	}
	a, err := xarread.Read(pkg)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range a.Files {
		if f.UID != 0 || f.GID != 0 || f.User != "root" || f.Group != "wheel" {
			t.Errorf("xar %s: owner %d:%d %s:%s", f.Path, f.UID, f.GID, f.User, f.Group)
		}
		if f.Data == nil {
			continue
		}
		raw := heap[f.Data.Offset : f.Data.Offset+f.Data.Length]
		sum := sha1.Sum(raw)
		if f.Data.Archived.Style != "sha1" || hex.EncodeToString(sum[:]) != f.Data.Archived.Hex || f.Data.Extracted.Hex != f.Data.Archived.Hex || f.Data.Encoding != "application/octet-stream" {
			t.Errorf("%s: data %+v, sha1 of heap range %x", f.Path, *f.Data, sum)
		}
		extracted, err := os.ReadFile(filepath.Join(in.dir, f.Path))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(extracted, raw) {
			t.Errorf("%s: bsdtar extracted bytes differ from the heap", f.Path)
		}
		in.members[f.Path] = extracted
	}

	// 3. GNU cpio reads the Payload: paths, owners, modes.
	payload := gunzip(t, in.members["macsensor.pkg/Payload"])
	in.names, in.entries = cpioList(t, payload)
	for _, n := range in.names {
		e := in.entries[n]
		if e.uid != "0" || e.gid != "0" {
			t.Errorf("payload %s owned by %s:%s", n, e.uid, e.gid)
		}
		if !strings.HasPrefix(n, "./") && n != "." {
			t.Errorf("payload path %q does not start with ./", n)
		}
		if strings.HasSuffix(n, "macsensor.toml") {
			t.Errorf("payload carries %s: an upgrade would overwrite the configuration", n)
		}
	}
	runTool(t, in.root, payload, "cpio", "-idm", "--quiet", "--no-absolute-filenames")

	// 4. The Bom, read by our decoder of bomutils' format, lists exactly the
	// Payload, and its CRCs are what cksum(1) prints.
	bf, err := bomread.Read(in.members["macsensor.pkg/Bom"])
	if err != nil {
		t.Fatal(err)
	}
	if int(bf.PathCount) != len(in.names) || int(bf.NumberOfPaths) != len(in.names)+1 {
		t.Errorf("Bom counts %d/%d for %d payload entries", bf.PathCount, bf.NumberOfPaths, len(in.names))
	}
	var bomNames []string
	for _, e := range bf.Entries {
		bomNames = append(bomNames, e.Path)
		c, ok := in.entries[e.Path]
		if !ok {
			t.Errorf("Bom path %s not in the Payload", e.Path)
			continue
		}
		if lsMode(e.Mode) != c.mode || strconv.Itoa(int(e.UID)) != c.uid || strconv.Itoa(int(e.GID)) != c.gid || int64(e.Size) != c.size || e.Mtime != 1700000000 {
			t.Errorf("%s: Bom %s %d:%d %d bytes mtime %d; cpio %+v", e.Path, lsMode(e.Mode), e.UID, e.GID, e.Size, e.Mtime, c)
		}
		if c.mode[0] == '-' {
			out := strings.Fields(runTool(t, in.root, nil, "cksum", e.Path))
			if out[0] != strconv.FormatUint(uint64(e.Checksum), 10) || out[1] != strconv.FormatUint(uint64(e.Size), 10) {
				t.Errorf("%s: cksum says %q, Bom %d %d", e.Path, out, e.Checksum, e.Size)
			}
		}
	}
	sort.Strings(bomNames)
	sortedNames := append([]string(nil), in.names...)
	sort.Strings(sortedNames)
	if !reflect.DeepEqual(bomNames, sortedNames) {
		t.Errorf("Bom paths %q\npayload %q", bomNames, sortedNames)
	}

	// 5. The Scripts archive: preinstall and postinstall, root, 0755, and
	// shellcheck-clean as rendered.
	scripts := gunzip(t, in.members["macsensor.pkg/Scripts"])
	names, entries := cpioList(t, scripts)
	if !reflect.DeepEqual(names, []string{".", "./postinstall", "./preinstall"}) {
		t.Errorf("Scripts: %q", names)
	}
	for _, n := range names[1:] {
		if e := entries[n]; e.mode != "-rwxr-xr-x" || e.uid != "0" || e.gid != "0" {
			t.Errorf("Scripts %s: %+v", n, e)
		}
	}
	sdir := t.TempDir()
	runTool(t, sdir, scripts, "cpio", "-idm", "--quiet", "--no-absolute-filenames")
	runTool(t, sdir, nil, "shellcheck", "-s", "sh", "preinstall", "postinstall")
	runTool(t, in.root, nil, "shellcheck", "-s", "sh", "."+launchd.DefaultPrefix+"/uninstall.sh")
	return in
}

func TestPackageFromFakeSlices(t *testing.T) {
	_, flags := fakeTree(t)
	pkg := buildPkg(t, append(flags, "--version", "1.2.3", "--identifier", "com.example.sensor")...)
	in := inspect(t, pkg)

	want := []struct{ name, mode string }{
		{".", "drwxr-xr-x"},
		{"./Library", "drwxr-xr-x"},
		{"./Library/LaunchDaemons", "drwxr-xr-x"},
		{"./Library/LaunchDaemons/com.macsensor.daemon.plist", "-rw-r--r--"},
		{"./Library/macsensor", "drwxr-xr-x"},
		{"./Library/macsensor/bin", "drwxr-xr-x"},
		{"./Library/macsensor/bin/macsensor", "-rwxr-xr-x"},
		{"./Library/macsensor/doc", "drwxr-xr-x"},
		{"./Library/macsensor/doc/INSTALL.md", "-rw-r--r--"},
		{"./Library/macsensor/doc/PERFORMANCE.md", "-rw-r--r--"},
		{"./Library/macsensor/doc/README.md", "-rw-r--r--"},
		{"./Library/macsensor/rules.d", "drwxr-xr-x"},
		{"./Library/macsensor/rules.d/README.md", "-rw-r--r--"},
		{"./Library/macsensor/uninstall.sh", "-rwxr-xr-x"},
	}
	var got, wantNames []string
	for _, n := range in.names {
		got = append(got, n+" "+in.entries[n].mode)
	}
	for _, w := range want {
		wantNames = append(wantNames, w.name+" "+w.mode)
	}
	if !reflect.DeepEqual(got, wantNames) {
		t.Errorf("payload\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(wantNames, "\n"))
	}

	// The binary is the universal binary of the two slices.
	bin, err := os.ReadFile(filepath.Join(in.root, "Library/macsensor/bin/macsensor"))
	if err != nil {
		t.Fatal(err)
	}
	if err := fat.Check(bin, macho.CpuAmd64, macho.CpuArm64); err != nil {
		t.Error(err)
	}

	// The LaunchDaemon plist is launchd's rendering.
	plistBytes, err := os.ReadFile(filepath.Join(in.root, "Library/LaunchDaemons/com.macsensor.daemon.plist"))
	if err != nil {
		t.Fatal(err)
	}
	job, _ := launchd.DaemonJob(launchd.DefaultLabel, launchd.DefaultPrefix)
	if wantPlist, _ := launchd.Render(job); !bytes.Equal(plistBytes, wantPlist) {
		t.Error("installed plist differs from launchd.Render")
	}

	// Distribution and PackageInfo name the identifier, version and sizes.
	dist := string(in.members["Distribution"])
	for _, s := range []string{
		`<installer-gui-script minSpecVersion="2">`,
		`<options customize="never" require-scripts="false" hostArchitectures="x86_64,arm64"/>`,
		`enable_localSystem="true"`,
		`<os-version min="12.0"/>`, // the fake slices declare none: the default
		`<pkg-ref id="com.example.sensor" version="1.2.3" onConclusion="none" installKBytes="`,
		`">#macsensor.pkg</pkg-ref>`,
		`<line choice="com.example.sensor"/>`,
	} {
		if !strings.Contains(dist, s) {
			t.Errorf("Distribution lacks %s:\n%s", s, dist)
		}
	}
	info := string(in.members["macsensor.pkg/PackageInfo"])
	for _, s := range []string{
		`identifier="com.example.sensor" version="1.2.3" install-location="/" auth="root"`,
		fmt.Sprintf(`<payload numberOfFiles="%d" installKBytes="`, len(want)),
		`<preinstall file="./preinstall"/>`, `<postinstall file="./postinstall"/>`,
	} {
		if !strings.Contains(info, s) {
			t.Errorf("PackageInfo lacks %s:\n%s", s, info)
		}
	}

	// The uninstall script carries the identifier for pkgutil --forget.
	un, err := os.ReadFile(filepath.Join(in.root, "Library/macsensor/uninstall.sh"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(un, []byte("IDENTIFIER='com.example.sensor'")) || regexp.MustCompile(`='__[A-Z_]+__'`).Match(un) {
		t.Errorf("uninstall.sh not rendered:\n%s", un)
	}
}

func TestReproducibleFromFakeSlices(t *testing.T) {
	_, flags := fakeTree(t)
	a := buildPkg(t, append(flags, "--version", "1.2.3")...)
	b := buildPkg(t, append(flags, "--version", "1.2.3")...)
	if !bytes.Equal(a, b) {
		t.Fatal("two builds with the same inputs and SOURCE_DATE_EPOCH differ")
	}
	c := buildPkg(t, append(flags, "--version", "1.2.3", "--source-date-epoch", "1700000001")...)
	if bytes.Equal(a, c) {
		t.Error("--source-date-epoch has no effect")
	}
}

// The real thing: cross-compile ./cmd/macsensor for both architectures (the
// default path of pkg-build), check the package with the outside tools and
// `file`, then check that the Go build and the package are reproducible.
func TestPackageFromRealBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles ./cmd/macsensor twice; skipped with -short")
	}
	requireTools(t)
	pkg := buildPkg(t, "--module", "..", "--version", "0.0.0-test")
	in := inspect(t, pkg)

	binPath := filepath.Join(in.root, "Library/macsensor/bin/macsensor")
	out := runTool(t, "", nil, "file", "-b", binPath)
	if !regexp.MustCompile(`^Mach-O universal binary with 2 architectures: \[x86_64`).MatchString(out) || !strings.Contains(out, "arm64") {
		t.Errorf("file says %q", out)
	}
	ff, err := macho.OpenFat(binPath)
	if err != nil {
		t.Fatal(err)
	}
	defer ff.Close()
	cpus := map[macho.Cpu]*macho.File{}
	for _, a := range ff.Arches {
		cpus[a.Cpu] = a.File
		if a.Align != 14 || a.Offset%(1<<14) != 0 {
			t.Errorf("%v slice at %d, align %d", a.Cpu, a.Offset, a.Align)
		}
		if a.File.Type != macho.TypeExec {
			t.Errorf("%v slice is a %v, not an executable", a.Cpu, a.File.Type)
		}
	}
	if len(ff.Arches) != 2 || cpus[macho.CpuAmd64] == nil || cpus[macho.CpuArm64] == nil {
		t.Fatalf("slices %v", ff.Arches)
	}
	if v, ok, err := fat.MinMacOS(mustRead(t, binPath)); err != nil || !ok || !strings.Contains(string(in.members["Distribution"]), `<os-version min="`+v+`"/>`) {
		t.Errorf("LC_BUILD_VERSION minos %q (%v, %v) not in the Distribution", v, ok, err)
	}

	// The installed plist parses as the launchd job.
	var job map[string]any
	if _, err := plist.Unmarshal(mustRead(t, filepath.Join(in.root, "Library/LaunchDaemons/com.macsensor.daemon.plist")), &job); err != nil {
		t.Fatal(err)
	}
	if args, _ := job["ProgramArguments"].([]any); len(args) != 2 || args[0] != "/Library/macsensor/bin/macsensor" || args[1] != "run" {
		t.Errorf("ProgramArguments %v", job["ProgramArguments"])
	}

	// Go build reproducibility: a second, independent build of the arm64
	// slice gives the same bytes as the packaged one.
	o := options{moduleDir: "..", goCmd: "go", version: "0.0.0-test"}
	again, err := goBuild(o, "arm64", filepath.Join(t.TempDir(), "macsensor-arm64"))
	if err != nil {
		t.Fatal(err)
	}
	f := ff.Arches[1]
	if f.Cpu != macho.CpuArm64 {
		f = ff.Arches[0]
	}
	slice := mustRead(t, binPath)[f.Offset : f.Offset+f.Size]
	if !bytes.Equal(again, slice) {
		t.Error("a second go build of darwin/arm64 differs from the packaged slice")
	}

	// Package reproducibility: the same universal binary and epoch give the
	// same package bytes.
	if pkg2 := buildPkg(t, "--module", "..", "--version", "0.0.0-test", "--binary", binPath); !bytes.Equal(pkg, pkg2) {
		t.Error("packaging the same binary again gives different bytes")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestShellcheckTemplates(t *testing.T) {
	requireTools(t)
	runTool(t, "scripts", nil, "shellcheck", "-s", "sh", "preinstall", "postinstall", "uninstall.sh")
	for _, name := range []string{"preinstall", "postinstall", "uninstall.sh"} {
		b := mustRead(t, filepath.Join("scripts", name))
		if !bytes.HasPrefix(b, []byte("#!/bin/sh\n")) {
			t.Errorf("%s does not start with #!/bin/sh", name)
		}
		// Every script acts only on the running system or checks root.
		if name != "uninstall.sh" && !bytes.Contains(b, []byte(`[ "$TARGET_VOLUME" = "/" ] || exit 0`)) {
			t.Errorf("%s does not check the target volume", name)
		}
	}
}

func TestRenderScripts(t *testing.T) {
	o := options{label: "org.example.d", prefix: "/opt/example", identifier: "org.example.pkg"}
	for _, name := range []string{"scripts/preinstall", "scripts/postinstall", "scripts/uninstall.sh"} {
		b, err := renderScript(name, o)
		if err != nil {
			t.Fatal(err)
		}
		if regexp.MustCompile(`__[A-Z_]+__'`).Match(b) {
			t.Errorf("%s: placeholder left:\n%s", name, b)
		}
		if !bytes.Contains(b, []byte("LABEL='org.example.d'")) {
			t.Errorf("%s: label not filled in", name)
		}
	}
	b, _ := renderScript("scripts/uninstall.sh", o)
	for _, s := range []string{"PREFIX='/opt/example'", "LOG_DIR='/var/log/macsensor'", "IDENTIFIER='org.example.pkg'"} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("uninstall.sh lacks %s", s)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	dir, flags := fakeTree(t)
	universal, err := fat.Build(mustRead(t, filepath.Join(dir, "amd64")), mustRead(t, filepath.Join(dir, "arm64")))
	if err != nil {
		t.Fatal(err)
	}
	armOnly, _ := fat.Build(mustRead(t, filepath.Join(dir, "arm64")))
	os.WriteFile(filepath.Join(dir, "universal"), universal, 0o755)
	os.WriteFile(filepath.Join(dir, "armonly"), armOnly, 0o755)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{flags, "pkg-build: --version is required"},
		{append(flags, "--version", "1 2"), `pkg-build: version "1 2": ' ' not allowed`},
		{append(flags, "--version", "1", "--identifier", "a'b"), `pkg-build: identifier "a'b": '\'' not allowed`},
		{append(flags, "--version", "1", "--label", "x y"), `pkg-build: launchd: label "x y": byte ' ' not allowed`},
		{append(flags, "--version", "1", "--prefix", "/opt"), `pkg-build: launchd: prefix "/opt": must be an absolute path of at least two elements`},
		{append(flags, "--version", "1", "--source-date-epoch", "yesterday"), `pkg-build: SOURCE_DATE_EPOCH "yesterday": want seconds since 1970 that fit 32 bits`},
		{[]string{"--version", "1", "--binary-arm64", filepath.Join(dir, "arm64")}, "pkg-build: --binary-arm64 and --binary-amd64 go together"},
		{[]string{"--version", "1", "--binary", filepath.Join(dir, "armonly")}, "pkg-build: the macsensor binary must be universal (x86_64 and arm64): fat: 1 slices, want"},
		{[]string{"--version", "1", "--binary", filepath.Join(dir, "arm64")}, "pkg-build: the macsensor binary must be universal (x86_64 and arm64): fat: "},
		{[]string{"--version", "1", "--binary", filepath.Join(dir, "universal"), "--binary-arm64", "x"}, "pkg-build: --binary excludes --binary-arm64/--binary-amd64"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append(tc.args, "-o", filepath.Join(t.TempDir(), "x.pkg")), func(string) string { return "" }, &stdout, &stderr)
		if code != 1 || !strings.HasPrefix(stderr.String(), tc.want) {
			t.Errorf("%q: exit %d, stderr %q, want prefix %q", tc.args, code, stderr.String(), tc.want)
		}
	}
	var stderr bytes.Buffer
	if code := run([]string{"--version", "1", "extra"}, func(string) string { return "" }, io.Discard, &stderr); code != 2 {
		t.Errorf("extra argument: exit %d", code)
	}
}

func TestBinaryOut(t *testing.T) {
	dir, flags := fakeTree(t)
	out := filepath.Join(dir, "signed-later", "macsensor")
	var stdout, stderr bytes.Buffer
	if code := run(append(flags, "--version", "1", "--binary-out", out), func(string) string { return testEpoch }, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.Bytes())
	}
	b := mustRead(t, out)
	if err := fat.Check(b, macho.CpuAmd64, macho.CpuArm64); err != nil {
		t.Fatal(err)
	}
	fi, _ := os.Stat(out)
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v", fi.Mode())
	}
	// ... and it goes back in with --binary, giving the same package as
	// the thin slices do.
	a := buildPkg(t, append(flags, "--version", "1")...)
	bb := buildPkg(t, "--binary", out, "--version", "1", "--module", flags[5], "--docs", flags[7])
	if !bytes.Equal(a, bb) {
		t.Error("--binary of the --binary-out output differs from building from the slices")
	}
}
