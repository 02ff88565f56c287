package eql

import (
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// TestPairFilterExact requires a list of patterns to match with the pair
// filter exactly the values it matches pattern by pattern: values built
// from the patterns' pieces, bent (case, folding siblings ſ and the Kelvin
// sign, invalid bytes, `?` positions, cut and joined), with and without
// folding.
func TestPairFilterExact(t *testing.T) {
	lists := [][]string{
		{"*/dev/tcp/*", "*/dev/udp/*", "*zsh/net/tcp*", "*zsh/net/udp*"},
		{"*get po*", "*--as *", "*--as=*", "*port-forward* ", "x*y?z*"},
		{"/tmp/*", "*.sh", "*ks*"},
		{"*a?b*", "*sk*", "s*k"},
		{"*", "*ab*"}, // a pattern without a piece: no filter
	}
	rng := rand.New(rand.NewPCG(3, 5))
	bend := func(s string) string {
		for k := rng.IntN(4); k > 0; k-- {
			switch rng.IntN(8) {
			case 0:
				s = strings.ToUpper(s)
			case 1:
				s = strings.NewReplacer("s", "ſ", "k", "\u212a", "S", "ſ").Replace(s)
			case 2:
				if len(s) > 1 {
					i := rng.IntN(len(s))
					s = s[:i] + "\xff" + s[i:]
				}
			case 3:
				if len(s) > 1 {
					s = s[rng.IntN(len(s)):]
				}
			case 4:
				if len(s) > 1 {
					s = s[:rng.IntN(len(s))]
				}
			case 5:
				s = "zz/" + s + " q"
			case 6:
				s = strings.ReplaceAll(s, "?", string(rune('a'+rng.IntN(26))))
			case 7:
				s = strings.ReplaceAll(s, "*", "")
			}
		}
		return s
	}
	checked, matched := 0, 0
	for _, list := range lists {
		for _, fold := range []bool{false, true} {
			var lits []ecs.Value
			var ws []*wildcard
			for _, p := range list {
				lits = append(lits, ecs.String(p))
				ws = append(ws, compileWildcard(p, fold))
			}
			pred := likePred(lits, fold)
			for range 4000 {
				s := bend(list[rng.IntN(len(list))])
				if rng.IntN(3) == 0 {
					s += bend(list[rng.IntN(len(list))])
				}
				want := false
				for _, w := range ws {
					want = want || w.match(s)
				}
				if got := pred.str(s); got != want {
					t.Fatalf("fold %v, patterns %q, value %q: got %v, want %v", fold, list, s, got, want)
				}
				checked++
				if want {
					matched++
				}
			}
		}
	}
	if matched < 1000 || checked-matched < 1000 {
		t.Fatalf("%d of %d values match: the test checks too little one way", matched, checked)
	}
	if newPairFilter([]*wildcard{compileWildcard("*", true), compileWildcard("*ab*", true)}, true) != nil {
		t.Fatal("a pattern without a piece to filter on got a filter")
	}
	if newPairFilter([]*wildcard{compileWildcard("*dev*", true), compileWildcard("*ab*", true)}, true) == nil {
		t.Fatal("no filter for patterns with pieces")
	}
}
