package detect

import (
	"reflect"
	"testing"
	"unsafe"

	"github.com/macsensor/macsensor/sensor/ecs"
)

func TestCloneEventSharesNothing(t *testing.T) {
	// Strings that alias a buffer the caller will overwrite, as a zero-copy
	// decoder would hand out.
	buf := []byte("processstartautomator-a-bhost1pathnested")
	alias := func(i, j int) string { return unsafe.String(&buf[i], j-i) }
	ev := &ecs.Event{Timestamp: 42, Has: ecs.HasTimestamp | ecs.HasPID}
	ev.Event.Category = []string{alias(0, 7)}
	ev.Event.Type = []string{alias(7, 12)}
	ev.Process.Name = alias(12, 21)
	ev.Process.Args = []string{alias(12, 21), alias(21, 23), alias(23, 25)}
	ev.Process.PID = 7
	ev.Host.ID = alias(25, 30)
	ev.Fields = ecs.Fields{
		{Path: "file.path", Value: ecs.String(alias(30, 34))},
		{Path: "x.list", Value: ecs.Value{Kind: ecs.KindList, List: []ecs.Value{ecs.String(alias(34, 40)), ecs.Int(3)}}},
		{Path: "x.strs", Value: ecs.Strings([]string{alias(0, 7), alias(30, 34)})},
	}
	want := &ecs.Event{Timestamp: 42, Has: ecs.HasTimestamp | ecs.HasPID}
	want.Event.Category = []string{"process"}
	want.Event.Type = []string{"start"}
	want.Process.Name = "automator"
	want.Process.Args = []string{"automator", "-a", "-b"}
	want.Process.PID = 7
	want.Host.ID = "host1"
	want.Fields = ecs.Fields{
		{Path: "file.path", Value: ecs.String("path")},
		{Path: "x.list", Value: ecs.Value{Kind: ecs.KindList, List: []ecs.Value{ecs.String("nested"), ecs.Int(3)}}},
		{Path: "x.strs", Value: ecs.Strings([]string{"process", "path"})},
	}

	c := cloneEvent(ev)
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("clone = %+v\nwant    %+v", c, want)
	}
	for i := range buf {
		buf[i] = '#'
	}
	ev.Process.Args[0] = "changed"
	ev.Fields[1].Value.List[0] = ecs.Int(9)
	ev.Event.Category[0] = "changed"
	if !reflect.DeepEqual(c, want) {
		t.Errorf("clone changed with the original: %+v", c)
	}
}

func TestCloneEventEmpty(t *testing.T) {
	ev := &ecs.Event{Timestamp: 1}
	if c := cloneEvent(ev); !reflect.DeepEqual(c, ev) || c == ev {
		t.Errorf("clone of an empty event = %+v", c)
	}
}
