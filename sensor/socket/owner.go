package socket

import (
	"cmp"
	"slices"
)

// Linux reports a socket's inode, not its process. The owner is the process
// whose fd table holds a link socket:[INODE] (/proc/<pid>/fd, see
// fs/proc/fd.c and net/socket.c sockfs_dname). Reading every fd of every
// process on each poll costs milliseconds, so owners caches inode → pid and
// reads fd directories only for sockets it cannot attribute yet:
//
//   - Each poll lists the pids in /proc (one getdents pass). A pid missing
//     from the list has exited: it leaves the cache, and any socket it owned
//     becomes unknown again (a socket shared with a child lives on in the
//     child, which the rescan finds).
//   - A socket whose inode has a live cached owner costs a map lookup.
//   - Unknown inodes make owners read fd directories, most likely owners
//     first: pids never read before (new processes), then the pids that most
//     recently owned a new socket, then the newest pids; it stops as soon as
//     every unknown inode is found.
//   - An inode still not found is retried on the next poll only (missRetries
//     polls in all), then reported with pid 0 without further reads until it
//     disappears. This covers a connection sitting in a listener's accept
//     queue (no fd yet) without rescanning every poll for sockets whose
//     owners are invisible (another pid namespace, no permission).
//   - Entries for inodes absent from the poll are dropped, so the cache holds
//     only live sockets and a recycled inode number cannot inherit an owner.
//
// When several processes hold the same socket (inherited across fork), the
// first one found is reported and kept while it lives.

// procSource is what owners reads from /proc; procfs_linux.go implements it
// and tests fake it.
type procSource interface {
	// pids appends the pid of every live process to dst.
	pids(dst []int32) ([]int32, error)
	// socketInodes appends the inode of every socket in pid's fd table.
	socketInodes(pid int32, dst []uint64) ([]uint64, error)
}

// missRetries is the number of polls in which an unattributed inode makes
// owners read fd directories.
const missRetries = 2

type inodeOwner struct {
	pid  int32
	seen uint64 // poll in which the inode was last listed
}

type pidInfo struct {
	alive   uint64 // poll in which the pid was last listed
	scanned uint64 // poll of the last fd directory read, 0 = never
	hit     uint64 // poll in which a read found one of its sockets
}

type inodeMiss struct {
	tries uint8  // polls in which fd directories were read without finding it
	seen  uint64 // poll in which the inode was last listed
}

type wanted struct {
	inode   uint64
	trigger bool // unknown, or missed fewer than missRetries times
	found   bool
}

type scanCandidate struct {
	pid     int32
	scanned bool
	hit     uint64
}

type owners struct {
	src  procSource
	poll uint64

	byInode map[uint64]inodeOwner
	byPID   map[int32]pidInfo
	miss    map[uint64]inodeMiss

	// Buffers reused across polls.
	pidBuf  []int32
	want    []wanted
	order   []scanCandidate
	inodes  []uint64
	scans   uint64
	errs    uint64
	unowned int
}

func newOwners(src procSource) *owners {
	return &owners{
		src:     src,
		byInode: make(map[uint64]inodeOwner),
		byPID:   make(map[int32]pidInfo),
		miss:    make(map[uint64]inodeMiss),
	}
}

// resolve sets LastPID and EPID of every conn to the owner of its inode, or
// 0 when it has none (inode 0: TIME_WAIT and request sockets) or none was
// found.
func (o *owners) resolve(conns []Conn) error {
	o.poll++
	poll := o.poll

	pids, err := o.src.pids(o.pidBuf[:0])
	o.pidBuf = pids[:0]
	if err != nil {
		return err
	}
	for _, pid := range pids {
		pi := o.byPID[pid]
		pi.alive = poll
		o.byPID[pid] = pi
	}
	for pid, pi := range o.byPID {
		if pi.alive != poll {
			delete(o.byPID, pid)
		}
	}

	o.want = o.want[:0]
	trigger := false
	for i := range conns {
		ino := conns[i].Inode
		if ino == 0 {
			continue
		}
		if io, ok := o.byInode[ino]; ok {
			if _, alive := o.byPID[io.pid]; alive {
				continue
			}
			delete(o.byInode, ino)
		}
		m, missed := o.miss[ino]
		t := !missed || m.tries < missRetries
		trigger = trigger || t
		o.want = append(o.want, wanted{inode: ino, trigger: t})
	}
	if trigger {
		o.scan(pids, poll)
	}
	for _, w := range o.want {
		if w.found {
			delete(o.miss, w.inode)
			continue
		}
		m := o.miss[w.inode]
		if trigger && m.tries < missRetries {
			m.tries++
		}
		m.seen = poll
		o.miss[w.inode] = m
	}

	o.unowned = 0
	for i := range conns {
		c := &conns[i]
		c.LastPID, c.EPID = 0, 0
		if c.Inode == 0 {
			continue
		}
		io, ok := o.byInode[c.Inode]
		if !ok {
			o.unowned++
			continue
		}
		io.seen = poll
		o.byInode[c.Inode] = io
		c.LastPID, c.EPID = io.pid, io.pid
	}
	for ino, io := range o.byInode {
		if io.seen != poll {
			delete(o.byInode, ino)
		}
	}
	for ino, m := range o.miss {
		if m.seen != poll {
			delete(o.miss, ino)
		}
	}
	return nil
}

// scan reads fd directories, likeliest owners first, until every triggering
// inode of o.want is found.
func (o *owners) scan(pids []int32, poll uint64) {
	slices.SortFunc(o.want, func(a, b wanted) int { return cmp.Compare(a.inode, b.inode) })
	o.want = slices.CompactFunc(o.want, func(a, b wanted) bool { return a.inode == b.inode })
	remaining := 0
	for _, w := range o.want {
		if w.trigger {
			remaining++
		}
	}

	o.order = o.order[:0]
	for _, pid := range pids {
		pi := o.byPID[pid]
		o.order = append(o.order, scanCandidate{pid: pid, scanned: pi.scanned != 0, hit: pi.hit})
	}
	slices.SortFunc(o.order, func(a, b scanCandidate) int {
		if a.scanned != b.scanned {
			if !a.scanned {
				return -1
			}
			return 1
		}
		if c := cmp.Compare(b.hit, a.hit); c != 0 {
			return c
		}
		return cmp.Compare(b.pid, a.pid)
	})

	for _, cand := range o.order {
		if remaining == 0 {
			break
		}
		inodes, err := o.src.socketInodes(cand.pid, o.inodes[:0])
		o.inodes = inodes[:0]
		pi := o.byPID[cand.pid]
		pi.scanned = poll
		if err != nil {
			o.errs++
			o.byPID[cand.pid] = pi
			continue
		}
		o.scans++
		for _, ino := range inodes {
			j, ok := slices.BinarySearchFunc(o.want, ino, func(w wanted, ino uint64) int { return cmp.Compare(w.inode, ino) })
			if !ok || o.want[j].found {
				continue // not wanted, or already found in another process
			}
			o.want[j].found = true
			o.byInode[ino] = inodeOwner{pid: cand.pid, seen: poll}
			pi.hit = poll
			if o.want[j].trigger {
				remaining--
			}
		}
		o.byPID[cand.pid] = pi
	}
}
