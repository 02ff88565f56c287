package eql

import (
	"math/rand/v2"
	"regexp"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/macsensor/macsensor/sensor/ecs"
)

func flatCost(keys []Key) float64 { return float64(len(keys)) }

func TestIndexKeys(t *testing.T) {
	tests := []struct {
		cond string
		want string // keys joined by "; ", "-" when none, "never" when empty
	}{
		{`process.name == "a*"`, `process.name == "a*"`},
		{`"x" == process.name`, `process.name == "x"`},
		{`process.name in ("a", 5, true, null)`, `process.name == "a"; process.name == "5"; process.name == "true"`},
		{`process.name in~ ("Straße", "k")`, `process.name ==~ "STRAßE"; process.name ==~ "K"`},
		{`process.name : ("ab*", "*yz", "*mid*", "x?z", "exact")`,
			`process.name prefix~ "AB"; process.name suffix~ "YZ"; process.name contains~ "MID"; process.name prefix~ "X"; process.name ==~ "EXACT"`},
		{`process.name like ("/tmp/*", "/*/.*")`, `process.name prefix "/tmp/"; process.name prefix "/"`}, // no run of 3 inside
		{`process.name like ("/tmp/*", "*/.ssh/*")`, `process.name prefix "/tmp/"; process.name contains "/.ssh/"`},
		{`process.name : "*"`, `-`},
		{`process.name != "a"`, `-`},
		{`not process.name == "a"`, `-`},
		{`process.name == null`, `-`},
		{`process.pid == 5`, `-`}, // a typed number: not indexed
		{`process.name regex "a.*"`, `process.name prefix "a"`},
		{`process.executable regex~ "/[a-z0-9\\s_\\-\\\\./]+\\s"`, // Masquerading Space After Filename
			`process.executable prefix "/"`}, // flatCost: one key beats six
		{`process.name regex ".*[ \t]"`, `process.name suffix "\t"; process.name suffix " "`},
		{`process.name regex~ "a.*b"`, `process.name prefix "A"; process.name prefix "a"`},
		{`process.name regex~ "k.*"`, `-`},    // k folds onto U+212A
		{`process.name regex "[a-z].*"`, `-`}, // 26 first bytes
		{`process.name regex "a*b"`, `process.name suffix "b"`},
		{`process.name regex ".*é"`, `-`},
		{`process.name regex ("a.*", "b.*")`, `process.name prefix "a"; process.name prefix "b"`},
		{`startsWith(process.name, "a")`, `-`},
		{`process.name == "a" or process.executable : "/B"`, `process.name == "a"; process.executable ==~ "/B"`},
		{`process.name == "a" or process.pid == 5`, `-`},
		{`host.os.type == "macos" and process.name in ("a", "b")`, `host.os.type == "macos"`}, // flatCost: fewest keys
		{`false`, `never`},
		{`process.name == "a" and false`, `never`},
		{`true`, `-`},
		{`?foo.bar : "x*"`, `foo.bar prefix~ "X"`},
	}
	for _, tc := range tests {
		q, err := Parse("process where " + tc.cond)
		if err != nil {
			t.Fatalf("%s: %v", tc.cond, err)
		}
		if _, err := Compile(q.Event); err != nil {
			t.Fatalf("%s: %v", tc.cond, err)
		}
		keys, ok := IndexKeys(q.Event.Cond, flatCost)
		got := "-"
		if ok {
			var s []string
			for _, k := range keys {
				s = append(s, k.String())
			}
			got = strings.Join(s, "; ")
			if len(keys) == 0 {
				got = "never"
			}
		}
		if got != tc.want {
			t.Errorf("%s: keys %s, want %s", tc.cond, got, tc.want)
		}
	}
}

// TestAppendFoldAgrees checks the eight-byte ASCII path of the folding
// against rune-by-rune canonicalisation.
func TestAppendFoldAgrees(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	alphabet := []string{"a", "Z", "k", "\u212a", "ſ", "É", "é", "/", " ", "\xff", "7", "ǅ", "ß"}
	for i := 0; i < 5000; i++ {
		var b strings.Builder
		for n := rng.IntN(40); n > 0; n-- {
			if rng.IntN(4) == 0 {
				b.WriteString(alphabet[rng.IntN(len(alphabet))])
			} else {
				b.WriteByte(byte(' ' + rng.IntN(95)))
			}
		}
		s := b.String()
		var want []byte
		for j := 0; j < len(s); {
			r, n := utf8.DecodeRuneInString(s[j:])
			if r == utf8.RuneError && n == 1 {
				want = append(want, s[j])
			} else {
				want = utf8.AppendRune(want, canon(r))
			}
			j += n
		}
		if got := AppendFold(nil, s); string(got) != string(want) {
			t.Fatalf("AppendFold(%q) = %q, want %q", s, got, want)
		}
	}
}

// TestRegexEndsAgree checks the first/last-byte filter of regex predicates
// against the regular expression alone: the filter never rejects a match.
func TestRegexEndsAgree(t *testing.T) {
	exprs := []string{
		`(?is)^(?:(?:/[a-z0-9\s_\-\\./]+\s))$`,
		`(?s)^(?:(?:abc)|(?:x.*y))$`,
		`(?is)^(?:(?:k.*))$`,
		`(?s)^(?:(?:a*))$`,
		`(?s)^(?:(?:[0-9]{1,3}\.[0-9]{1,3}))$`,
		`(?is)^(?:(?:.*net1\s+localgroup.*))$`,
		`(?s)^(?:(?:(ab|cd)+e?))$`,
	}
	rng := rand.New(rand.NewPCG(5, 6))
	alphabet := "abcdeKkxy/ \t.-_0123456789\\né"
	for _, e := range exprs {
		re := regexp.MustCompile(e)
		f := asciiEnds(e)
		for i := 0; i < 20000; i++ {
			var b strings.Builder
			for n := rng.IntN(8); n > 0; n-- {
				b.WriteString(string([]rune(alphabet)[rng.IntN(len([]rune(alphabet)))]))
			}
			s := b.String()
			if re.MatchString(s) && !f.accept(s) {
				t.Fatalf("%s: filter rejects %q, which matches", e, s)
			}
		}
	}
	if f := asciiEnds(`(?s)^(?:(?:/[a-z]+\s))$`); !f.ok || f.accept("/usr/bin/x") || !f.accept("/usr ") {
		t.Errorf("filter of /[a-z]+\\s: %+v", f)
	}
}

// TestRegexKeysSound checks the keys of regex and regex~ conditions
// against their compiled predicates on random values: every value a
// condition matches satisfies one of its keys.
func TestRegexKeysSound(t *testing.T) {
	conds := []string{
		`process.name regex~ "/[a-z0-9\\s_\\-\\\\./]+\\s"`,
		`process.name regex ".*[ \t]"`,
		`process.name regex~ "a.*b"`,
		`process.name regex "a*b"`,
		`process.name regex~ "(ab|CD)+e?"`,
		`process.name regex ("x.*", ".*y")`,
		`process.name regex~ "[0-9]{1,3}\\.x"`,
	}
	rng := rand.New(rand.NewPCG(7, 8))
	alphabet := []rune("abcdeABCDEKkxyXY/ \t.-_0123456789\\né\u212a\u017f")
	for _, c := range conds {
		q, err := Parse("process where " + c)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		m, err := Compile(q.Event)
		if err != nil {
			t.Fatalf("%s: %v", c, err)
		}
		keys, ok := IndexKeys(q.Event.Cond, flatCost)
		if !ok || len(keys) == 0 {
			t.Fatalf("%s: no keys", c)
		}
		matched := 0
		for i := 0; i < 50000; i++ {
			var b strings.Builder
			for n := 1 + rng.IntN(7); n > 0; n-- {
				b.WriteRune(alphabet[rng.IntN(len(alphabet))])
			}
			s := b.String()
			ev := &ecs.Event{}
			ev.Event.Category = []string{"process"}
			ev.Process.Name = s
			if !m(ev) {
				continue
			}
			matched++
			hit := false
			for _, k := range keys {
				switch k.Kind {
				case KeyPrefix:
					hit = hit || strings.HasPrefix(s, k.Text)
				case KeySuffix:
					hit = hit || strings.HasSuffix(s, k.Text)
				default:
					t.Fatalf("%s: key %s", c, k)
				}
			}
			if !hit {
				t.Fatalf("%s matches %q, which holds none of the keys %v", c, s, keys)
			}
		}
		if matched == 0 {
			t.Errorf("%s: no random value matched: the test checks nothing", c)
		}
	}
}
