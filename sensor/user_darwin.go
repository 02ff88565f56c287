//go:build darwin

package sensor

import (
	"os/user"
	"strconv"
	"sync"
)

// dslocalUsers is where macOS keeps local accounts: one plist per user
// (Open Directory's local node). Without cgo, Go's os/user reads only
// /etc/passwd, which on macOS lists the system accounts but not the people
// (uid 501 and up): those live here, readable by root.
const dslocalUsers = "/var/db/dslocal/nodes/Default/users"

var (
	dslocalOnce  sync.Once
	dslocalNames map[uint32]string
)

// UserName returns the short name of a uid: from the local directory node
// (dslocal) first, then /etc/passwd through os/user; "" when unknown
// (network accounts of a directory service are not resolved without cgo).
func UserName(uid uint32) string {
	dslocalOnce.Do(func() { dslocalNames = readDSLocal(dslocalUsers) })
	if n, ok := dslocalNames[uid]; ok {
		return n
	}
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return ""
}
