package sensor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"howett.net/plist"
)

// dslocalUser is the part of a dslocal user record the sensor needs: every
// attribute is an array of strings.
type dslocalUser struct {
	Name []string `plist:"name"`
	UID  []string `plist:"uid"`
}

// parseDSLocalUser decodes one dslocal user plist (binary or XML) into its
// uid and short name.
func parseDSLocalUser(data []byte) (uid uint32, name string, err error) {
	var u dslocalUser
	if _, err := plist.Unmarshal(data, &u); err != nil {
		return 0, "", fmt.Errorf("sensor: user record: %w", err)
	}
	if len(u.Name) == 0 || len(u.UID) == 0 {
		return 0, "", fmt.Errorf("sensor: user record: missing name or uid")
	}
	n, err := strconv.ParseUint(u.UID[0], 10, 32)
	if err != nil {
		return 0, "", fmt.Errorf("sensor: user record %q: uid %q: %w", u.Name[0], u.UID[0], err)
	}
	return uint32(n), u.Name[0], nil
}

// readDSLocal reads every user record in dir into a uid → name map.
// Unreadable or malformed records are skipped: one bad file must not hide
// every other name.
func readDSLocal(dir string) map[uint32]string {
	names := map[uint32]string{}
	files, _ := filepath.Glob(filepath.Join(dir, "*.plist"))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if uid, name, err := parseDSLocalUser(data); err == nil {
			if _, dup := names[uid]; !dup {
				names[uid] = name
			}
		}
	}
	return names
}
