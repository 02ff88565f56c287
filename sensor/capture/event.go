package capture

import (
	"encoding/json"
	"strconv"

	"github.com/macsensor/macsensor/sensor/ecs"
)

// Shared, never-mutated category and type slices (cap == len).
var (
	catNetwork   = []string{"network"}
	typeProtocol = []string{"protocol", "info"}
)

// Event returns the response as an ECS network event shaped like Elastic
// Defend's macOS DNS "lookup_result" event (endpoint-package
// custom_documentation macos_network_dns_lookup_result.md): the event.*
// fields, @timestamp (the capture time), source (the client),
// destination (the server), network.{transport,type,protocol} and dns.*:
// question.name, question.type, resolved_ip, answers, response_code, id,
// type ("answer"). event.outcome is "success" for NOERROR and "failure"
// otherwise.
//
// The caller adds what the pipeline owns: host.*, agent.*,
// event.{created,sequence,id}, and process.* where it can attribute the
// lookup.
func (d *DNS) Event() *ecs.Event {
	ev := &ecs.Event{
		Timestamp: d.Time,
		Has:       ecs.HasTimestamp,
		Event: ecs.EventMeta{
			Kind:     "event",
			Category: catNetwork,
			Type:     typeProtocol,
			Action:   "lookup_result",
			Dataset:  "endpoint.events.network",
			Module:   "endpoint",
			Outcome:  "failure",
		},
		Network: ecs.Network{Transport: d.Transport},
	}
	if d.RCode == "NOERROR" {
		ev.Event.Outcome = "success"
	}
	if d.Client.IsValid() {
		ev.Source = ecs.Endpoint{IP: d.Client.Addr().String(), Port: int64(d.Client.Port())}
		ev.Has |= ecs.HasSourcePort
		if d.Client.Addr().Unmap().Is4() {
			ev.Network.Type = "ipv4"
		} else {
			ev.Network.Type = "ipv6"
		}
	}
	if d.Server.IsValid() {
		ev.Destination = ecs.Endpoint{IP: d.Server.Addr().String(), Port: int64(d.Server.Port())}
		ev.Has |= ecs.HasDestinationPort
	}
	fs := make(ecs.Fields, 0, 9)
	fs.Set("network.protocol", ecs.String("dns"))
	fs.Set("dns.type", ecs.String("answer"))
	fs.Set("dns.id", ecs.String(strconv.Itoa(int(d.ID))))
	fs.Set("dns.question.name", ecs.String(d.Question))
	fs.Set("dns.question.type", ecs.String(d.QType))
	fs.Set("dns.response_code", ecs.String(d.RCode))
	if len(d.ResolvedIPs) > 0 {
		ips := make([]string, len(d.ResolvedIPs))
		for i, ip := range d.ResolvedIPs {
			ips[i] = ip.String()
		}
		fs.Set("dns.resolved_ip", ecs.Strings(ips))
	}
	if len(d.Answers) > 0 {
		fs.Set("dns.answers", ecs.Value{Kind: ecs.KindRaw, Str: answersJSON(d.Answers)})
	}
	ev.Fields = fs
	return ev
}

// answerJSON is the ECS dns.answers object.
type answerJSON struct {
	Name  string `json:"name"`
	Type  string `json:"type"`
	Class string `json:"class"`
	Data  string `json:"data,omitempty"`
	TTL   uint32 `json:"ttl"`
}

func answersJSON(as []Answer) string {
	out := make([]answerJSON, len(as))
	for i, a := range as {
		out[i] = answerJSON(a)
	}
	b, err := json.Marshal(out)
	if err != nil { // cannot happen: strings and integers only
		return "[]"
	}
	return string(b)
}
