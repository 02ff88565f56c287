package sensor

import (
	"encoding/base64"
	"errors"
	"path"
	"sort"
	"strconv"
	"strings"

	"github.com/macsensor/macsensor/sensor/ecs"
	"github.com/macsensor/macsensor/sensor/proc"
)

// process is what the sensor knows of one live process, identified by
// (pid, start). Details (path, args) are read once, when the process is
// first needed: at its start event, or at its first connection or child.
type process struct {
	pid, ppid   int32
	uid         uint32
	start       int64
	comm        [16]byte
	pgid, sid   int32 // process group and session leaders; 0: unknown
	entityID    string
	detailed    bool
	name        string
	executable  string
	args        []string
	commandLine string
	cwd         string
	truncated   bool
	sig         sigRecord // its executable's code signature (signature.go)

	// pending: known to the sensor (a process event's fork) but its start
	// event not sent yet; it goes out at its exec, or at the next poll
	// that finds it alive, as a poll would have sent it.
	pending bool
	// ended: its end event was sent (or it exited before being announced).
	ended bool
	// parent is the parent as it was at the fork, captured while it was
	// alive: the exec event names it even when the parent has exited and
	// the kernel reparented the child to launchd / init since.
	parent *parentRef
}

// parentRef is a copy of a parent's identity, taken at a fork. It is a
// copy, not a pointer: a chain of processes that each fork and exit would
// otherwise keep every ancestor alive.
type parentRef struct {
	pid         int32
	start       int64
	entityID    string
	name        string
	executable  string
	args        []string
	commandLine string
	sig         sigRecord
}

// EntityID derives process.entity_id from the host id, the pid and the
// kernel start time (Unix ns): base64 of "hostID-pid-start", so the same
// process gets the same id in every event and across sensor restarts.
func EntityID(hostID string, pid int32, start int64) string {
	b := make([]byte, 0, len(hostID)+32)
	b = append(b, hostID...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(pid), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, start, 10)
	return base64.StdEncoding.EncodeToString(b)
}

// PollProcesses lists the process table, diffs it against the previous
// snapshot and appends an exec event for every new process (and every
// same-pid exec) to dst. The first poll only learns the table unless
// Options.EmitExisting is set. With Options.Signatures it waits, at most
// the budget, for the verifications its events need.
func (s *Sensor) PollProcesses(dst []*ecs.Event) ([]*ecs.Event, error) {
	dst, err := s.pollProcesses(dst)
	s.settleSignatures()
	return dst, err
}

func (s *Sensor) pollProcesses(dst []*ecs.Event) ([]*ecs.Event, error) {
	t0 := s.opt.Now()
	snap := t0.UnixNano()
	cur, err := s.procs.List(s.cur[:0])
	if err != nil {
		return dst, err
	}
	s.stats.ProcessPolls++
	info := s.curInfo[:0]
	s.newIdx = s.newIdx[:0]
	var execs []int // same-pid execs: rare, allocation is fine
	clear(s.vanished)
	s.vanished = s.vanished[:0]
	j := 0
	for i := range cur {
		e := &cur[i]
		for j < len(s.prev) && s.prev[j].PID < e.PID {
			s.vanished = append(s.vanished, s.info[j])
			j++
		}
		if j < len(s.prev) && s.prev[j].PID == e.PID && s.prev[j].Start == e.Start {
			p := s.info[j]
			if p.parent == nil {
				// A child whose fork was seen keeps the parent the
				// fork named, even once reparented to launchd / init.
				p.ppid = e.PPID
			}
			p.uid, p.pgid = e.UID, e.PGID
			if e.SID != 0 {
				p.sid = e.SID
			}
			j++
			if p.pending {
				// Learned from a fork event, never announced: now
				// it is, as a new process.
				p.comm = e.Comm
				info = append(info, p)
				s.newIdx = append(s.newIdx, i)
				continue
			}
			if s.prev[j-1].Comm != e.Comm {
				// Same pid, same start time, another name: the process
				// called exec. xnu keeps p_starttime across exec
				// (bsd/kern/kern_exec.c), and so does Linux.
				execs = append(execs, i)
			}
			info = append(info, p)
			continue
		}
		if j < len(s.prev) && s.prev[j].PID == e.PID {
			s.vanished = append(s.vanished, s.info[j]) // the pid was reused
			j++
		}
		np := s.newProcess(e)
		if par := s.forkParentOf(e.PID); par != nil && (par.start == 0 || par.start <= e.Start) {
			np.parent, np.ppid = par, par.pid
		}
		info = append(info, np)
		s.newIdx = append(s.newIdx, i)
	}
	for ; j < len(s.prev); j++ {
		s.vanished = append(s.vanished, s.info[j])
	}
	// Swap the snapshot buffers: what was current becomes previous.
	s.prev, s.cur = cur, s.prev
	s.info, s.curInfo = info, s.info
	clear(s.curInfo[:cap(s.curInfo)]) // let exited processes be collected
	s.curInfo = s.curInfo[:0]

	prevSnap := s.lastProcSnap
	s.lastProcSnap = snap
	created := snap
	// A process that vanished since the last snapshot ended between the
	// two: its end event (with exit_events, and unless a process event
	// sent it already) is stamped with this snapshot, when it was seen.
	for _, p := range s.vanished {
		if !p.ended && !p.pending && s.opt.ExitEvents {
			dst = append(dst, s.endEvent(p, snap, created, 0, false))
		}
		p.ended = true
	}
	// s.vanished stays until the next process poll: a socket poll that
	// read the table just now may attribute a connection to a process
	// that exited since (recentlyGone).
	s.pe.ended = 0 // the poll dropped every exited process
	if len(s.pe.forkParent) > 0 {
		s.expireForkParents()
	}
	action := "exec"
	if !s.primed {
		s.primed = true
		if !s.opt.EmitExisting {
			for _, i := range s.newIdx {
				s.info[i].pending = false
			}
			s.stats.LastProcessDur = s.opt.Now().Sub(t0)
			return dst, nil
		}
		// Found running at start-up, as Elastic Defend reports them.
		action = "already_running"
	}
	for _, i := range s.newIdx {
		p := s.info[i]
		p.pending = false
		if !s.detail(p) {
			continue
		}
		// A process absent from the previous snapshot started after it.
		// Linux reports start times in clock ticks (10 ms), which can put
		// the start before that snapshot; stamping it no earlier keeps the
		// watermark promise (DESIGN.md) while process.start keeps the
		// kernel's value.
		ts := max(p.start, prevSnap)
		dst = append(dst, s.startEvent(p, ts, created, action))
	}
	for _, i := range execs {
		p := s.info[i]
		oldExe, oldArgs := p.executable, p.commandLine
		p.comm = s.prev[i].Comm
		p.detailed = false
		if !s.detail(p) {
			continue
		}
		if p.executable == oldExe && p.commandLine == oldArgs {
			continue
		}
		// An exec in a pid that was already known is stamped with its
		// observation time: it happened after the previous snapshot.
		dst = append(dst, s.startEvent(p, snap, created, "exec"))
	}
	s.stats.LastProcessDur = s.opt.Now().Sub(t0)
	return dst, nil
}

// detail reads a process's path and arguments once. It reports false when
// the process is gone (it is then skipped and counted).
func (s *Sensor) detail(p *process) bool {
	if p.detailed {
		return true
	}
	d := &s.details
	*d = proc.Details{}
	if err := s.procs.Details(p.pid, d); err != nil {
		if errors.Is(err, proc.ErrGone) {
			s.stats.Gone++
			return false
		}
		// EPERM and the like: keep what the process table gave (comm).
		s.stats.DetailErrors++
	}
	p.detailed = true
	p.cwd = d.Cwd
	if d.SID != 0 {
		p.sid = d.SID
	}
	p.executable = d.Path
	if p.executable == "" {
		p.executable = d.ExecPath
	}
	p.name = processName(p.executable, p.comm)
	p.args = d.Args
	p.truncated = d.ArgsTruncated
	p.commandLine = strings.Join(d.Args, " ")
	s.lookupSignature(&p.sig, p.executable)
	return true
}

// processName is the basename of the executable path; the kernel's comm,
// cut at 16 bytes on macOS (p_comm, MAXCOMLEN in bsd/sys/param.h) and 15 on
// Linux (TASK_COMM_LEN), only when there is no path:
// "com.apple.automator.runner" would otherwise arrive as "com.apple.automa".
func processName(executable string, comm [16]byte) string {
	if executable != "" {
		return path.Base(executable)
	}
	n := 0
	for n < len(comm) && comm[n] != 0 {
		n++
	}
	return string(comm[:n])
}

// recentlyGone returns the process with the given pid that the last
// process poll found gone, if its details were read while it lived: the
// owner of a connection seen by the socket poll that triggered that process
// poll, when it exited in between (a process event may have read it at its
// exec, before the triggered poll came).
func (s *Sensor) recentlyGone(pid int32) *process {
	for _, p := range s.vanished {
		if p.pid == pid && p.detailed {
			return p
		}
	}
	return nil
}

// lookup returns the live process with the given pid, or nil.
func (s *Sensor) lookup(pid int32) *process {
	i := sort.Search(len(s.prev), func(i int) bool { return s.prev[i].PID >= pid })
	if i < len(s.prev) && s.prev[i].PID == pid {
		return s.info[i]
	}
	return nil
}

// newProcess returns the record of a process first seen in e.
func (s *Sensor) newProcess(e *proc.Entry) *process {
	return &process{pid: e.PID, ppid: e.PPID, uid: e.UID, start: e.Start, comm: e.Comm,
		pgid: e.PGID, sid: e.SID, entityID: EntityID(s.opt.Host.ID, e.PID, e.Start)}
}

// startEvent is the start event of p: action "exec", or "already_running"
// for a process found at start-up.
func (s *Sensor) startEvent(p *process, ts, created int64, action string) *ecs.Event {
	ev := s.newEvent(ts, created, catProcess, typeStart, action, "endpoint.events.process")
	s.fillProcessFull(ev, p)
	s.stats.ProcessEvents++
	return ev
}

// endEvent is the end event of p (exit_events): event.type ["end"],
// event.action "end", process.exit_code when the kernel gave it.
func (s *Sensor) endEvent(p *process, ts, created int64, code int32, hasCode bool) *ecs.Event {
	ev := s.newEvent(ts, created, catProcess, typeEnd, "end", "endpoint.events.process")
	s.fillProcessFull(ev, p)
	if hasCode {
		ev.Process.ExitCode = int64(code)
		ev.Has |= ecs.HasExitCode
	}
	s.stats.ExitEvents++
	return ev
}

// fillProcessFull sets every process.* field of a process event: identity,
// args, start, working directory and parent.
func (s *Sensor) fillProcessFull(ev *ecs.Event, p *process) {
	s.fillProcess(ev, p)
	ev.Process.Args = p.args
	ev.Process.ArgsCount = int64(len(p.args))
	ev.Process.CommandLine = p.commandLine
	ev.Process.Start = p.start
	ev.Process.WorkingDirectory = p.cwd
	ev.Has |= ecs.HasArgsCount | ecs.HasStart
	if p.pgid > 0 {
		ev.Process.GroupLeader.PID = int64(p.pgid)
		ev.Has |= ecs.HasGroupLeaderPID
	}
	if p.sid > 0 {
		ev.Process.SessionLeader.PID = int64(p.sid)
		ev.Has |= ecs.HasSessionLeaderPID
	}
	if p.truncated {
		ev.Process.ArgsTruncated = true
		ev.Has |= ecs.HasArgsTruncated
	}
	parent := s.lookup(p.ppid)
	if parent != nil && p.parent != nil && (parent.pid != p.parent.pid || parent.start != p.parent.start) {
		parent = nil // not the process that forked p: use the copy
	}
	var psig *sigRecord
	var ppath string
	switch {
	case parent != nil && s.detail(parent):
		psig, ppath = &parent.sig, parent.executable
		ev.Process.Parent = ecs.Parent{
			PID:         int64(parent.pid),
			EntityID:    parent.entityID,
			Name:        parent.name,
			Executable:  parent.executable,
			Args:        parent.args,
			CommandLine: parent.commandLine,
		}
		ev.Has |= ecs.HasParentPID
	case p.parent != nil:
		psig, ppath = &p.parent.sig, p.parent.executable
		ev.Process.Parent = ecs.Parent{
			PID:         int64(p.parent.pid),
			EntityID:    p.parent.entityID,
			Name:        p.parent.name,
			Executable:  p.parent.executable,
			Args:        p.parent.args,
			CommandLine: p.parent.commandLine,
		}
		ev.Has |= ecs.HasParentPID
	case parent != nil:
		// Gone before its details could be read: what the table gave.
		ev.Process.Parent = ecs.Parent{PID: int64(parent.pid), EntityID: parent.entityID, Name: processName("", parent.comm)}
		ev.Has |= ecs.HasParentPID
	case p.ppid != 0 || p.pid == 1:
		ev.Process.Parent.PID = int64(p.ppid)
		ev.Has |= ecs.HasParentPID
	}
	if ev.Process.Parent.Args != nil {
		ev.Process.Parent.ArgsCount = int64(len(ev.Process.Parent.Args))
		ev.Has |= ecs.HasParentArgsCount
	}
	s.signEvent(ev, &p.sig, p.executable, psig, ppath, true)
}

// fillProcess sets the process.* identity fields and user.* of ev.
func (s *Sensor) fillProcess(ev *ecs.Event, p *process) {
	ev.Process.PID = int64(p.pid)
	ev.Process.EntityID = p.entityID
	ev.Process.Name = p.name
	ev.Process.Executable = p.executable
	ev.Has |= ecs.HasPID
	ev.User = ecs.User{ID: strconv.FormatUint(uint64(p.uid), 10), Name: s.userName(p.uid)}
}
