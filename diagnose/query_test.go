package diagnose

import (
	"context"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/rdnsbot/rdnsbot/dnstest"
)

// idleTo returns the sockets to server waiting for reuse.
func (p *sockets) idleTo(server string) []*socket {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*socket(nil), p.idle[server]...)
}

// Queries reuse one UDP socket per server in turn, up to maxSocketUses;
// a socket whose query timed out is closed, so its late answer is never
// read as the next query's; truncation still falls back to TCP.
func TestSocketReuse(t *testing.T) {
	g, _, _ := world(t)
	q := newQuerier(200*time.Millisecond, 1, nil)
	ctx := context.Background()
	server := g[0].Addr()
	ask := func(name string, qtype uint16) (*dns.Msg, error) {
		return q.exchange(ctx, server, name, qtype, true)
	}
	for i := range maxSocketUses + 1 {
		r, err := ask("mail.example.com.", dns.TypeA)
		if err != nil || len(r.Answer) != 1 {
			t.Fatalf("query %d: %v %v", i, r, err)
		}
		idle, uses := q.conns.idleTo(server), (i+1)%maxSocketUses
		switch {
		case uses == 0 && len(idle) != 0:
			t.Fatalf("a socket that served %d queries is still kept", maxSocketUses)
		case uses == 0:
		case len(idle) != 1:
			t.Fatalf("after %d sequential queries %d sockets idle, want 1", i+1, len(idle))
		case idle[0].uses != uses:
			t.Fatalf("after %d queries the socket served %d, want %d", i+1, idle[0].uses, uses)
		}
	}

	// An answer later than the timeout: the socket goes, and the next
	// question gets its own answer.
	g[0].SetFault("slow.example.com.", 0, dnstest.Fault{Delay: 400 * time.Millisecond})
	if _, err := ask("slow.example.com.", dns.TypeA); err == nil || outcome(nil, err) != "timeout" {
		t.Fatalf("slow query: %v, want a timeout", err)
	}
	if idle := q.conns.idleTo(server); len(idle) != 0 {
		t.Errorf("%d sockets idle after a timeout, want 0", len(idle))
	}
	// Wait for the late answer to be sent: a socket kept would then hold it.
	lateSent := func() bool {
		for _, q := range g[0].Queries() {
			if q.Name == "slow.example.com." && q.Answered != 0 {
				return true
			}
		}
		return false
	}
	for deadline := time.Now().Add(10 * time.Second); !lateSent(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the late answer was never sent")
		}
	}
	r, err := ask("mail.example.com.", dns.TypeTXT)
	if err != nil || len(r.Answer) != 1 || r.Answer[0].Header().Rrtype != dns.TypeTXT {
		t.Errorf("after a late answer: %v %v", r, err)
	}

	g[0].SetFault("mail.example.com.", dns.TypeA, dnstest.Fault{Truncate: true})
	g.ResetLog()
	if r, err := ask("mail.example.com.", dns.TypeA); err != nil || len(r.Answer) != 1 {
		t.Errorf("truncated: %v %v", r, err)
	}
	if log := g[0].Queries(); len(log) != 2 || log[0].TCP || !log[1].TCP {
		t.Errorf("truncated: queries %+v, want UDP then TCP", log)
	}
}
