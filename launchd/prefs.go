package launchd

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"

	"howett.net/plist"
)

// MaxPreferencesSize bounds what ReadPreferences reads: a managed
// preferences file is a few KiB; anything near a MiB is not one.
const MaxPreferencesSize = 1 << 20

// ErrUnsafeFile is wrapped by the errors ReadPreferences returns for a file
// it refuses to trust: a symlink, not a regular file, not owned by root, or
// writable by group or others. The daemon runs as root and the managed
// preferences override its configuration, so whoever can write this file
// controls the sensor.
var ErrUnsafeFile = errors.New("unsafe preferences file")

// ReadOptions relaxes ReadPreferences for callers that are not the daemon.
type ReadOptions struct {
	// SkipOwnerCheck accepts a file not owned by root (tests, a user
	// checking a profile before deploying it). The symlink, regular-file
	// and group/other-writable checks still apply.
	SkipOwnerCheck bool
}

// ReadManagedPreferences reads the managed-preferences plist at path
// (normally ManagedPreferencesPath(DefaultLabel)) with every check on, and
// returns its top-level dictionary. A missing file returns an error that
// wraps fs.ErrNotExist: no profile is installed.
func ReadManagedPreferences(path string) (map[string]any, error) {
	return ReadPreferences(path, ReadOptions{})
}

// ReadPreferences reads a binary or XML property list whose top level is a
// dictionary, after checking that the file is safe to trust: not a symlink
// (checked with Lstat and again by opening with O_NOFOLLOW), a regular
// file, owned by root unless opt.SkipOwnerCheck, not writable by group or
// others. The checks run on the Lstat result and again on the opened
// descriptor, which must be the same file.
func ReadPreferences(path string, opt ReadOptions) (map[string]any, error) {
	lfi, err := os.Lstat(path)
	if err != nil {
		return nil, fmt.Errorf("launchd: managed preferences: %w", err)
	}
	if err := checkInfo(path, lfi, opt); err != nil {
		return nil, err
	}
	f, err := openNoFollow(path)
	if err != nil {
		return nil, fmt.Errorf("launchd: managed preferences: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("launchd: managed preferences: %w", err)
	}
	if !os.SameFile(lfi, fi) {
		return nil, fmt.Errorf("launchd: managed preferences %q: %w: replaced while being opened", path, ErrUnsafeFile)
	}
	if err := checkInfo(path, fi, opt); err != nil {
		return nil, err
	}
	data, err := io.ReadAll(io.LimitReader(f, MaxPreferencesSize+1))
	if err != nil {
		return nil, fmt.Errorf("launchd: managed preferences %q: %w", path, err)
	}
	if len(data) > MaxPreferencesSize {
		return nil, fmt.Errorf("launchd: managed preferences %q: larger than %d bytes", path, MaxPreferencesSize)
	}
	prefs, err := decodePreferences(data)
	if err != nil {
		return nil, fmt.Errorf("launchd: managed preferences %q: %w", path, err)
	}
	return prefs, nil
}

func checkInfo(path string, fi fs.FileInfo, opt ReadOptions) error {
	uid, err := fileUID(fi)
	if err != nil {
		return fmt.Errorf("launchd: managed preferences %q: %w", path, err)
	}
	return CheckFile(path, uid, fi.Mode(), opt)
}

// CheckFile applies ReadPreferences' trust checks to a file's owner uid and
// mode (as from os.Lstat), so that they can be tested without root. The
// error names the path and the problem, and wraps ErrUnsafeFile.
func CheckFile(path string, uid uint32, mode fs.FileMode, opt ReadOptions) error {
	switch {
	case mode&fs.ModeSymlink != 0:
		return fmt.Errorf("launchd: managed preferences %q: %w: is a symbolic link", path, ErrUnsafeFile)
	case !mode.IsRegular():
		return fmt.Errorf("launchd: managed preferences %q: %w: not a regular file (mode %v)", path, ErrUnsafeFile, mode)
	case !opt.SkipOwnerCheck && uid != 0:
		return fmt.Errorf("launchd: managed preferences %q: %w: owned by uid %d, not root", path, ErrUnsafeFile, uid)
	case mode.Perm()&0o022 != 0:
		return fmt.Errorf("launchd: managed preferences %q: %w: writable by group or others (mode %04o)", path, ErrUnsafeFile, uint32(mode.Perm()))
	}
	return nil
}

// DecodePreferences decodes an XML or binary property list whose top level
// must be a dictionary. Values keep howett.net/plist's types: string, bool,
// uint64 (non-negative integers), int64 (negative integers), float64 or
// float32, time.Time, []byte, []any, map[string]any. OpenStep and GNUstep
// text plists are refused: cfprefsd and MDM write XML or binary only.
func DecodePreferences(data []byte) (map[string]any, error) {
	m, err := decodePreferences(data)
	if err != nil {
		return nil, fmt.Errorf("launchd: %w", err)
	}
	return m, nil
}

func decodePreferences(data []byte) (map[string]any, error) {
	var root any
	format, err := plist.Unmarshal(data, &root)
	if err != nil {
		return nil, fmt.Errorf("decode plist: %w", err)
	}
	if format != plist.XMLFormat && format != plist.BinaryFormat {
		return nil, fmt.Errorf("decode plist: %s format, want XML or binary", plist.FormatNames[format])
	}
	dict, ok := root.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("decode plist: top level is %s, want a dictionary", typeName(root))
	}
	return dict, nil
}

// Preferences gives typed access to a decoded dictionary. Each getter
// returns ok == false when the key is absent, and a *TypeError carrying the
// value it found when the key holds another type, so that the caller can
// name the key and the value in its diagnostics.
type Preferences map[string]any

// TypeError is a preference whose value has the wrong type.
type TypeError struct {
	Key  string // the key, or key[i] for an array element
	Want string // "string", "boolean", "integer", "array of strings"
	Got  any    // the decoded value
}

func (e *TypeError) Error() string {
	return fmt.Sprintf("launchd: managed preference %q: want %s, got %s %v", e.Key, e.Want, typeName(e.Got), e.Got)
}

// String returns the string at key.
func (p Preferences) String(key string) (string, bool, error) {
	v, ok := p[key]
	if !ok {
		return "", false, nil
	}
	s, isString := v.(string)
	if !isString {
		return "", true, &TypeError{Key: key, Want: "string", Got: v}
	}
	return s, true, nil
}

// Bool returns the boolean at key. A string "true" is a type error: MDM
// profile editors that write <string>true</string> produce a profile that
// macOS itself would not read as a boolean either.
func (p Preferences) Bool(key string) (bool, bool, error) {
	v, ok := p[key]
	if !ok {
		return false, false, nil
	}
	b, isBool := v.(bool)
	if !isBool {
		return false, true, &TypeError{Key: key, Want: "boolean", Got: v}
	}
	return b, true, nil
}

// Int returns the integer at key. howett.net/plist decodes non-negative
// integers as uint64 and negative ones as int64; both are accepted as long
// as the value fits an int64. Reals are a type error, even 30.0.
func (p Preferences) Int(key string) (int64, bool, error) {
	v, ok := p[key]
	if !ok {
		return 0, false, nil
	}
	switch n := v.(type) {
	case int64:
		return n, true, nil
	case uint64:
		if n <= math.MaxInt64 {
			return int64(n), true, nil
		}
	}
	return 0, true, &TypeError{Key: key, Want: "integer", Got: v}
}

// Strings returns the array of strings at key. An element of another type
// is reported as key[i].
func (p Preferences) Strings(key string) ([]string, bool, error) {
	v, ok := p[key]
	if !ok {
		return nil, false, nil
	}
	arr, isArray := v.([]any)
	if !isArray {
		return nil, true, &TypeError{Key: key, Want: "array of strings", Got: v}
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, isString := e.(string)
		if !isString {
			return nil, true, &TypeError{Key: fmt.Sprintf("%s[%d]", key, i), Want: "string", Got: e}
		}
		out = append(out, s)
	}
	return out, true, nil
}

// typeName names a decoded plist value the way a profile author would.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case string:
		return "string"
	case bool:
		return "boolean"
	case int64, uint64:
		return "integer"
	case float32, float64:
		return "real"
	case []byte:
		return "data"
	case []any:
		return "array"
	case map[string]any:
		return "dictionary"
	default:
		return fmt.Sprintf("%T", v)
	}
}
