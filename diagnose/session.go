package diagnose

import (
	"context"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/miekg/dns"
)

// Session shares the resolver's answers among the diagnoses run through it:
// the addresses of one pool, or the targets of one batch, have the same
// reverse zone, its NS and SOA, the same forward zones and name servers.
// Each question goes to the resolver once per session (or is waited for
// while in flight), as it does within one diagnosis; a /24 of passing
// addresses is then some 500 queries fewer. Only answers are shared: a
// failed question (timeout, SERVFAIL, REFUSED, lame, cut short by its
// asker's deadline) is reused within the diagnosis that asked it and asked
// again by every other, so one address's temperror never becomes
// another's. What the session keeps is bounded by maxSessionBytes, whatever
// the number of addresses: past it the oldest answers not reused since they
// were last looked at are forgotten (and asked again if needed). A Session
// is safe for concurrent use; it lives as long as its holder keeps it.
type Session struct {
	d       *Diagnoser
	ids     atomic.Uint64 // numbers the diagnoses: answer.by
	mu      sync.Mutex
	answers map[question]*answer
	queue   []queued // answers in the order kept, for eviction
	head    int      // queue[:head] are gone
	bytes   int      // the estimated size of what queue holds
}

// maxSessionBytes bounds the answers a Session keeps. An address's own
// answers (PTR, A, AAAA, the NS at its reverse name) are about 2 KB, so
// 64 diagnoses at once (pool's default concurrency) hold a tenth of it; the
// rest keeps the shared zone answers, which are reused and so kept.
const maxSessionBytes = 2 << 20

type (
	question struct {
		name  string
		qtype uint16
	}
	answer struct {
		done chan struct{} // closed when l is set
		l    lookup
		cut  bool   // the asker's context ended: l says nothing about DNS
		by   uint64 // the diagnosis that asked
		// Under Session.mu: the estimated bytes kept, and whether it was
		// reused since eviction last looked at it.
		cost int
		hit  bool
	}
	queued struct {
		k question
		e *answer
	}
)

// Session returns a new Session of d: diagnoses run through it share
// answers, for as long as it is kept.
func (d *Diagnoser) Session() *Session {
	return &Session{d: d, answers: map[question]*answer{}}
}

// DiagnoseIP is Diagnoser.DiagnoseIP, sharing the session's answers.
func (s *Session) DiagnoseIP(ctx context.Context, ip netip.Addr, opts Options) Result {
	return s.d.report(ctx, s.lookUp(ctx, ip, opts), ip.Unmap().String(), opts)
}

// diagnosis is one address's diagnosis (or one host name's lookup) within
// a Session: the unit whose own failed answers it may reuse.
type diagnosis struct {
	*Diagnoser
	s  *Session
	id uint64
	// failed are its own failed answers, which it reuses though others
	// replace them in the session.
	mu     sync.Mutex
	failed map[question]lookup
}

// begin starts a diagnosis in s.
func (s *Session) begin() *diagnosis {
	return &diagnosis{Diagnoser: s.d, s: s, id: s.ids.Add(1)}
}

// resolve asks the recursive resolver (resolveOnce), once per question
// within the session. Shared lookups are read-only.
func (d *diagnosis) resolve(ctx context.Context, name string, qtype uint16) lookup {
	k := question{dns.CanonicalName(name), qtype}
	if l, ok := d.ownFailure(k); ok {
		return l
	}
	e, mine := d.s.claim(k, d.id, nil)
	for !mine {
		select {
		case <-e.done:
		case <-ctx.Done():
		}
		switch {
		case ctx.Err() != nil:
			// A pending answer is none for a caller out of time: it asks
			// for itself (and gets its own timeout).
			return d.resolveOnce(ctx, name, qtype)
		case !e.cut && (e.l.err == nil || e.by == d.id):
			return e.l
		}
		// The first asker's shorter deadline (the source check's) is no
		// answer for a caller with more time, and another diagnosis's
		// failure is not this one's: it asks for itself, in its place,
		// unless it failed to meanwhile (noted before its answer was
		// closed, so before any other could replace it) or is asking
		// already.
		if l, ok := d.ownFailure(k); ok {
			return l
		}
		e, mine = d.s.claim(k, d.id, e)
	}
	e.l = d.resolveOnce(ctx, name, qtype)
	e.cut = ctx.Err() != nil
	if e.l.err != nil && !e.cut {
		d.mu.Lock()
		if d.failed == nil {
			d.failed = map[question]lookup{}
		}
		d.failed[k] = e.l
		d.mu.Unlock()
	}
	d.s.settle(k, e)
	close(e.done)
	return e.l
}

// ownFailure returns the diagnosis's own failed answer to k, if any.
func (d *diagnosis) ownFailure(k question) (lookup, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.failed[k]
	return l, ok
}

// claim returns the answer to k to wait for, or (mine) a new one the
// caller must fill, settle and close. After failed, an answer that was no
// use to diagnosis by, only one that diagnosis asked since is waited for:
// any other is replaced for later askers.
func (s *Session) claim(k question, by uint64, failed *answer) (e *answer, mine bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.answers[k]; e != nil && (failed == nil || e != failed && e.by == by) {
		e.hit = true
		return e, false
	}
	e = &answer{done: make(chan struct{}), by: by, cost: answerCost(k, nil)}
	s.answers[k] = e
	s.queue = append(s.queue, queued{k, e})
	s.bytes += e.cost
	return e, true
}

// settle accounts for e's lookup, now filled, and forgets the oldest
// answers while the session holds more than maxSessionBytes.
func (s *Session) settle(k question, e *answer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cost := answerCost(k, &e.l)
	s.bytes += cost - e.cost
	e.cost = cost
	// Each answer gets a second chance when it was reused or is still in
	// flight; two passes over the queue at most.
	for budget := 2 * (len(s.queue) - s.head); s.bytes > maxSessionBytes && budget > 0; budget-- {
		q := s.queue[s.head]
		s.queue[s.head] = queued{}
		s.head++
		if s.answers[q.k] == q.e && (q.e.hit || q.e == e || !closed(q.e.done)) {
			q.e.hit = false
			s.queue = append(s.queue, q)
			continue
		}
		if s.answers[q.k] == q.e {
			delete(s.answers, q.k)
		}
		s.bytes -= q.e.cost
	}
	if s.head > len(s.queue)/2 {
		s.queue = append(s.queue[:0], s.queue[s.head:]...)
		s.head = 0
	}
}

// closed reports whether ch is closed.
func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// answerCost estimates the bytes an answer keeps: the entry, and each
// record at about twice its wire size (a parsed record holds its names as
// strings, its header and an interface). Only the records a lookup keeps
// count: the message they came in is garbage.
func answerCost(k question, l *lookup) int {
	n := 256 + len(k.name)
	if l == nil {
		return n
	}
	n += len(l.final)
	for _, c := range l.chain {
		n += len(c)
	}
	for _, rrs := range [][]dns.RR{l.rrs, l.extra} {
		for _, rr := range rrs {
			n += 64 + 2*dns.Len(rr)
		}
	}
	if l.soa != nil {
		n += 64 + 2*dns.Len(l.soa)
	}
	return n
}
