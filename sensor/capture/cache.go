package capture

import (
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Cache defaults (Options and NewCache use them for zero values).
const (
	DefaultCacheSize = 10000
	// DefaultMinTTL keeps an answer long enough for the connection that
	// follows it to be seen by a socket poll, even when its TTL is 0.
	DefaultMinTTL = time.Minute
	// DefaultMaxTTL bounds how long a stale name can stick to an address.
	DefaultMaxTTL = 24 * time.Hour
)

// Cache is a passive DNS cache: the name last resolved to each address, as
// seen in DNS responses. It holds at most its size in addresses, evicting
// the least recently used; an entry expires at its TTL clamped to
// [min, max]. It is safe for concurrent use.
type Cache struct {
	mu       sync.Mutex
	min, max int64 // nanoseconds
	index    map[netip.Addr]int32
	ents     []cacheEntry // ents[0] is the list head sentinel
	free     int32        // next never-used slot
	stats    CacheStats
}

// CacheStats counts what a Cache did.
type CacheStats struct {
	Entries   int    // addresses held now (some may have expired)
	Added     uint64 // address entries written (new or refreshed)
	Evicted   uint64 // live entries dropped because the cache was full
	Expired   uint64 // entries found expired by Lookup and dropped
	Hits      uint64 // Lookups that found a live name
	Misses    uint64 // Lookups that did not
	Unchained uint64 // A/AAAA answers whose CNAME chain does not reach the question: cached under the chain's first name
}

type cacheEntry struct {
	addr       netip.Addr
	name       string
	expires    int64 // Unix nanoseconds
	prev, next int32 // LRU list: head.next is the most recent
}

// NewCache returns a cache of at most size addresses (DefaultCacheSize when
// size <= 0) whose entries live their TTL clamped to [min, max]. A max <= 0
// means no upper bound; a min above max is lowered to max.
func NewCache(size int, min, max time.Duration) *Cache {
	if size <= 0 {
		size = DefaultCacheSize
	}
	if min < 0 {
		min = 0
	}
	if max > 0 && min > max {
		min = max
	}
	c := &Cache{
		min:   int64(min),
		max:   int64(max),
		index: make(map[netip.Addr]int32, size),
		ents:  make([]cacheEntry, size+1),
		free:  1,
	}
	return c
}

// Add caches the A and AAAA answers (class IN) of a response. Each address
// is cached under the question name when its CNAME chain leads back to the
// question (the name the process asked for, not the CDN's), otherwise
// under the first name of its chain. An entry lives the smallest TTL along
// its chain, clamped. now is the time of the response.
func (c *Cache) Add(d *DNS, now time.Time) {
	if d == nil || len(d.ResolvedIPs) == 0 {
		return
	}
	t := now.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := range d.Answers {
		a := &d.Answers[i]
		if (a.Type != "A" && a.Type != "AAAA") || a.Class != "IN" {
			continue
		}
		ip, err := netip.ParseAddr(a.Data)
		if err != nil {
			continue
		}
		name, ttl := chainHead(d.Answers, a.Name, a.TTL)
		if !strings.EqualFold(name, d.Question) {
			c.stats.Unchained++
		}
		c.put(ip.Unmap(), name, t+c.lifetime(ttl))
	}
}

// chainHead follows CNAME records backwards from name (owner of cname ->
// target) as far as they go, at most len(answers) steps (a CNAME loop
// stops there), and returns the chain's first name and the smallest TTL
// met on the way.
func chainHead(answers []Answer, name string, ttl uint32) (string, uint32) {
	for range answers {
		found := false
		for j := range answers {
			a := &answers[j]
			if a.Type == "CNAME" && a.Data == name && a.Name != name {
				name, ttl = a.Name, min(ttl, a.TTL)
				found = true
				break
			}
		}
		if !found {
			break
		}
	}
	return name, ttl
}

func (c *Cache) lifetime(ttl uint32) int64 {
	life := int64(ttl) * int64(time.Second)
	life = max(life, c.min)
	if c.max > 0 {
		life = min(life, c.max)
	}
	return life
}

// Lookup returns the name ip was last resolved from, if that answer has not
// expired at now. An IPv4-mapped IPv6 address finds its IPv4 entry.
func (c *Cache) Lookup(ip netip.Addr, now time.Time) (name string, ok bool) {
	ip = ip.Unmap()
	c.mu.Lock()
	defer c.mu.Unlock()
	i, found := c.index[ip]
	if !found {
		c.stats.Misses++
		return "", false
	}
	e := &c.ents[i]
	if now.UnixNano() >= e.expires {
		c.stats.Expired++
		c.stats.Misses++
		c.remove(i)
		return "", false
	}
	c.stats.Hits++
	c.unlink(i)
	c.pushFront(i)
	return e.name, true
}

// Stats returns the cache's counters.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.stats
	s.Entries = len(c.index)
	return s
}

// put writes ip -> name, refreshing an existing entry or taking a free
// slot, else evicting the least recently used. c.mu is held.
func (c *Cache) put(ip netip.Addr, name string, expires int64) {
	c.stats.Added++
	if i, ok := c.index[ip]; ok {
		e := &c.ents[i]
		e.name, e.expires = name, expires
		c.unlink(i)
		c.pushFront(i)
		return
	}
	var i int32
	switch {
	case int(c.free) < len(c.ents):
		i = c.free
		c.free++
	case !c.ents[c.ents[0].prev].addr.IsValid():
		i = c.ents[0].prev // a slot freed by remove
		c.unlink(i)
	default:
		i = c.ents[0].prev // the least recently used live entry
		c.stats.Evicted++
		delete(c.index, c.ents[i].addr)
		c.unlink(i)
	}
	c.ents[i] = cacheEntry{addr: ip, name: name, expires: expires}
	c.index[ip] = i
	c.pushFront(i)
}

// remove drops entry i and keeps its slot for reuse: freed slots sit at the
// LRU list's tail (live entries only ever move to the front), marked by an
// invalid address, so put takes them before evicting anything.
func (c *Cache) remove(i int32) {
	delete(c.index, c.ents[i].addr)
	c.unlink(i)
	c.ents[i] = cacheEntry{}
	c.pushBack(i)
}

func (c *Cache) unlink(i int32) {
	e := &c.ents[i]
	c.ents[e.prev].next = e.next
	c.ents[e.next].prev = e.prev
	e.prev, e.next = 0, 0
}

func (c *Cache) pushFront(i int32) {
	h := &c.ents[0]
	e := &c.ents[i]
	e.prev, e.next = 0, h.next
	c.ents[h.next].prev = i
	h.next = i
}

func (c *Cache) pushBack(i int32) {
	h := &c.ents[0]
	e := &c.ents[i]
	e.prev, e.next = h.prev, 0
	c.ents[h.prev].next = i
	h.prev = i
}
