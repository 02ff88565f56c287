package launchd

import (
	"fmt"
	"math"

	"howett.net/plist"

	"github.com/macsensor/macsensor/internal/rootfile"
)

// MaxPreferencesSize bounds what ReadPreferences reads: a managed
// preferences file is a few KiB; anything near a MiB is not one.
const MaxPreferencesSize = 1 << 20

// ErrUnsafeFile is wrapped by the errors ReadPreferences returns for a file
// it refuses to trust: a symlink, not a regular file, not owned by root, or
// writable by group or others. The daemon runs as root and the managed
// preferences override its configuration, so whoever can write this file
// controls the sensor. It is rootfile.ErrUnsafe: the same checks serve the
// daemon's configuration and rule files.
var ErrUnsafeFile = rootfile.ErrUnsafe

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
// dictionary, after checking that the file is safe to trust (rootfile.Read:
// opened once with O_NOFOLLOW, checked on the descriptor, read from it): a
// regular file, owned by root unless opt.SkipOwnerCheck, not writable by
// group or others, at most MaxPreferencesSize bytes.
func ReadPreferences(path string, opt ReadOptions) (map[string]any, error) {
	data, err := rootfile.Read(path, rootfile.Options{AnyOwner: opt.SkipOwnerCheck, MaxSize: MaxPreferencesSize})
	if err != nil {
		return nil, fmt.Errorf("launchd: managed preferences: %w", err)
	}
	prefs, err := decodePreferences(data)
	if err != nil {
		return nil, fmt.Errorf("launchd: managed preferences %q: %w", path, err)
	}
	return prefs, nil
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
