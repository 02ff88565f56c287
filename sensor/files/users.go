package files

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"

	"howett.net/plist"
)

// DSLocalUsers is where macOS keeps local accounts: one plist per user,
// every attribute an array of strings (Open Directory's local node).
const DSLocalUsers = "/var/db/dslocal/nodes/Default/users"

// User is a local account with a home folder.
type User struct {
	Name string
	UID  int64
	Home string
}

// dslocalUser is the part of a dslocal record the watch list needs.
type dslocalUser struct {
	Name []string `plist:"name"`
	UID  []string `plist:"uid"`
	Home []string `plist:"home"`
}

// ParseUser decodes one dslocal user record (binary or XML plist).
func ParseUser(data []byte) (User, error) {
	var r dslocalUser
	if _, err := plist.Unmarshal(data, &r); err != nil {
		return User{}, fmt.Errorf("files: user record: %w", err)
	}
	if len(r.Name) == 0 || len(r.UID) == 0 {
		return User{}, errors.New("files: user record: missing name or uid")
	}
	uid, err := strconv.ParseInt(r.UID[0], 10, 64)
	if err != nil {
		return User{}, fmt.Errorf("files: user record %q: uid %q: %w", r.Name[0], r.UID[0], err)
	}
	u := User{Name: r.Name[0], UID: uid}
	if len(r.Home) > 0 {
		u.Home = r.Home[0]
	}
	return u, nil
}

// HasHome reports whether u is a person (uid ≥ 500) or root with a real
// home folder: the accounts whose ~/Library holds per-user persistence.
// macOS's service accounts (uid < 500, _www, _spotlight, nobody = -2) have
// /var/empty or no home.
func (u User) HasHome() bool {
	if u.UID != 0 && u.UID < 500 {
		return false
	}
	switch u.Home {
	case "", "/", "/var/empty", "/dev/null", "/nonexistent":
		return false
	}
	return filepath.IsAbs(u.Home)
}

// ReadUsers reads every record in dir (DSLocalUsers on a Mac) and returns
// the users with a home (HasHome), sorted by uid, and how many records
// could not be read or decoded.
func ReadUsers(dir string) (users []User, bad int) {
	names, _ := filepath.Glob(filepath.Join(dir, "*.plist"))
	for _, n := range names {
		data, err := readSmall(n, 1<<20)
		if err != nil {
			bad++
			continue
		}
		u, err := ParseUser(data)
		if err != nil {
			bad++
			continue
		}
		if u.HasHome() {
			users = append(users, u)
		}
	}
	sort.Slice(users, func(i, j int) bool { return users[i].UID < users[j].UID })
	return users, bad
}

// readSmall reads a regular file of at most max bytes without following a
// final symbolic link.
func readSmall(name string, max int64) ([]byte, error) {
	f, err := os.OpenFile(name, os.O_RDONLY|openFlags, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() || fi.Size() > max {
		return nil, fmt.Errorf("files: %s: not a regular file of at most %d bytes", name, max)
	}
	data := make([]byte, fi.Size())
	n, err := io.ReadFull(f, data)
	if err != nil && err != io.ErrUnexpectedEOF {
		return nil, err
	}
	return data[:n], nil
}
