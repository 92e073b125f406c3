package diagnose

import (
	"context"
	"fmt"
	"net/netip"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/rdnsbot/rdnsbot/dnstest"
)

// asked counts the resolver's queries of one question.
func asked(g dnstest.Group, name string, qtype uint16) int {
	n := 0
	for _, q := range g[0].Queries() {
		if q.Name == name && q.Type == qtype && q.RD {
			n++
		}
	}
	return n
}

// A session shares answers among its diagnoses, never failures: one
// address's temperror is not another's, whether the failure was in flight
// or finished when the other asked.
func TestSessionSharesAnswersNotFailures(t *testing.T) {
	g, d, _ := world(t)
	ctx := context.Background()
	s := d.Session()
	g.ResetLog()
	// .5 and .21 both have the PTR mail.example.com, whose A fails.
	g[0].SetFault("mail.example.com.", dns.TypeA, dnstest.Fault{Rcode: dns.RcodeServerFailure})
	var wg sync.WaitGroup
	results := make([]Result, 2)
	for i, ip := range []string{"203.0.113.5", "203.0.113.21"} {
		wg.Go(func() { results[i] = s.DiagnoseIP(ctx, netip.MustParseAddr(ip), Options{}) })
	}
	wg.Wait()
	for _, r := range results {
		if r.Status != StatusTemperror {
			t.Errorf("%s: %s with the A lookup failing, want temperror", r.IP, r.Status)
		}
	}
	if n := asked(g, "mail.example.com.", dns.TypeA); n != 2 {
		t.Errorf("mail.example.com A asked %d times by two diagnoses while it failed, want 2 (a failure is not shared)", n)
	}
	if n := asked(g, "113.0.203.in-addr.arpa.", dns.TypeNS); n != 1 {
		t.Errorf("the reverse zone's NS asked %d times in one session, want 1", n)
	}

	// Fixed: the next diagnosis in the session asks again and passes; the
	// zone's answers are still shared.
	g[0].ClearFaults()
	if r := s.DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.5"), Options{}); r.Status != StatusPass {
		t.Errorf("after the fix: %s, want pass", r.Status)
	}
	if n := asked(g, "mail.example.com.", dns.TypeA); n != 3 {
		t.Errorf("mail.example.com A asked %d times, want 3: the failures were reused", n)
	}
	if n := asked(g, "113.0.203.in-addr.arpa.", dns.TypeNS); n != 1 {
		t.Errorf("the reverse zone's NS asked %d times, want 1", n)
	}
	// A new session asks everything again.
	d.Session().DiagnoseIP(ctx, netip.MustParseAddr("203.0.113.5"), Options{})
	if n := asked(g, "113.0.203.in-addr.arpa.", dns.TypeNS); n != 2 {
		t.Errorf("the reverse zone's NS asked %d times by two sessions, want 2", n)
	}
}

// What a session keeps stays within maxSessionBytes however many
// questions it answers, and the answers reused keep their place.
func TestSessionBounded(t *testing.T) {
	_, d, _ := world(t)
	s := d.Session()
	ptr := func(i int) lookup {
		rr, err := dns.NewRR(fmt.Sprintf("%d.2.0.192.in-addr.arpa. 3600 IN PTR host-%d.example.com.", i%256, i))
		if err != nil {
			t.Fatal(err)
		}
		return lookup{final: rr.Header().Name, rrs: []dns.RR{rr}}
	}
	hot := question{"example.com.", dns.TypeNS}
	fill := func(k question, l lookup) {
		e, mine := s.claim(k, 1, nil)
		if !mine {
			t.Fatalf("%v: already claimed", k)
		}
		e.l = l
		s.settle(k, e)
		close(e.done)
	}
	fill(hot, ptr(0))
	per := answerCost(question{"q1.", dns.TypePTR}, new(ptr(1))) // the smallest
	for i := 1; i <= 2*maxSessionBytes/per; i++ {
		k := question{fmt.Sprintf("q%d.", i), dns.TypePTR}
		fill(k, ptr(i))
		if s.bytes > maxSessionBytes {
			t.Fatalf("%d answers keep %d bytes, over %d", i, s.bytes, maxSessionBytes)
		}
		if e, _ := s.claim(hot, 2, nil); e.by != 1 {
			t.Fatalf("after %d answers the one reused after each was forgotten", i)
		}
	}
	if _, ok := s.answers[question{"q1.", dns.TypePTR}]; ok {
		t.Error("the oldest answer, never reused, is still kept")
	}
	if kept := len(s.queue) - s.head; kept > maxSessionBytes/per+1 || len(s.answers) != kept {
		t.Errorf("%d answers kept in the queue, %d in the map, for a budget of %d", kept, len(s.answers), maxSessionBytes/per)
	}
}
