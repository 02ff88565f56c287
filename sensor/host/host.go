package host

import (
	"bytes"
	"fmt"
	"strings"
)

// Info is the identity of this machine.
type Info struct {
	// ID is host.id. macOS: the IOPlatformUUID, upper-case 8-4-4-4-12 as
	// Elastic Agent reports it (go-sysinfo formats it with
	// uuid_unparse_upper). Linux: the machine-id, 32 hex digits as in
	// /etc/machine-id.
	ID string
	// Hostname is host.hostname, as the OS gives it (not lower-cased).
	Hostname string
	// Name is host.name: the hostname.
	Name string
	// Architecture is host.architecture: "arm64" or "x86_64" (aarch64 is
	// reported as arm64); other machines as uname gives them.
	Architecture string
	OS           OS
}

// OS is host.os.
type OS struct {
	Type     string // "macos", "linux"
	Name     string // "macOS"; Linux: NAME from os-release ("Debian GNU/Linux")
	Version  string // "14.5"; Linux: VERSION_ID ("12")
	Kernel   string // macOS: kern.osrelease ("23.5.0"); Linux: uname release
	Family   string // "darwin"; Linux: "debian", "redhat", "suse", "arch" or the ID
	Platform string // "darwin"; Linux: ID ("debian", "ubuntu", "rocky")
	Full     string // "macOS 14.5"; Linux: PRETTY_NAME
}

// formatUUID formats a UUID upper-case, 8-4-4-4-12.
func formatUUID(u [16]byte) string {
	const hex = "0123456789ABCDEF"
	var b [36]byte
	j := 0
	for i, c := range u {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b[j] = '-'
			j++
		}
		b[j], b[j+1] = hex[c>>4], hex[c&0xf]
		j += 2
	}
	return string(b[:])
}

// parseMachineID validates the contents of a machine-id file
// (machine-id(5)): 32 hexadecimal digits and a newline. It returns the id
// as written. "uninitialized" (systemd's first-boot marker), an all-zero id
// or anything else is an error.
func parseMachineID(b []byte) (string, error) {
	id := bytes.TrimSpace(b)
	if len(id) != 32 {
		return "", fmt.Errorf("host: machine-id %q: want 32 hex digits", truncate(id))
	}
	zero := true
	for _, c := range id {
		switch {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F':
		default:
			return "", fmt.Errorf("host: machine-id %q: want 32 hex digits", truncate(id))
		}
		if c != '0' {
			zero = false
		}
	}
	if zero {
		return "", fmt.Errorf("host: machine-id is all zeros")
	}
	return string(id), nil
}

func truncate(b []byte) []byte {
	if len(b) > 40 {
		return b[:40]
	}
	return b
}

// osReleaseFields parses os-release text (os-release(5)): KEY=VALUE lines,
// values optionally in double or single quotes, with \" \\ \$ \` escapes
// inside double quotes; blank lines and # comments are skipped.
func osReleaseFields(text []byte) map[string]string {
	fields := make(map[string]string)
	for line := range strings.Lines(string(text)) {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		if !ok || key == "" || strings.ContainsAny(key, " \t") {
			continue
		}
		fields[key] = unquote(value)
	}
	return fields
}

func unquote(v string) string {
	if len(v) >= 2 && v[0] == '\'' && v[len(v)-1] == '\'' {
		return v[1 : len(v)-1]
	}
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return v
	}
	v = v[1 : len(v)-1]
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) && strings.IndexByte("\"\\$`", v[i+1]) >= 0 {
			i++
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

// families maps os-release IDs to the host.os.family Elastic Agent reports
// (go-sysinfo, providers/linux/os.go).
var families = map[string]string{
	"debian": "debian", "ubuntu": "debian", "raspbian": "debian", "linuxmint": "debian", "kali": "debian", "pop": "debian",
	"rhel": "redhat", "centos": "redhat", "fedora": "redhat", "amzn": "redhat", "ol": "redhat", "rocky": "redhat",
	"almalinux": "redhat", "scientific": "redhat", "cloudlinux": "redhat",
	"suse": "suse", "sles": "suse", "sled": "suse", "opensuse": "suse", "opensuse-leap": "suse", "opensuse-tumbleweed": "suse",
	"arch": "arch", "archarm": "arch", "manjaro": "arch", "endeavouros": "arch",
}

// parseOSRelease builds host.os from os-release text. Kernel is left empty
// (it comes from uname).
func parseOSRelease(text []byte) OS {
	f := osReleaseFields(text)
	o := OS{
		Type:     "linux",
		Name:     f["NAME"],
		Version:  f["VERSION_ID"],
		Platform: f["ID"],
		Full:     f["PRETTY_NAME"],
	}
	if o.Name == "" {
		o.Name = "Linux" // os-release(5): the default NAME
	}
	if o.Platform == "" {
		o.Platform = "linux" // the default ID
	}
	if o.Version == "" {
		o.Version = f["VERSION"]
	}
	if o.Full == "" {
		o.Full = strings.TrimSpace(o.Name + " " + f["VERSION"])
	}
	like := strings.Fields(f["ID_LIKE"])
	for _, id := range append([]string{o.Platform}, like...) {
		if fam, ok := families[id]; ok {
			o.Family = fam
			break
		}
	}
	if o.Family == "" { // unknown: the closest relative, else the ID itself
		o.Family = o.Platform
		if len(like) > 0 {
			o.Family = like[0]
		}
	}
	return o
}

// darwinOS builds host.os for macOS from kern.osproductversion ("14.5") and
// kern.osrelease ("23.5.0"). host.os.kernel is kern.osrelease, as Elastic
// Agent reports it (go-sysinfo KernelVersion reads kern.osrelease; sample
// Agent documents on macOS 13.4.1 carry "22.5.0"); the long kern.version
// string ("Darwin Kernel Version 23.5.0: ...") is not used.
func darwinOS(productVersion, release string) OS {
	return OS{
		Type:     "macos",
		Name:     "macOS",
		Version:  productVersion,
		Kernel:   release,
		Family:   "darwin",
		Platform: "darwin",
		Full:     strings.TrimSpace("macOS " + productVersion),
	}
}

// architecture names a machine the way ECS and Elastic Defend do: "arm64"
// for Apple silicon and aarch64, "x86_64" for Intel. On macOS, a process
// translated by Rosetta sees hw.machine "x86_64" on Apple silicon;
// translated reports that, and the host is then arm64.
func architecture(machine string, translated bool) string {
	switch {
	case translated:
		return "arm64"
	case machine == "aarch64" || machine == "arm64":
		return "arm64"
	case machine == "amd64":
		return "x86_64"
	}
	return machine
}
