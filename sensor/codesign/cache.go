package codesign

import (
	"container/list"
	"errors"
	"io/fs"
	"sync"
	"sync/atomic"
	"time"
)

// Key is the identity of a file's content as the kernel sees it: a file
// rewritten in place changes size, mtime or ctime; a file replaced by
// rename changes inode. Results are cached by Key, never by path.
type Key struct {
	Dev, Ino     uint64
	Size         int64
	Mtime, Ctime int64 // nanoseconds since the epoch
}

// CacheOptions tunes a Cache.
type CacheOptions struct {
	Verify      Options // host architecture, clock
	MaxEntries  int     // results kept (LRU); default 4096
	MaxFileSize int64   // larger files are not read: StatusTooLarge; default 256 MiB
	Workers     int     // verifying goroutines; default 1
	Queue       int     // files waiting for a worker; default 256
	Ready       int     // buffered results on Ready(); default 256
}

// Result is a verification that finished: what Ready delivers.
type Result struct {
	Path string
	Key  Key
	Info Info
}

// CacheStats are the cache's counters since New.
type CacheStats struct {
	Hits, Misses  uint64 // Lookup answered from the cache / not
	Verified      uint64 // files read and judged by a worker
	BytesRead     uint64 // bytes those workers hashed
	Changed       uint64 // files that changed between stat, open and the end of the read
	QueueDropped  uint64 // misses not queued because the queue was full
	ReadyDropped  uint64 // results not delivered on Ready because nobody read them
	Evicted       uint64
	TooLarge      uint64
	Entries       int
	VerifyNanos   uint64 // total worker time
	LastVerifyDur time.Duration
}

type entry struct {
	key     Key
	info    Info
	pending bool
	done    chan struct{} // closed when the entry leaves the pending state
	elem    *list.Element
}

type job struct {
	path string
	key  Key
	e    *entry
}

// Cache verifies executables off the caller's goroutine and remembers the
// results by file identity. Lookup never reads the file: it costs one stat
// and a map lookup, and on a miss queues the file for a worker.
type Cache struct {
	opt   CacheOptions
	mu    sync.Mutex
	m     map[Key]*entry
	lru   list.List // front = most recently used; only final entries
	queue chan job
	ready chan Result
	wg    sync.WaitGroup
	once  sync.Once

	// testOpened, when set, runs in the worker after the file is opened
	// and before it is read (tests rewrite the file there).
	testOpened func(path string)

	hits, misses, verified, bytesRead, changed    atomic.Uint64
	queueDropped, readyDropped, evicted, tooLarge atomic.Uint64
	verifyNanos, lastVerify                       atomic.Uint64
}

// NewCache starts the workers. Close stops them.
func NewCache(opt CacheOptions) *Cache {
	if opt.MaxEntries <= 0 {
		opt.MaxEntries = 4096
	}
	if opt.MaxFileSize <= 0 {
		opt.MaxFileSize = 256 << 20
	}
	if opt.Workers <= 0 {
		opt.Workers = 1
	}
	if opt.Queue <= 0 {
		opt.Queue = 256
	}
	if opt.Ready <= 0 {
		opt.Ready = 256
	}
	c := &Cache{
		opt:   opt,
		m:     make(map[Key]*entry, opt.MaxEntries),
		queue: make(chan job, opt.Queue),
		ready: make(chan Result, opt.Ready),
	}
	for range opt.Workers {
		c.wg.Add(1)
		go c.work()
	}
	return c
}

// Close stops the workers after the file each is reading; queued files
// are dropped. Ready is closed.
func (c *Cache) Close() {
	c.once.Do(func() {
		close(c.queue)
		c.wg.Wait()
		close(c.ready)
	})
}

// Ready delivers each finished verification (dropped, and counted, when
// its buffer is full: Lookup then finds the result in the cache).
func (c *Cache) Ready() <-chan Result { return c.ready }

var pendingInfo = Info{Status: StatusPending}

// Lookup returns the cached result for the file at path (following
// symlinks, as exec does) and true, or a not-final Info and false: the file
// was queued (Status StatusPending), or could not be (StatusDropped), or
// cannot be stat'ed. It never reads the file and never blocks on a worker.
func (c *Cache) Lookup(path string) (Info, Key, bool) {
	k, regular, err := statKey(path)
	if err != nil {
		st := StatusUnreadable
		if errors.Is(err, fs.ErrNotExist) {
			st = StatusNotFound
		}
		return Info{Status: st, Detail: err.Error()}, Key{}, false
	}
	if !regular {
		return Info{Status: StatusNotFile}, k, true
	}
	info, ok := c.LookupKey(path, k)
	return info, k, ok
}

// LookupKey is Lookup for a caller that already has the file's identity;
// a hit allocates nothing.
func (c *Cache) LookupKey(path string, k Key) (Info, bool) {
	c.mu.Lock()
	if e := c.m[k]; e != nil {
		if e.pending {
			c.mu.Unlock()
			c.misses.Add(1)
			return pendingInfo, false
		}
		c.lru.MoveToFront(e.elem)
		info := e.info
		c.mu.Unlock()
		c.hits.Add(1)
		return info, true
	}
	c.misses.Add(1)
	if k.Size > c.opt.MaxFileSize {
		info := Info{Status: StatusTooLarge, Size: k.Size}
		c.storeLocked(&entry{key: k, info: info, done: closedChan})
		c.mu.Unlock()
		c.tooLarge.Add(1)
		return info, true
	}
	e := &entry{key: k, pending: true, done: make(chan struct{})}
	c.m[k] = e
	c.mu.Unlock()
	select {
	case c.queue <- job{path: path, key: k, e: e}:
		return pendingInfo, false
	default:
		c.mu.Lock()
		delete(c.m, k)
		c.mu.Unlock()
		close(e.done)
		c.queueDropped.Add(1)
		return Info{Status: StatusDropped}, false
	}
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// Await waits up to timeout for the result of a file Lookup queued; it
// returns the cached result and true, or false when the timeout passed
// first (Status StatusPending), or when the verification gave no result to
// cache: then the Info is the worker's (StatusChanged, StatusNotFound, …)
// if the wait saw it finish, or empty (Status "") when the key is unknown
// (never queued, evicted, or finished uncached before the call: look the
// path up again). A timeout <= 0 does not wait: it reports whether the
// result is there now.
func (c *Cache) Await(k Key, timeout time.Duration) (Info, bool) {
	c.mu.Lock()
	e := c.m[k]
	if e != nil && !e.pending {
		c.lru.MoveToFront(e.elem)
		info := e.info
		c.mu.Unlock()
		return info, true
	}
	c.mu.Unlock()
	if e == nil {
		return Info{}, false
	}
	select {
	case <-e.done:
	default:
		if timeout <= 0 {
			return pendingInfo, false
		}
		t := time.NewTimer(timeout)
		select {
		case <-e.done:
			t.Stop()
		case <-t.C:
			return pendingInfo, false
		}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur := c.m[k]; cur == e && !e.pending {
		return e.info, true
	}
	return e.info, false
}

// storeLocked adds a final entry and evicts the least recently used ones
// over MaxEntries.
func (c *Cache) storeLocked(e *entry) {
	e.pending = false
	e.elem = c.lru.PushFront(e)
	c.m[e.key] = e
	for c.lru.Len() > c.opt.MaxEntries {
		old := c.lru.Back()
		oe := old.Value.(*entry)
		c.lru.Remove(old)
		delete(c.m, oe.key)
		c.evicted.Add(1)
	}
}

func (c *Cache) work() {
	defer c.wg.Done()
	for j := range c.queue {
		start := time.Now()
		info, cache := c.verify(j)
		d := time.Since(start)
		c.verifyNanos.Add(uint64(d))
		c.lastVerify.Store(uint64(d))
		c.mu.Lock()
		j.e.info = info // what Await reports, cached or not
		if cache {
			c.storeLocked(j.e)
		} else if c.m[j.key] == j.e {
			delete(c.m, j.key)
		}
		c.mu.Unlock()
		close(j.e.done)
		select {
		case c.ready <- Result{Path: j.path, Key: j.key, Info: info}:
		default:
			c.readyDropped.Add(1)
		}
	}
}

// verify reads and judges one queued file. It returns false when the
// result must not be cached under j.key: the file at path is no longer the
// one stat'ed, or it changed while it was read.
func (c *Cache) verify(j job) (Info, bool) {
	f, k, regular, err := openKey(j.path)
	if err != nil {
		st := StatusUnreadable
		if errors.Is(err, fs.ErrNotExist) {
			st = StatusNotFound
		}
		return Info{Status: st, Detail: err.Error()}, false
	}
	defer f.Close()
	if !regular {
		return Info{Status: StatusNotFile}, false
	}
	if c.testOpened != nil {
		c.testOpened(j.path)
	}
	if k != j.key {
		c.changed.Add(1)
		return Info{Status: StatusChanged, Detail: "codesign: the path names another file than the one stat'ed (replaced or rewritten)"}, false
	}
	info := Verify(f, k.Size, c.opt.Verify)
	c.verified.Add(1)
	c.bytesRead.Add(uint64(k.Size))
	after, _, err := fileKey(f)
	if err != nil || after != k {
		c.changed.Add(1)
		return Info{Status: StatusChanged, Detail: "codesign: the file changed while it was read"}, false
	}
	return info, true
}

// Stats returns the counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	n := len(c.m)
	c.mu.Unlock()
	return CacheStats{
		Hits: c.hits.Load(), Misses: c.misses.Load(), Verified: c.verified.Load(),
		BytesRead: c.bytesRead.Load(), Changed: c.changed.Load(),
		QueueDropped: c.queueDropped.Load(), ReadyDropped: c.readyDropped.Load(),
		Evicted: c.evicted.Load(), TooLarge: c.tooLarge.Load(), Entries: n,
		VerifyNanos: c.verifyNanos.Load(), LastVerifyDur: time.Duration(c.lastVerify.Load()),
	}
}
