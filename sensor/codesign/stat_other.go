//go:build !linux && !darwin

package codesign

import (
	"fmt"
	"os"
	"runtime"
)

var errNoIdentity = fmt.Errorf("codesign: file identity (device, inode) not supported on %s", runtime.GOOS)

func statKey(path string) (Key, bool, error)           { return Key{}, false, errNoIdentity }
func openKey(path string) (*os.File, Key, bool, error) { return nil, Key{}, false, errNoIdentity }
func fileKey(f *os.File) (Key, bool, error)            { return Key{}, false, errNoIdentity }
