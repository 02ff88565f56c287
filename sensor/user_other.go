//go:build !darwin

package sensor

import (
	"os/user"
	"strconv"
)

// UserName returns the user name of a uid from the system's user database,
// or "" when unknown.
func UserName(uid uint32) string {
	if u, err := user.LookupId(strconv.FormatUint(uint64(uid), 10)); err == nil {
		return u.Username
	}
	return ""
}
