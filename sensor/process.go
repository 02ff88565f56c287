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
	entityID    string
	detailed    bool
	name        string
	executable  string
	args        []string
	commandLine string
	truncated   bool
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
// Options.EmitExisting is set.
func (s *Sensor) PollProcesses(dst []*ecs.Event) ([]*ecs.Event, error) {
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
	j := 0
	for i := range cur {
		e := &cur[i]
		for j < len(s.prev) && s.prev[j].PID < e.PID {
			j++
		}
		if j < len(s.prev) && s.prev[j].PID == e.PID && s.prev[j].Start == e.Start {
			p := s.info[j]
			p.ppid, p.uid = e.PPID, e.UID
			if s.prev[j].Comm != e.Comm {
				// Same pid, same start time, another name: the process
				// called exec. xnu keeps p_starttime across exec
				// (bsd/kern/kern_exec.c), and so does Linux.
				execs = append(execs, i)
			}
			info = append(info, p)
			continue
		}
		p := &process{pid: e.PID, ppid: e.PPID, uid: e.UID, start: e.Start, comm: e.Comm}
		p.entityID = EntityID(s.opt.Host.ID, e.PID, e.Start)
		info = append(info, p)
		s.newIdx = append(s.newIdx, i)
	}
	// Swap the snapshot buffers: what was current becomes previous.
	s.prev, s.cur = cur, s.prev
	s.info, s.curInfo = info, s.info
	clear(s.curInfo[:cap(s.curInfo)]) // let exited processes be collected
	s.curInfo = s.curInfo[:0]

	prevSnap := s.lastProcSnap
	s.lastProcSnap = snap
	if !s.primed {
		s.primed = true
		if !s.opt.EmitExisting {
			s.stats.LastProcessDur = s.opt.Now().Sub(t0)
			return dst, nil
		}
	}
	created := snap
	for _, i := range s.newIdx {
		p := s.info[i]
		if !s.detail(p) {
			continue
		}
		// A process absent from the previous snapshot started after it.
		// Linux reports start times in clock ticks (10 ms), which can put
		// the start before that snapshot; stamping it no earlier keeps the
		// watermark promise (DESIGN.md) while process.start keeps the
		// kernel's value.
		ts := max(p.start, prevSnap)
		dst = append(dst, s.execEvent(p, ts, created))
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
		dst = append(dst, s.execEvent(p, snap, created))
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
	p.executable = d.Path
	if p.executable == "" {
		p.executable = d.ExecPath
	}
	p.name = processName(p.executable, p.comm)
	p.args = d.Args
	p.truncated = d.ArgsTruncated
	p.commandLine = strings.Join(d.Args, " ")
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

// lookup returns the live process with the given pid, or nil.
func (s *Sensor) lookup(pid int32) *process {
	i := sort.Search(len(s.prev), func(i int) bool { return s.prev[i].PID >= pid })
	if i < len(s.prev) && s.prev[i].PID == pid {
		return s.info[i]
	}
	return nil
}

func (s *Sensor) execEvent(p *process, ts, created int64) *ecs.Event {
	ev := s.newEvent(ts, created, catProcess, typeStart, "exec", "endpoint.events.process")
	s.fillProcess(ev, p)
	ev.Process.Args = p.args
	ev.Process.ArgsCount = int64(len(p.args))
	ev.Process.CommandLine = p.commandLine
	ev.Process.Start = p.start
	ev.Has |= ecs.HasArgsCount | ecs.HasStart
	if p.truncated {
		ev.Process.ArgsTruncated = true
		ev.Has |= ecs.HasArgsTruncated
	}
	if parent := s.lookup(p.ppid); parent != nil && s.detail(parent) {
		ev.Process.Parent = ecs.Parent{
			PID:         int64(parent.pid),
			EntityID:    parent.entityID,
			Name:        parent.name,
			Executable:  parent.executable,
			Args:        parent.args,
			CommandLine: parent.commandLine,
		}
		ev.Has |= ecs.HasParentPID
	} else if p.ppid != 0 || p.pid == 1 {
		ev.Process.Parent.PID = int64(p.ppid)
		ev.Has |= ecs.HasParentPID
	}
	s.stats.ProcessEvents++
	return ev
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
