package main

import (
	"bytes"
	"crypto/sha256"
	"debug/macho"
	"embed"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/macsensor/macsensor/launchd"
	"github.com/macsensor/macsensor/pkg-build/fat"
	"github.com/macsensor/macsensor/pkg-build/flatpkg"
)

//go:embed scripts/preinstall scripts/postinstall scripts/uninstall.sh payload/rules.d/README.md
var embedded embed.FS

// DefaultIdentifier is the package (receipt) identifier.
const DefaultIdentifier = "com.macsensor.pkg"

// defaultMinOS is used when the binary declares no LC_BUILD_VERSION;
// Go's linker declares 12.0 (cmd/link/internal/ld/macho.go).
const defaultMinOS = "12.0"

type options struct {
	version, identifier, label, prefix, title string
	output                                    string
	binary, binaryARM64, binaryAMD64          string
	binaryOut                                 string
	moduleDir, docsDir                        string
	goCmd                                     string
	minOS                                     string
	epoch                                     string
}

func main() {
	os.Exit(run(os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("pkg-build", flag.ContinueOnError)
	fl.SetOutput(stderr)
	var o options
	fl.StringVar(&o.version, "version", "", "package and binary version (required), e.g. 1.2.3")
	fl.StringVar(&o.identifier, "identifier", DefaultIdentifier, "package identifier (pkgutil receipt)")
	fl.StringVar(&o.label, "label", launchd.DefaultLabel, "launchd label of the daemon")
	fl.StringVar(&o.prefix, "prefix", launchd.DefaultPrefix, "install prefix")
	fl.StringVar(&o.title, "title", "macsensor", "title shown by Installer")
	fl.StringVar(&o.output, "o", "", "output .pkg (default dist/macsensor-<version>.pkg)")
	fl.StringVar(&o.binary, "binary", "", "pre-built (e.g. signed) universal macsensor binary; skips go build")
	fl.StringVar(&o.binaryARM64, "binary-arm64", "", "pre-built darwin/arm64 binary (with --binary-amd64); skips go build")
	fl.StringVar(&o.binaryAMD64, "binary-amd64", "", "pre-built darwin/amd64 binary (with --binary-arm64); skips go build")
	fl.StringVar(&o.binaryOut, "binary-out", "", "only write the universal binary to this path (to sign it), no package")
	fl.StringVar(&o.moduleDir, "module", ".", "root of the macsensor module (holds go.mod, cmd/macsensor, docs/)")
	fl.StringVar(&o.docsDir, "docs", "", "documentation folder (default <module>/docs)")
	fl.StringVar(&o.goCmd, "go", "go", "go command")
	fl.StringVar(&o.minOS, "min-os", "", "oldest macOS allowed (default: the binary's LC_BUILD_VERSION, else "+defaultMinOS+")")
	fl.StringVar(&o.epoch, "source-date-epoch", "", "timestamp of every file, in seconds (default $SOURCE_DATE_EPOCH, else now)")
	if err := fl.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fl.NArg() != 0 {
		fmt.Fprintf(stderr, "pkg-build: unexpected arguments %q\n", fl.Args())
		return 2
	}
	if o.epoch == "" {
		o.epoch = getenv("SOURCE_DATE_EPOCH")
	}
	if err := build(o, stdout); err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

func build(o options, stdout io.Writer) error {
	if o.version == "" {
		return errors.New("pkg-build: --version is required")
	}
	mtime, err := modTime(o.epoch)
	if err != nil {
		return err
	}
	if err := launchd.ValidateLabel(o.label); err != nil {
		return fmt.Errorf("pkg-build: %w", err)
	}
	if err := launchd.ValidatePrefix(o.prefix); err != nil {
		return fmt.Errorf("pkg-build: %w", err)
	}
	// The version goes into -ldflags and the identifier into the
	// uninstall script: both must be plain tokens.
	if err := checkToken("version", o.version, ".-_+"); err != nil {
		return err
	}
	if err := checkToken("identifier", o.identifier, ".-_"); err != nil {
		return err
	}

	universal, err := universalBinary(o)
	if err != nil {
		return err
	}
	if o.binaryOut != "" {
		if err := writeAtomic(o.binaryOut, universal, 0o755); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "pkg-build: wrote %s (%d bytes, sha256 %x)\n", o.binaryOut, len(universal), sha256.Sum256(universal))
		return nil
	}

	minOS := o.minOS
	if minOS == "" {
		v, ok, err := fat.MinMacOS(universal)
		if err != nil {
			return fmt.Errorf("pkg-build: %w", err)
		}
		minOS = defaultMinOS
		if ok {
			minOS = v
		}
	}
	files, err := payload(o, universal)
	if err != nil {
		return err
	}
	scripts, err := installScripts(o)
	if err != nil {
		return err
	}
	prod, err := flatpkg.Build(flatpkg.Package{
		Identifier:   o.identifier,
		Version:      o.version,
		Title:        o.title,
		MinOSVersion: minOS,
		Component:    "macsensor.pkg",
		Files:        files,
		Scripts:      scripts,
		ModTime:      mtime,
	})
	if err != nil {
		return fmt.Errorf("pkg-build: %w", err)
	}
	out := o.output
	if out == "" {
		out = filepath.Join("dist", "macsensor-"+o.version+".pkg")
	}
	if err := writeAtomic(out, prod.Archive, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "pkg-build: wrote %s (%d bytes, sha256 %x; payload %d entries, %d KiB installed; minimum macOS %s; timestamps %s)\n",
		out, len(prod.Archive), sha256.Sum256(prod.Archive), prod.NumberOfFiles, prod.InstallKBytes, minOS, mtime.UTC().Format(time.RFC3339))
	return nil
}

// modTime parses SOURCE_DATE_EPOCH (reproducible-builds.org: a decimal
// count of seconds since the epoch); empty means now.
func modTime(epoch string) (time.Time, error) {
	if epoch == "" {
		return time.Now().Truncate(time.Second), nil
	}
	n, err := strconv.ParseInt(epoch, 10, 64)
	if err != nil || n < 0 || n > 1<<32-1 {
		return time.Time{}, fmt.Errorf("pkg-build: SOURCE_DATE_EPOCH %q: want seconds since 1970 that fit 32 bits", epoch)
	}
	return time.Unix(n, 0), nil
}

func checkToken(what, s, extra string) error {
	if s == "" {
		return fmt.Errorf("pkg-build: empty %s", what)
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)) {
			return fmt.Errorf("pkg-build: %s %q: %q not allowed (letters, digits, %q)", what, s, c, extra)
		}
	}
	return nil
}

// universalBinary returns the universal macsensor binary: the one given, the two
// thin ones given joined, or both built with the go command.
func universalBinary(o options) ([]byte, error) {
	var b []byte
	switch {
	case o.binary != "":
		if o.binaryARM64 != "" || o.binaryAMD64 != "" {
			return nil, errors.New("pkg-build: --binary excludes --binary-arm64/--binary-amd64")
		}
		var err error
		if b, err = os.ReadFile(o.binary); err != nil {
			return nil, fmt.Errorf("pkg-build: %w", err)
		}
	case o.binaryARM64 != "" || o.binaryAMD64 != "":
		if o.binaryARM64 == "" || o.binaryAMD64 == "" {
			return nil, errors.New("pkg-build: --binary-arm64 and --binary-amd64 go together")
		}
		arm, err := os.ReadFile(o.binaryARM64)
		if err != nil {
			return nil, fmt.Errorf("pkg-build: %w", err)
		}
		amd, err := os.ReadFile(o.binaryAMD64)
		if err != nil {
			return nil, fmt.Errorf("pkg-build: %w", err)
		}
		if b, err = fat.Build(amd, arm); err != nil {
			return nil, fmt.Errorf("pkg-build: %w", err)
		}
	default:
		tmp, err := os.MkdirTemp("", "pkg-build-")
		if err != nil {
			return nil, fmt.Errorf("pkg-build: %w", err)
		}
		defer os.RemoveAll(tmp)
		var thin [][]byte
		for _, arch := range []string{"amd64", "arm64"} {
			t, err := goBuild(o, arch, filepath.Join(tmp, "macsensor-"+arch))
			if err != nil {
				return nil, err
			}
			thin = append(thin, t)
		}
		if b, err = fat.Build(thin...); err != nil {
			return nil, fmt.Errorf("pkg-build: %w", err)
		}
	}
	if err := fat.Check(b, macho.CpuAmd64, macho.CpuArm64); err != nil {
		return nil, fmt.Errorf("pkg-build: the macsensor binary must be universal (x86_64 and arm64): %w", err)
	}
	return b, nil
}

// goBuild cross-compiles ./cmd/macsensor for darwin/arch. Everything that
// changes the output is pinned: cgo off, -trimpath, no VCS stamping, fixed
// ldflags, GOAMD64=v1 (a v3 build would not start on older Intel Macs) and
// GOARM64=v8.0; GOFLAGS and GOEXPERIMENT from the environment are cleared.
// The go command is run directly, never through a shell.
func goBuild(o options, arch, out string) ([]byte, error) {
	cmd := exec.Command(o.goCmd, "build",
		"-trimpath", "-buildvcs=false",
		"-ldflags=-s -w -X main.version="+o.version,
		"-o", out, "./cmd/macsensor")
	cmd.Dir = o.moduleDir
	cmd.Env = append(withoutVars(os.Environ(), "CGO_ENABLED", "GOOS", "GOARCH", "GOAMD64", "GOARM64", "GOFLAGS", "GOEXPERIMENT"),
		"CGO_ENABLED=0", "GOOS=darwin", "GOARCH="+arch, "GOAMD64=v1", "GOARM64=v8.0", "GOFLAGS=", "GOEXPERIMENT=")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("pkg-build: go build darwin/%s: %w\n%s", arch, err, stderr.Bytes())
	}
	b, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("pkg-build: %w", err)
	}
	return b, nil
}

func withoutVars(env []string, names ...string) []string {
	out := env[:0:0]
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		drop := false
		for _, n := range names {
			drop = drop || name == n
		}
		if !drop {
			out = append(out, kv)
		}
	}
	return out
}

// payload lists what the package installs. macsensor.toml is never part of
// it, so an upgrade keeps the administrator's configuration.
func payload(o options, universal []byte) ([]flatpkg.File, error) {
	job, err := launchd.DaemonJob(o.label, o.prefix)
	if err != nil {
		return nil, fmt.Errorf("pkg-build: %w", err)
	}
	plist, err := launchd.Render(job)
	if err != nil {
		return nil, fmt.Errorf("pkg-build: %w", err)
	}
	uninstall, err := renderScript("scripts/uninstall.sh", o)
	if err != nil {
		return nil, err
	}
	readme, err := embedded.ReadFile("payload/rules.d/README.md")
	if err != nil {
		return nil, fmt.Errorf("pkg-build: %w", err)
	}
	files := []flatpkg.File{
		{Path: launchd.BinaryPath(o.prefix), Mode: 0o755, Data: universal},
		// launchd requires root:wheel and 0644 for a daemon's plist.
		{Path: launchd.PlistPath(o.label), Mode: 0o644, Data: plist},
		{Path: path.Join(o.prefix, "rules.d"), Dir: true, Mode: 0o755},
		{Path: path.Join(o.prefix, "rules.d", "README.md"), Mode: 0o644, Data: readme},
		{Path: path.Join(o.prefix, "uninstall.sh"), Mode: 0o755, Data: uninstall},
	}
	docs, err := documentation(o)
	if err != nil {
		return nil, err
	}
	for _, d := range docs {
		files = append(files, flatpkg.File{Path: path.Join(o.prefix, "doc", d.name), Mode: 0o644, Data: d.data})
	}
	return files, nil
}

type doc struct {
	name string
	data []byte
}

// documentation collects <docs>/*.md, plus the module's README.md and
// LICENSE when docs/ has none of that name.
func documentation(o options) ([]doc, error) {
	dir := o.docsDir
	if dir == "" {
		dir = filepath.Join(o.moduleDir, "docs")
	}
	byName := map[string][]byte{}
	entries, err := os.ReadDir(dir)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pkg-build: %w", err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".md") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("pkg-build: %w", err)
		}
		byName[e.Name()] = b
	}
	for _, name := range []string{"README.md", "LICENSE"} {
		if _, ok := byName[name]; ok {
			continue
		}
		b, err := os.ReadFile(filepath.Join(o.moduleDir, name))
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("pkg-build: %w", err)
		}
		byName[name] = b
	}
	out := make([]doc, 0, len(byName))
	for name, b := range byName {
		out = append(out, doc{name, b})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out, nil
}

func installScripts(o options) ([]flatpkg.Script, error) {
	var out []flatpkg.Script
	for _, name := range []string{"preinstall", "postinstall"} {
		b, err := renderScript("scripts/"+name, o)
		if err != nil {
			return nil, err
		}
		out = append(out, flatpkg.Script{Name: name, Data: b})
	}
	return out, nil
}

// renderScript fills in the placeholders of an embedded script. The values
// were validated to letters, digits and . - _ / (launchd.ValidateLabel,
// ValidatePrefix, checkToken): they cannot leave the single quotes they are
// written in.
func renderScript(name string, o options) ([]byte, error) {
	b, err := embedded.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("pkg-build: %w", err)
	}
	s := strings.NewReplacer(
		"__LABEL__", o.label,
		"__PREFIX__", o.prefix,
		"__LOG_DIR__", path.Dir(launchd.DefaultLogPath),
		"__IDENTIFIER__", o.identifier,
	).Replace(string(b))
	if i := strings.Index(s, "='__"); i >= 0 {
		return nil, fmt.Errorf("pkg-build: %s: placeholder left at byte %d", name, i)
	}
	return []byte(s), nil
}

// writeAtomic writes b to a temporary file next to name and renames it.
func writeAtomic(name string, b []byte, perm fs.FileMode) error {
	dir := filepath.Dir(name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("pkg-build: %w", err)
	}
	f, err := os.CreateTemp(dir, ".pkg-build-*")
	if err != nil {
		return fmt.Errorf("pkg-build: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // after a successful rename this fails harmlessly
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("pkg-build: write %s: %w", name, err)
	}
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("pkg-build: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("pkg-build: write %s: %w", name, err)
	}
	if err := os.Rename(tmp, name); err != nil {
		return fmt.Errorf("pkg-build: %w", err)
	}
	return nil
}
