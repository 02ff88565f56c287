package files

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestDefaultPathsMacTree(t *testing.T) {
	root := t.TempDir()
	macTree(t, root)
	users, bad := ReadUsers(filepath.Join(root, "var/db/dslocal/nodes/Default/users"))
	if bad != 1 {
		t.Errorf("ReadUsers: %d bad records, want 1 (broken.plist)", bad)
	}
	var names []string
	for _, u := range users {
		names = append(names, u.Name)
	}
	if want := []string{"root", "alice", "bob"}; !reflect.DeepEqual(names, want) {
		t.Errorf("users with a home = %v, want %v", names, want)
	}
	got := DefaultPaths(root, users)
	for i := range got {
		got[i] = strings.TrimPrefix(got[i], root)
	}
	want := []string{
		"/Library/LaunchAgents",
		"/Library/LaunchDaemons",
		"/Library/StartupItems/*",
		"/Library/Services",
		"/Library/Security/SecurityAgentPlugins",
		"/Library/DirectoryServices/PlugIns",
		"/etc/periodic/*",
		"/etc/emond.d/rules",
		"/var/db/emondClients",
		"/usr/lib/cron/tabs",
		"/var/root/Library/LaunchAgents",
		"/var/root/Library/Services",
		"/Users/alice/Library/LaunchAgents",
		"/Users/alice/Library/Services",
		"/Users/bob/Library/LaunchAgents",
		"/Users/bob/Library/Services",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("DefaultPaths =\n%q\nwant\n%q", got, want)
	}
}

func TestParseUser(t *testing.T) {
	u, err := ParseUser(userRecord("alice", 501, "/Users/alice"))
	if err != nil || u != (User{Name: "alice", UID: 501, Home: "/Users/alice"}) || !u.HasHome() {
		t.Errorf("ParseUser = %+v, %v", u, err)
	}
	for _, c := range []struct {
		u    User
		home bool
	}{
		{User{"root", 0, "/var/root"}, true},
		{User{"_www", 70, "/Library/WebServer"}, false},
		{User{"nobody", -2, "/var/empty"}, false},
		{User{"carol", 503, "/var/empty"}, false},
		{User{"dave", 504, "relative"}, false},
		{User{"erin", 505, ""}, false},
	} {
		if c.u.HasHome() != c.home {
			t.Errorf("%+v.HasHome() = %v", c.u, !c.home)
		}
	}
	for _, bad := range []string{"", "x", `<plist><dict><key>name</key><array><string>a</string></array></dict></plist>`,
		`<plist><dict><key>name</key><array><string>a</string></array><key>uid</key><array><string>x1</string></array></dict></plist>`} {
		if _, err := ParseUser([]byte(bad)); err == nil || !strings.HasPrefix(err.Error(), "files: user record") {
			t.Errorf("ParseUser(%q) error = %v", bad, err)
		}
	}
}

func FuzzParseUser(f *testing.F) {
	f.Add(userRecord("alice", 501, "/Users/alice"))
	f.Add([]byte("bplist00"))
	f.Add([]byte(`<plist><dict><key>uid</key><array><string>-2</string></array></dict></plist>`))
	f.Fuzz(func(t *testing.T, data []byte) {
		u, err := ParseUser(data)
		if err != nil && u != (User{}) {
			t.Fatalf("ParseUser returned %+v with error %v", u, err)
		}
		if u.HasHome() && !filepath.IsAbs(u.Home) {
			t.Fatalf("%+v has a relative home", u)
		}
	})
}
