package capture

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/gopacket/gopacket/layers"
	"github.com/macsensor/macsensor/sensor/ecs"
)

func decodedChain(t *testing.T) *DNS {
	t.Helper()
	f := frame(t, pkt{link: layers.LinkTypeEthernet, src: ap("192.0.2.53:53"), dst: ap("192.0.2.10:41234"), udp: true, payload: cnameChainMsg()})
	var d Decoded
	if err := DecodeFrame(layers.LinkTypeEthernet, f, ts0, &d); err != nil || d.Kind != KindDNS {
		t.Fatalf("kind %d, err %v", d.Kind, err)
	}
	return &d.DNS
}

func TestDNSEventFields(t *testing.T) {
	ev := decodedChain(t).Event()
	if ev.Timestamp != ts0 || ev.Has&ecs.HasTimestamp == 0 {
		t.Errorf("@timestamp %d", ev.Timestamp)
	}
	wantMeta := ecs.EventMeta{Kind: "event", Category: []string{"network"}, Type: []string{"protocol", "info"},
		Action: "lookup_result", Dataset: "endpoint.events.network", Module: "endpoint", Outcome: "success"}
	if !reflect.DeepEqual(ev.Event, wantMeta) {
		t.Errorf("event.* %+v", ev.Event)
	}
	if ev.Source != (ecs.Endpoint{IP: "192.0.2.10", Port: 41234}) || ev.Destination != (ecs.Endpoint{IP: "192.0.2.53", Port: 53}) ||
		ev.Has&(ecs.HasSourcePort|ecs.HasDestinationPort) != ecs.HasSourcePort|ecs.HasDestinationPort {
		t.Errorf("source %+v destination %+v", ev.Source, ev.Destination)
	}
	if ev.Network != (ecs.Network{Transport: "udp", Type: "ipv4"}) {
		t.Errorf("network %+v", ev.Network)
	}
	for path, want := range map[string]ecs.Value{
		"network.protocol":  ecs.String("dns"),
		"dns.type":          ecs.String("answer"),
		"dns.id":            ecs.String("4660"),
		"dns.question.name": ecs.String("www.example.com"),
		"dns.question.type": ecs.String("A"),
		"dns.response_code": ecs.String("NOERROR"),
		"dns.resolved_ip":   ecs.Strings([]string{"93.184.216.34", "93.184.216.35"}),
	} {
		if got := ev.Fields.Get(path); !reflect.DeepEqual(got, want) {
			t.Errorf("%s = %+v, want %+v", path, got, want)
		}
	}
	ans := ev.Fields.Get("dns.answers")
	if ans.Kind != ecs.KindRaw {
		t.Fatalf("dns.answers kind %d", ans.Kind)
	}
	var got []map[string]any
	if err := json.Unmarshal([]byte(ans.Str), &got); err != nil {
		t.Fatalf("dns.answers is not JSON: %v: %s", err, ans.Str)
	}
	if len(got) != 4 || got[0]["name"] != "www.example.com" || got[0]["type"] != "CNAME" ||
		got[0]["data"] != "www.example.com.cdn.net" || got[0]["ttl"] != 3600.0 || got[0]["class"] != "IN" {
		t.Errorf("dns.answers %s", ans.Str)
	}
	// Fields stay sorted (ecs.Fields' invariant).
	for i := 1; i < len(ev.Fields); i++ {
		if ev.Fields[i-1].Path >= ev.Fields[i].Path {
			t.Errorf("fields not sorted at %s", ev.Fields[i].Path)
		}
	}
}

func TestDNSEventFailureAndIPv6(t *testing.T) {
	d := &DNS{Time: 5, Client: ap("[2001:db8::1]:5000"), Server: ap("[2001:db8::53]:53"), Transport: "tcp",
		Question: "nx.example", QType: "AAAA", RCode: "NXDOMAIN"}
	ev := d.Event()
	if ev.Event.Outcome != "failure" || ev.Network.Type != "ipv6" || ev.Network.Transport != "tcp" {
		t.Errorf("got %+v %+v", ev.Event, ev.Network)
	}
	if !ev.Fields.Get("dns.resolved_ip").IsNull() || !ev.Fields.Get("dns.answers").IsNull() {
		t.Error("empty answers produced dns.resolved_ip or dns.answers")
	}
}

// The event as the alert and event logs write it (ecs.AppendJSON).
func TestDNSEventGolden(t *testing.T) {
	got := decodedChain(t).Event().AppendJSON(nil)
	var pretty bytes.Buffer
	if err := json.Indent(&pretty, got, "", "  "); err != nil {
		t.Fatalf("invalid JSON: %v: %s", err, got)
	}
	pretty.WriteByte('\n')
	path := filepath.Join("testdata", "dns_event.golden.json")
	if *update {
		if err := os.WriteFile(path, pretty.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create)", err)
	}
	if !bytes.Equal(pretty.Bytes(), want) {
		t.Errorf("event JSON changed:\n%s\nwant:\n%s", pretty.Bytes(), want)
	}
}
