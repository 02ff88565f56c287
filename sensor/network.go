package sensor

import (
	"strconv"

	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/socket"
)

// connState is what the sensor keeps of a live connection until it
// vanishes: enough to write its end event.
type connState struct {
	gen     uint32
	inbound bool
	proc    *process // nil when unattributed
	lastPID int32
	ePID    int32
	uid     uint32
	// silent: learned at start-up without a start event, so it ends
	// without an end event too.
	silent bool
}

const (
	protoTCP = 6
	protoUDP = 17
)

// isConnection reports whether c is a connection rather than state: a TCP
// socket with a peer that is neither listening nor closed, or a connected
// UDP socket. LISTEN and unconnected UDP sockets are state (DESIGN.md).
func isConnection(c *socket.Conn) bool {
	if c.Remote.Port() == 0 {
		return false
	}
	switch c.Proto {
	case protoTCP:
		return c.State != socket.Listen && c.State != socket.Closed
	case protoUDP:
		return true
	}
	return false
}

// PollSockets lists the socket table, diffs it against the previous one and
// appends to dst a start event for every new (5-tuple, owner) and an end
// event (disconnect_received) for every one that vanished.
//
// When there are new connections, the process table is read once more
// right after the socket snapshot and before they are attributed: a process
// that started since the last process poll then has its start event
// before its network event, and one that called exec in place is
// attributed under its new name, its exec event first. The poll's network
// events are stamped with the time of that process read (they were
// observed by then), so that they sort after the exec events it found,
// which are stamped with it too but numbered earlier.
func (s *Sensor) PollSockets(dst []*ecs.Event) ([]*ecs.Event, error) {
	t0 := s.opt.Now()
	snap := t0.UnixNano()
	conns, err := s.socks.List(s.connBuf[:0])
	if err != nil {
		return dst, err
	}
	s.connBuf = conns
	s.stats.SocketPolls++
	s.gen++
	gen := s.gen
	for i := range conns {
		c := &conns[i]
		if c.Proto == protoTCP && c.State == socket.Listen {
			s.listen[c.Local.Port()] = gen
		}
	}
	// The first poll learns the connections that already exist, as the
	// first process poll learns the processes (unless EmitExisting).
	learn := !s.sockPrimed && !s.opt.EmitExisting
	s.sockPrimed = true
	// One pass over the table: known connections are marked seen, new ones
	// set aside to be attributed after the process read below.
	s.fresh = s.fresh[:0]
	for i := range conns {
		c := &conns[i]
		if !isConnection(c) {
			continue
		}
		k := connKey{local: c.Local, remote: c.Remote, owner: c.Owner(), proto: c.Proto}
		if st, ok := s.conns[k]; ok {
			st.gen = gen
			s.conns[k] = st
			continue
		}
		if learn {
			s.conns[k] = connState{gen: gen, silent: true}
			continue
		}
		s.fresh = append(s.fresh, i)
	}
	if len(s.fresh) > 0 {
		s.stats.Refreshes++
		if dst, err = s.pollProcesses(dst); err != nil {
			s.settleSignatures()
			return dst, err
		}
		snap = s.lastProcSnap
	}
	for _, i := range s.fresh {
		c := &conns[i]
		owner := c.Owner()
		k := connKey{local: c.Local, remote: c.Remote, owner: owner, proto: c.Proto}
		if _, dup := s.conns[k]; dup {
			continue // the same 5-tuple and owner listed twice
		}
		var p *process
		if owner > 0 {
			if p = s.lookup(owner); p == nil {
				p = s.recentlyGone(owner)
			}
			if p != nil && !s.detail(p) {
				p = nil
			}
		}
		st := connState{gen: gen, proc: p, lastPID: c.LastPID, ePID: c.EPID, uid: c.UID}
		_, st.inbound = s.listen[c.Local.Port()]
		st.inbound = st.inbound && c.Proto == protoTCP
		s.conns[k] = st
		if p == nil {
			s.stats.Unattributed++
			if owner <= 0 {
				// No owner (Linux TIME_WAIT, a socket no fd holds): state
				// of the kernel, not an action of a process.
				continue
			}
		}
		dst = append(dst, s.netEvent(&k, &st, snap, false))
	}
	for k, st := range s.conns {
		if st.gen == gen {
			continue
		}
		delete(s.conns, k)
		if st.silent || st.proc == nil && k.owner <= 0 {
			continue
		}
		dst = append(dst, s.netEvent(&k, &st, snap, true))
	}
	for port, g := range s.listen {
		if g != gen {
			delete(s.listen, port)
		}
	}
	s.lastSockSnap = snap
	s.settleSignatures()
	s.stats.LastSocketDur = s.opt.Now().Sub(t0)
	return dst, nil
}

// netEvent builds a network event. Source is the connection's initiator
// (ECS): the local end of an outbound connection, the peer of an inbound one.
func (s *Sensor) netEvent(k *connKey, st *connState, snap int64, end bool) *ecs.Event {
	typ, action := typeStart, "connection_attempted"
	if st.inbound {
		action = "connection_accepted"
	}
	if end {
		typ, action = typeEnd, "disconnect_received"
	}
	ev := s.newEvent(snap, snap, catNetwork, typ, action, "endpoint.events.network")
	local := ecs.Endpoint{IP: k.local.Addr().String(), Port: int64(k.local.Port())}
	remote := ecs.Endpoint{IP: k.remote.Addr().String(), Port: int64(k.remote.Port())}
	if st.inbound {
		ev.Source, ev.Destination = remote, local
		ev.Network.Direction = "ingress"
	} else {
		ev.Source, ev.Destination = local, remote
		ev.Network.Direction = "egress"
	}
	ev.Has |= ecs.HasSourcePort | ecs.HasDestinationPort
	if k.proto == protoTCP {
		ev.Network.Transport = "tcp"
	} else {
		ev.Network.Transport = "udp"
	}
	if k.local.Addr().Is4() {
		ev.Network.Type = "ipv4"
	} else {
		ev.Network.Type = "ipv6"
	}
	if st.proc != nil {
		s.fillProcess(ev, st.proc)
		s.signEvent(ev, &st.proc.sig, st.proc.executable, nil, "", false)
	} else {
		ev.Process.PID = int64(k.owner)
		ev.Has |= ecs.HasPID
		ev.User.ID = strconv.FormatUint(uint64(st.uid), 10)
	}
	// Both pids the kernel records for the socket (xnu so_last_pid and
	// so_e_pid, bsd/sys/socketvar.h): process.* is the effective owner,
	// which differs from the last pid for a delegated socket.
	ev.Fields = ecs.Fields{
		{Path: "process.Ext.socket.effective_pid", Value: ecs.Int(int64(st.ePID))},
		{Path: "process.Ext.socket.last_pid", Value: ecs.Int(int64(st.lastPID))},
	}
	if end {
		s.stats.EndEvents++
	} else {
		s.stats.NetworkEvents++
	}
	return ev
}
