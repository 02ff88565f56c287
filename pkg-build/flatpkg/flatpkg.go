package flatpkg

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/macsensor/macsensor/pkg-build/bom"
	"github.com/macsensor/macsensor/pkg-build/cpio"
	"github.com/macsensor/macsensor/pkg-build/xar"
)

// File is one member of the payload, installed relative to "/".
type File struct {
	Path string      // absolute install path, e.g. "/Library/macsensor/bin/macsensor"
	Dir  bool        // a directory (Data must be empty)
	Mode fs.FileMode // permission bits, e.g. 0o755
	Data []byte
}

// Script is an install script of the component: "preinstall" or
// "postinstall". Installer runs it as root with $1 the package path, $2 the
// install location, $3 the target volume and $4 the root of the startup
// volume; a non-zero exit fails the installation.
type Script struct {
	Name string
	Data []byte
}

// Package describes the product archive.
type Package struct {
	Identifier   string // package identifier (receipt name), e.g. "com.macsensor.pkg"
	Version      string // e.g. "1.2.3"
	Title        string // shown by Installer.app
	MinOSVersion string // oldest macOS allowed, e.g. "12.0"
	Component    string // component directory in the archive, e.g. "macsensor.pkg"
	Files        []File
	Scripts      []Script
	ModTime      time.Time // every timestamp; set from SOURCE_DATE_EPOCH
}

// Product is the built archive and its members, kept for inspection.
type Product struct {
	Archive       []byte // the .pkg
	Distribution  []byte
	PackageInfo   []byte
	Bom           []byte
	Payload       []byte // gzip'd cpio
	Scripts       []byte // gzip'd cpio; nil without scripts
	NumberOfFiles int    // payload entries, "." and directories included
	InstallKBytes uint64 // sum of file sizes in 4 KiB blocks, in KiB
}

const (
	rootUID, wheelGID = 0, 0
	dirMode           = 0o755
)

// Build assembles the product archive.
func Build(p Package) (*Product, error) {
	if err := p.validate(); err != nil {
		return nil, err
	}
	mtime := p.ModTime.Unix()
	if mtime < 0 || mtime > 1<<32-1 {
		return nil, fmt.Errorf("flatpkg: modification time %v outside the Bom's 32-bit range", p.ModTime)
	}

	entries, err := payloadEntries(p.Files, mtime)
	if err != nil {
		return nil, err
	}
	payload, err := gzipCpio(entries)
	if err != nil {
		return nil, err
	}
	var kbytes uint64
	bomEntries := make([]bom.Entry, 0, len(entries))
	for _, e := range entries {
		be := bom.Entry{Path: e.Name, Mode: e.Mode, UID: e.UID, GID: e.GID, Mtime: uint32(e.Mtime)}
		if e.Mode&cpio.TypeMask == cpio.TypeRegular {
			if uint64(len(e.Data)) > 1<<32-1 {
				return nil, fmt.Errorf("flatpkg: %s: 4 GiB or more does not fit the Bom", e.Name)
			}
			be.Size = uint32(len(e.Data))
			be.Checksum = bom.Checksum(e.Data)
			kbytes += (uint64(len(e.Data)) + 4095) / 4096 * 4
		}
		bomEntries = append(bomEntries, be)
	}
	bomBytes, err := bom.Write(bomEntries)
	if err != nil {
		return nil, fmt.Errorf("flatpkg: %w", err)
	}

	prod := &Product{Payload: payload, Bom: bomBytes, NumberOfFiles: len(entries), InstallKBytes: kbytes}
	var scriptNames []string
	if len(p.Scripts) > 0 {
		se := []cpio.Entry{{Name: ".", Mode: cpio.TypeDir | dirMode, UID: rootUID, GID: wheelGID, Mtime: mtime}}
		scripts := append([]Script(nil), p.Scripts...)
		sort.Slice(scripts, func(i, j int) bool { return scripts[i].Name < scripts[j].Name })
		for _, s := range scripts {
			se = append(se, cpio.Entry{Name: "./" + s.Name, Mode: cpio.TypeRegular | 0o755, UID: rootUID, GID: wheelGID, Mtime: mtime, Data: s.Data})
			scriptNames = append(scriptNames, s.Name)
		}
		if prod.Scripts, err = gzipCpio(se); err != nil {
			return nil, err
		}
	}
	prod.PackageInfo = packageInfo(p, prod.NumberOfFiles, kbytes, scriptNames)
	prod.Distribution = distribution(p, kbytes)

	member := func(name string, data []byte) xar.Entry {
		return xar.Entry{Path: name, Mode: 0o644, UID: rootUID, GID: wheelGID, User: "root", Group: "wheel", ModTime: p.ModTime, Data: data}
	}
	comp := member(p.Component, nil)
	comp.Dir, comp.Mode = true, dirMode
	members := []xar.Entry{
		member("Distribution", prod.Distribution),
		comp,
		member(p.Component+"/Bom", prod.Bom),
		member(p.Component+"/PackageInfo", prod.PackageInfo),
		member(p.Component+"/Payload", prod.Payload),
	}
	if prod.Scripts != nil {
		members = append(members, member(p.Component+"/Scripts", prod.Scripts))
	}
	var out bytes.Buffer
	if err := xar.Write(&out, members, p.ModTime); err != nil {
		return nil, fmt.Errorf("flatpkg: %w", err)
	}
	prod.Archive = out.Bytes()
	return prod, nil
}

func (p Package) validate() error {
	if !isToken(p.Identifier, ".-_") || strings.HasPrefix(p.Identifier, ".") {
		return fmt.Errorf("flatpkg: identifier %q: want a reverse-DNS name of letters, digits, '.', '-', '_'", p.Identifier)
	}
	if !isToken(p.Version, ".-_+") {
		return fmt.Errorf("flatpkg: version %q: want letters, digits, '.', '-', '_', '+'", p.Version)
	}
	if !isToken(p.MinOSVersion, ".") {
		return fmt.Errorf("flatpkg: minimum OS version %q: want e.g. 12.0", p.MinOSVersion)
	}
	if !strings.HasSuffix(p.Component, ".pkg") || !isToken(p.Component, ".-_") {
		return fmt.Errorf("flatpkg: component %q: want a name ending in .pkg", p.Component)
	}
	if p.Title == "" || strings.ContainsAny(p.Title, "\x00\n\r") {
		return fmt.Errorf("flatpkg: title %q: want one non-empty line", p.Title)
	}
	seen := map[string]bool{}
	for _, s := range p.Scripts {
		if s.Name != "preinstall" && s.Name != "postinstall" {
			return fmt.Errorf("flatpkg: script %q: only preinstall and postinstall are run", s.Name)
		}
		if seen[s.Name] {
			return fmt.Errorf("flatpkg: script %q given twice", s.Name)
		}
		seen[s.Name] = true
		if !bytes.HasPrefix(s.Data, []byte("#!")) {
			return fmt.Errorf("flatpkg: script %q has no #! line", s.Name)
		}
	}
	return nil
}

// isToken reports whether s is non-empty ASCII letters, digits and extra.
func isToken(s, extra string) bool {
	if s == "" || len(s) > 255 {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(extra, c)) {
			return false
		}
	}
	return true
}

// payloadEntries turns the files into cpio entries named "./...", adds "."
// and every missing parent directory (0755), and orders them so that a
// directory precedes its contents, siblings in byte order of their names.
func payloadEntries(files []File, mtime int64) ([]cpio.Entry, error) {
	byName := map[string]cpio.Entry{}
	for _, f := range files {
		if !strings.HasPrefix(f.Path, "/") || f.Path == "/" || path.Clean(f.Path) != f.Path {
			return nil, fmt.Errorf("flatpkg: payload path %q: want a clean absolute path below /", f.Path)
		}
		if strings.ContainsAny(f.Path, "\x00\n\r") {
			return nil, fmt.Errorf("flatpkg: payload path %q: control character", f.Path)
		}
		if f.Mode&^fs.ModePerm != 0 {
			return nil, fmt.Errorf("flatpkg: %s: mode %v: want permission bits only", f.Path, f.Mode)
		}
		if f.Mode&0o022 != 0 {
			return nil, fmt.Errorf("flatpkg: %s: mode %04o: writable by group or others, and the daemon runs as root", f.Path, uint32(f.Mode))
		}
		name := "." + f.Path
		if _, dup := byName[name]; dup {
			return nil, fmt.Errorf("flatpkg: payload path %s given twice", f.Path)
		}
		e := cpio.Entry{Name: name, Mode: uint32(f.Mode), UID: rootUID, GID: wheelGID, Mtime: mtime}
		if f.Dir {
			if len(f.Data) != 0 {
				return nil, fmt.Errorf("flatpkg: %s: directory with data", f.Path)
			}
			e.Mode |= cpio.TypeDir
		} else {
			e.Mode |= cpio.TypeRegular
			e.Data = f.Data
		}
		byName[name] = e
	}
	if len(byName) == 0 {
		return nil, errors.New("flatpkg: empty payload")
	}
	// Add "." and missing parents. Names are "." + the absolute path, so
	// the parent of "./a/b" is "." + path.Dir("/a/b").
	given := make([]string, 0, len(byName))
	for name := range byName {
		given = append(given, name)
	}
	sort.Strings(given) // deterministic error messages
	for _, name := range given {
		for abs := path.Dir(name[1:]); ; abs = path.Dir(abs) {
			dir := "." + strings.TrimSuffix(abs, "/")
			if d, ok := byName[dir]; ok {
				if d.Mode&cpio.TypeMask != cpio.TypeDir {
					return nil, fmt.Errorf("flatpkg: %s is a file and a parent of %s", d.Name[1:], name[1:])
				}
			} else {
				byName[dir] = cpio.Entry{Name: dir, Mode: cpio.TypeDir | dirMode, UID: rootUID, GID: wheelGID, Mtime: mtime}
			}
			if abs == "/" {
				break
			}
		}
	}
	out := make([]cpio.Entry, 0, len(byName))
	for _, e := range byName {
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return lessPath(out[i].Name, out[j].Name) })
	return out, nil
}

// lessPath orders "./a" before "./a/b" before "./a-b": element by element.
func lessPath(a, b string) bool {
	ae, be := strings.Split(a, "/"), strings.Split(b, "/")
	for i := 0; i < len(ae) && i < len(be); i++ {
		if ae[i] != be[i] {
			return ae[i] < be[i]
		}
	}
	return len(ae) < len(be)
}

func gzipCpio(entries []cpio.Entry) ([]byte, error) {
	var b bytes.Buffer
	// No name and a zero modification time in the gzip header, so the
	// bytes depend only on the entries.
	zw, err := gzip.NewWriterLevel(&b, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("flatpkg: %w", err)
	}
	if err := cpio.Write(zw, entries); err != nil {
		return nil, fmt.Errorf("flatpkg: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("flatpkg: gzip: %w", err)
	}
	return b.Bytes(), nil
}

// packageInfo is the component's PackageInfo, as pkgbuild writes it.
// relocatable="false" keeps Installer from redirecting the install to
// wherever a bundle of the same identifier lives; overwrite-permissions is
// left out (false), so existing directories such as /Library keep their
// modes and postinstall sets the modes of what is ours.
func packageInfo(p Package, numberOfFiles int, kbytes uint64, scripts []string) []byte {
	var b bytes.Buffer
	b.WriteString(`<?xml version="1.0" encoding="utf-8" standalone="no"?>` + "\n")
	fmt.Fprintf(&b, `<pkg-info format-version="2" identifier="%s" version="%s" install-location="/" auth="root" relocatable="false" postinstall-action="none" generator-version="macsensor-pkg-build">`+"\n", p.Identifier, p.Version)
	fmt.Fprintf(&b, `    <payload numberOfFiles="%d" installKBytes="%d"/>`+"\n", numberOfFiles, kbytes)
	b.WriteString("    <bundle-version/>\n    <upgrade-bundle/>\n    <update-bundle/>\n    <atomic-update-bundle/>\n    <strict-identifier/>\n    <relocate/>\n")
	if len(scripts) > 0 {
		b.WriteString("    <scripts>\n")
		for _, s := range scripts {
			fmt.Fprintf(&b, `        <%s file="./%s"/>`+"\n", s, s)
		}
		b.WriteString("    </scripts>\n")
	}
	b.WriteString("</pkg-info>\n")
	return b.Bytes()
}

// distribution is the product's Distribution (Apple's Distribution XML
// Reference). minSpecVersion 2 is needed for hostArchitectures, which
// declares the package native on both Intel and Apple silicon so that
// Installer does not ask for Rosetta. customize="never" hides the
// customisation pane; domains enable only the startup disk (a LaunchDaemon
// cannot go in a home directory).
func distribution(p Package, kbytes uint64) []byte {
	var b bytes.Buffer
	title := escape(p.Title)
	b.WriteString(`<?xml version="1.0" encoding="utf-8" standalone="no"?>` + "\n")
	b.WriteString(`<installer-gui-script minSpecVersion="2">` + "\n")
	fmt.Fprintf(&b, "    <title>%s</title>\n", title)
	b.WriteString(`    <options customize="never" require-scripts="false" hostArchitectures="x86_64,arm64"/>` + "\n")
	b.WriteString(`    <domains enable_anywhere="false" enable_currentUserHome="false" enable_localSystem="true"/>` + "\n")
	b.WriteString("    <volume-check>\n        <allowed-os-versions>\n")
	fmt.Fprintf(&b, `            <os-version min="%s"/>`+"\n", p.MinOSVersion)
	b.WriteString("        </allowed-os-versions>\n    </volume-check>\n")
	b.WriteString("    <choices-outline>\n        <line choice=\"default\">\n")
	fmt.Fprintf(&b, `            <line choice="%s"/>`+"\n", p.Identifier)
	b.WriteString("        </line>\n    </choices-outline>\n")
	b.WriteString(`    <choice id="default"/>` + "\n")
	fmt.Fprintf(&b, `    <choice id="%s" visible="false">`+"\n", p.Identifier)
	fmt.Fprintf(&b, `        <pkg-ref id="%s"/>`+"\n", p.Identifier)
	b.WriteString("    </choice>\n")
	fmt.Fprintf(&b, `    <pkg-ref id="%s" version="%s" onConclusion="none" installKBytes="%d">#%s</pkg-ref>`+"\n", p.Identifier, p.Version, kbytes, p.Component)
	fmt.Fprintf(&b, `    <product id="%s" version="%s"/>`+"\n", p.Identifier, p.Version)
	b.WriteString("</installer-gui-script>\n")
	return b.Bytes()
}

func escape(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch r {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}
