package detect

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// TestAlertExtra: Extra becomes members of the macsensor object, beside
// "truncated" when the line was cut.
func TestAlertExtra(t *testing.T) {
	r, err := SeedRule()
	if err != nil {
		t.Fatal(err)
	}
	ev := &ecs.Event{Timestamp: 1, Has: ecs.HasTimestamp, Process: ecs.Process{Name: "automator", Args: []string{"automator", strings.Repeat("x", 4000)}}}
	a := &Alert{Rule: r, ID: "id", Timestamp: 1, Events: []*ecs.Event{ev}, Extra: []byte(`"workflow":{"path":"/w.workflow"}`)}
	var m struct {
		Macsensor map[string]any `json:"macsensor"`
	}
	for _, c := range []struct {
		cap  int
		want string
	}{{0, `{"workflow":{"path":"/w.workflow"}}`}, {2048, `{"truncated":true,"workflow":{"path":"/w.workflow"}}`}} {
		a.LineCap = c.cap
		line := a.AppendJSON(nil)
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("cap %d: %v in %s", c.cap, err, line)
		}
		if got, _ := json.Marshal(m.Macsensor); string(got) != c.want {
			t.Errorf("cap %d: macsensor = %s, want %s", c.cap, got, c.want)
		}
	}
}
