package detect

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// DefaultLineCap is the default size limit of one alert line (forwarders'
// default line limits are 8-32 KiB).
const DefaultLineCap = 32 << 10

// Alert is one detection: a rule and the events that matched it, in order.
// It is built by the engine and handed to Options.OnAlert; it is only valid
// during that call (the events are the engine's and the caller's), so
// encode it there with AppendJSON.
type Alert struct {
	Rule      *Rule
	ID        string       // event.id: derived from the rule and the matched events
	Timestamp int64        // @timestamp: the completing event's, Unix ns
	Created   time.Time    // event.created: from Options.Now
	Events    []*ecs.Event // the matched events, in order
	LineCap   int          // the encoded line's limit in bytes; ≤ 0: none
	// Agent is the agent that ran the detection (the daemon, or the
	// replaying command): the alert's agent.*. nil: the last event's.
	Agent *ecs.Agent
	// Responses are the response actions taken for this alert, written
	// as Elastic Defend's Responses[].
	Responses []Response
	// Extra holds members of the alert's "macsensor" object added by the
	// caller (raw JSON without braces, e.g. `"workflow":{...}`), written
	// after "truncated".
	Extra []byte
}

// Response is one response action and its outcome, as Elastic Defend
// records it in an alert's Responses[] (the endpoint package's alerts
// fields: Responses.@timestamp, .action.action, .action.field,
// .action.state, .action.tree, .process.*, .result, .message).
type Response struct {
	Timestamp int64  // Responses.@timestamp: when the action was taken, Unix ns
	Action    string // Responses.action.action, e.g. "kill_process"
	Field     string // Responses.action.field: "process.entity_id"
	State     int    // Responses.action.state: the index in Events of the event acted on
	// Process the action was aimed at (Responses.process.*).
	PID      int64
	EntityID string
	Name     string
	// Result is Responses.result: 0 success, otherwise the errno of the
	// failure (or -1 when the action was refused before any system call).
	Result  int
	Message string // Responses.message: what happened, in words
}

// Alert document constants: the alert is written as an Elastic Defend
// alert (docs/FORWARDING.md, "Elastic Security") so that Elastic's
// prebuilt "Endpoint Security" promotion rule (query `event.kind:alert and
// event.module:(endpoint and not endgame)`, index logs-endpoint.alerts-*)
// raises it.
const (
	AlertModule    = "endpoint"
	AlertDataset   = "endpoint.alerts"
	AlertNamespace = "default"
)

// The rule.ruleset values (Rule.Ruleset).
const (
	RulesetBuiltin = "macsensor-builtin" // compiled into the binary
	RulesetQuery   = "macsensor-query"   // an ad-hoc query (replay --query)
	RulesetFile    = "file:"             // + the rule file's path
)

// alertID derives a stable event.id from the rule and the matched events,
// so that replaying the same input gives the same ids (golden files).
func alertID(r *Rule, evs []*ecs.Event) string {
	h := sha256.New()
	var b [8]byte
	h.Write([]byte(r.ID))
	h.Write([]byte{0})
	h.Write([]byte(r.Version))
	for _, e := range evs {
		h.Write([]byte{0})
		binary.BigEndian.PutUint64(b[:], uint64(e.Timestamp))
		h.Write(b[:])
		binary.BigEndian.PutUint64(b[:], uint64(e.Event.Sequence))
		h.Write(b[:])
		h.Write([]byte(e.Event.ID))
		h.Write([]byte{0})
		h.Write([]byte(e.Process.EntityID))
		h.Write([]byte{0})
		h.Write([]byte(e.Host.ID))
	}
	var sum [sha256.Size]byte
	return hex.EncodeToString(h.Sum(sum[:0])[:16])
}

// severityScore is the number Elastic Endpoint writes in event.severity for
// a rule severity (and the risk score Elastic's rules pair with it).
func severityScore(s string) int {
	switch s {
	case "low":
		return 21
	case "medium":
		return 47
	case "high":
		return 73
	case "critical":
		return 99
	}
	return 21
}

// AppendJSON appends the alert as one line of ECS JSON (no newline) shaped
// like an Elastic Endpoint behavior alert, keys in a fixed order. When the
// line would exceed LineCap it cuts process.args and process.command_line of
// the matched events, largest first, flags each cut event with
// process.Ext.command_line_truncated and the alert with
// macsensor.truncated; if cutting arguments is not enough it drops the
// events' fields outside the typed ECS struct as well. A line is never
// split.
func (a *Alert) AppendJSON(dst []byte) []byte {
	start := len(dst)
	line := a.appendJSON(dst, a.Events, false)
	if a.LineCap <= 0 || len(line)-start <= a.LineCap {
		return line
	}
	evs := make([]*ecs.Event, len(a.Events))
	for i, e := range a.Events {
		c := *e
		evs[i] = &c
	}
	for {
		over := len(line) - start - a.LineCap
		if over <= 0 {
			return line
		}
		i := largestArgs(evs)
		if i < 0 {
			break
		}
		cutArgs(evs[i], over+64)
		line = a.appendJSON(line[:start], evs, true)
	}
	for len(line)-start > a.LineCap {
		i := -1
		for j, e := range evs {
			if len(e.Fields) > 0 && (i < 0 || len(e.Fields) > len(evs[i].Fields)) {
				i = j
			}
		}
		if i < 0 {
			break // nothing left to cut: the line goes out whole, over the cap
		}
		evs[i].Fields = nil
		line = a.appendJSON(line[:start], evs, true)
	}
	return line
}

// argsSize is what cutArgs can remove from an event.
func argsSize(e *ecs.Event) int {
	n := len(e.Process.CommandLine)
	for _, s := range e.Process.Args {
		n += len(s)
	}
	return n
}

func largestArgs(evs []*ecs.Event) int {
	best, size := -1, 0
	for i, e := range evs {
		if n := argsSize(e); n > size {
			best, size = i, n
		}
	}
	return best
}

// cutArgs removes at least need bytes (or everything) from the event's
// command line and arguments: the command line first (it repeats the
// arguments), then the arguments from the last one backwards. Cuts fall on
// UTF-8 boundaries. e is the alert's own shallow copy: its slices are
// replaced, never written through.
func cutArgs(e *ecs.Event, need int) {
	p := &e.Process
	p.ArgsTruncated = true
	e.Has |= ecs.HasArgsTruncated
	if n := len(p.CommandLine); n > 0 {
		keep := utf8Cut(p.CommandLine, max(n-need, 0))
		need -= n - len(keep)
		p.CommandLine = keep
		if need <= 0 {
			return
		}
	}
	args := append([]string(nil), p.Args...)
	for i := len(args) - 1; i >= 0 && need > 0; i-- {
		n := len(args[i])
		if n <= need {
			need -= n
			args = args[:i]
			continue
		}
		args[i] = utf8Cut(args[i], n-need)
		need = 0
	}
	if len(args) == 0 {
		args = nil // no "args":[] left behind
	}
	p.Args = args
}

// utf8Cut returns the longest prefix of s of at most n bytes that does not
// end inside a UTF-8 sequence.
func utf8Cut(s string, n int) string {
	if n >= len(s) {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func (a *Alert) appendJSON(dst []byte, evs []*ecs.Event, truncated bool) []byte {
	r := a.Rule
	last := evs[len(evs)-1]
	b := append(dst, `{"@timestamp":"`...)
	b = ecs.AppendTime(b, a.Timestamp)
	b = append(b, '"')
	ag := a.Agent
	if ag == nil {
		ag = &last.Agent
	}
	if ag.ID != "" || ag.Type != "" || ag.Version != "" || ag.Name != "" {
		b = append(b, `,"agent":{`...)
		o := object{b: b}
		o.str("id", ag.ID)
		o.str("name", ag.Name)
		o.str("type", ag.Type)
		o.str("version", ag.Version)
		b = append(o.b, '}')
	}
	b = append(b, `,"data_stream":{"dataset":"`+AlertDataset+`","namespace":"`+AlertNamespace+`","type":"logs"}`...)
	b = append(b, `,"ecs":{"version":"9.4.0"}`...)
	b = append(b, `,"event":{"action":"rule_detection","category":["malware","intrusion_detection"],"code":"behavior","created":"`...)
	b = ecs.AppendTime(b, a.Created.UnixNano())
	b = append(b, `","dataset":"`+AlertDataset+`","id":`...)
	b = ecs.AppendString(b, a.ID)
	b = append(b, `,"kind":"alert","module":"`+AlertModule+`","outcome":"success","risk_score":`...)
	risk := r.RiskScore
	if risk <= 0 {
		risk = severityScore(r.Severity)
	}
	b = strconv.AppendInt(b, int64(risk), 10)
	if last.Has&ecs.HasSequence != 0 {
		// Defend numbers its alerts in its event stream; macsensor's alert
		// takes the sequence of the event that completed it, which keeps
		// replay deterministic and orders the alert with its events.
		b = append(b, `,"sequence":`...)
		b = strconv.AppendInt(b, last.Event.Sequence, 10)
	}
	b = append(b, `,"severity":`...)
	b = strconv.AppendInt(b, int64(severityScore(r.Severity)), 10)
	b = append(b, `,"type":["info","allowed"]}`...)
	b = appendHost(b, &last.Host)
	b = append(b, `,"message":`...)
	b = ecs.AppendString(b, "Malicious Behavior Detection Alert: "+r.Name)
	b = appendProcess(b, last)
	b = append(b, `,"rule":{`...)
	o := object{b: b}
	o.strs("author", r.Author)
	o.str("description", r.Description)
	o.str("id", r.ID)
	o.str("license", r.License)
	o.str("name", r.Name)
	o.strs("reference", r.References)
	o.str("ruleset", r.Ruleset())
	o.str("uuid", r.ID)
	o.str("version", r.Version)
	b = append(o.b, '}')
	if len(r.Threat) > 0 {
		b = appendThreat(b, r.Threat)
	}
	if last.User.ID != "" || last.User.Name != "" {
		b = append(b, `,"user":{`...)
		o := object{b: b}
		o.str("id", last.User.ID)
		o.str("name", last.User.Name)
		b = append(o.b, '}')
	}
	b = append(b, `,"Events":[`...)
	stages := r.stageOfEvents(len(evs))
	for i, e := range evs {
		if i > 0 {
			b = append(b, ',')
		}
		b = e.AppendJSON(b)
		if stages != nil {
			// Defend's Events[]._label and _state: the sequence stage the
			// event matched (EQL stages have no names: the label is the
			// stage's 0-based number, as Defend's action `state` counts).
			b = b[:len(b)-1]
			if b[len(b)-1] != '{' {
				b = append(b, ',')
			}
			b = append(b, `"_label":"stage_`...)
			b = strconv.AppendInt(b, int64(stages[i]), 10)
			b = append(b, `","_state":`...)
			b = strconv.AppendInt(b, int64(stages[i]), 10)
			b = append(b, '}')
		}
	}
	b = append(b, ']')
	if len(a.Responses) > 0 {
		b = appendResponses(b, a.Responses)
	}
	if truncated || len(a.Extra) > 0 {
		b = append(b, `,"macsensor":{`...)
		if truncated {
			b = append(b, `"truncated":true`...)
			if len(a.Extra) > 0 {
				b = append(b, ',')
			}
		}
		b = append(b, a.Extra...)
		b = append(b, '}')
	}
	return append(b, '}')
}

// appendProcess writes the alert's top-level process: the full copy of the
// triggering event's process (typed fields and every other process.* field
// the event carries, such as process.code_signature), as Defend does. It is
// cut from the event's own encoding, so it is the same object as the one in
// Events[] whatever fields the event struct gains.
func appendProcess(b []byte, last *ecs.Event) []byte {
	enc := last.AppendJSON(make([]byte, 0, 2048))
	v := topLevelMember(enc, "process")
	if v == nil {
		return b
	}
	b = append(b, `,"process":`...)
	return append(b, v...)
}

// topLevelMember returns the value of key in the JSON object obj (as
// ecs.Event.AppendJSON writes it: valid, compact), or nil.
func topLevelMember(obj []byte, key string) []byte {
	i := 1 // after '{'
	for i < len(obj) && obj[i] == '"' {
		ks := i + 1
		i = skipString(obj, i)
		k := obj[ks : i-1]
		i++ // ':'
		vs := i
		i = skipValue(obj, i)
		if string(k) == key {
			return obj[vs:i]
		}
		if i < len(obj) && obj[i] == ',' {
			i++
		}
	}
	return nil
}

// skipString returns the index after the string starting at obj[i] ('"').
func skipString(obj []byte, i int) int {
	for i++; i < len(obj); i++ {
		switch obj[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(obj)
}

// skipValue returns the index after the value starting at obj[i].
func skipValue(obj []byte, i int) int {
	depth := 0
	for i < len(obj) {
		switch c := obj[i]; c {
		case '"':
			i = skipString(obj, i)
			if depth == 0 {
				return i
			}
			continue
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		}
		i++
	}
	return i
}

// appendResponses writes Responses[] as the endpoint package maps it.
func appendResponses(b []byte, rs []Response) []byte {
	b = append(b, `,"Responses":[`...)
	for i := range rs {
		x := &rs[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"@timestamp":"`...)
		b = ecs.AppendTime(b, x.Timestamp)
		b = append(b, `","action":{"action":`...)
		b = ecs.AppendString(b, x.Action)
		if x.Field != "" {
			b = append(b, `,"field":`...)
			b = ecs.AppendString(b, x.Field)
		}
		b = append(b, `,"state":`...)
		b = strconv.AppendInt(b, int64(x.State), 10)
		b = append(b, `,"tree":false}`...)
		b = append(b, `,"message":`...)
		b = ecs.AppendString(b, x.Message)
		b = append(b, `,"process":{`...)
		o := object{b: b}
		o.str("entity_id", x.EntityID)
		o.str("name", x.Name)
		o.int("pid", x.PID)
		b = append(o.b, `},"result":`...)
		b = strconv.AppendInt(b, int64(x.Result), 10)
		b = append(b, '}')
	}
	return append(b, ']')
}

func appendHost(b []byte, h *ecs.Host) []byte {
	hos := &h.OS
	hasOS := hos.Type != "" || hos.Name != "" || hos.Version != "" || hos.Kernel != "" || hos.Family != "" || hos.Platform != "" || hos.Full != ""
	if h.ID == "" && h.Name == "" && h.Hostname == "" && h.Architecture == "" && !hasOS {
		return b
	}
	b = append(b, `,"host":{`...)
	o := object{b: b}
	o.str("architecture", h.Architecture)
	o.str("hostname", h.Hostname)
	o.str("id", h.ID)
	o.str("name", h.Name)
	if hasOS {
		o.key("os")
		b = append(o.b, '{')
		oo := object{b: b}
		oo.str("family", hos.Family)
		oo.str("full", hos.Full)
		oo.str("kernel", hos.Kernel)
		oo.str("name", hos.Name)
		oo.str("platform", hos.Platform)
		oo.str("type", hos.Type)
		oo.str("version", hos.Version)
		o.b = append(oo.b, '}')
	}
	return append(o.b, '}')
}

func appendThreat(b []byte, ts []Threat) []byte {
	b = append(b, `,"threat":[`...)
	for i := range ts {
		t := &ts[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		o := object{b: b}
		o.str("framework", t.Framework)
		if t.Tactic != (Tactic{}) {
			o.key("tactic")
			o.b = appendRef(o.b, t.Tactic.ID, t.Tactic.Name, t.Tactic.Reference)
		}
		if len(t.Technique) > 0 {
			o.key("technique")
			o.b = append(o.b, '[')
			for j := range t.Technique {
				tq := &t.Technique[j]
				if j > 0 {
					o.b = append(o.b, ',')
				}
				o.b = appendRef(o.b, tq.ID, tq.Name, tq.Reference)
				if len(tq.Subtechnique) > 0 {
					o.b = o.b[:len(o.b)-1] // reopen the technique object
					o.b = append(o.b, `,"subtechnique":[`...)
					for k := range tq.Subtechnique {
						st := &tq.Subtechnique[k]
						if k > 0 {
							o.b = append(o.b, ',')
						}
						o.b = appendRef(o.b, st.ID, st.Name, st.Reference)
					}
					o.b = append(o.b, "]}"...)
				}
			}
			o.b = append(o.b, ']')
		}
		b = append(o.b, '}')
	}
	return append(b, ']')
}

func appendRef(b []byte, id, name, ref string) []byte {
	b = append(b, '{')
	o := object{b: b}
	o.str("id", id)
	o.str("name", name)
	o.str("reference", ref)
	return append(o.b, '}')
}

// object writes the members of a JSON object whose '{' is already written,
// skipping empty values.
type object struct {
	b []byte
	n int
}

func (o *object) key(k string) {
	if o.n > 0 {
		o.b = append(o.b, ',')
	}
	o.n++
	o.b = append(o.b, '"')
	o.b = append(o.b, k...)
	o.b = append(o.b, `":`...)
}

func (o *object) str(k, v string) {
	if v == "" {
		return
	}
	o.key(k)
	o.b = ecs.AppendString(o.b, v)
}

func (o *object) strs(k string, v []string) {
	if len(v) == 0 {
		return
	}
	o.key(k)
	o.b = append(o.b, '[')
	for i, s := range v {
		if i > 0 {
			o.b = append(o.b, ',')
		}
		o.b = ecs.AppendString(o.b, s)
	}
	o.b = append(o.b, ']')
}

func (o *object) int(k string, v int64) {
	o.key(k)
	o.b = strconv.AppendInt(o.b, v, 10)
}
