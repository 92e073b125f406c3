package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/store"
)

// A watch's HELO is kept with it: lists, claims (what a recheck runs with)
// and pending announcements carry it, through a recheck that rewrites the
// record and a progress announcement that counts attempts.
func TestHELOIsKept(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		ctx := context.Background()
		a := newWatch(ip1, "C1", "1.1", "U1")
		a.HELO = "mx.example.org"
		b := newWatch(ip1, "C2", "2.2", "U2") // no HELO
		mustAdd(t, st, a, t0)
		mustAdd(t, st, b, t0)
		if w, ok := get(t, st, a.Key); !ok || w.HELO != "mx.example.org" {
			t.Fatalf("Get = %+v, %v; want HELO mx.example.org", w, ok)
		}
		if w, _ := get(t, st, b.Key); w.HELO != "" {
			t.Fatalf("watch without HELO read back with %q", w.HELO)
		}
		c := mustClaim(t, st, t0, 10, ip1)[0]
		helos := map[string]string{}
		for _, w := range c.Watches {
			helos[w.Channel] = w.HELO
		}
		if helos["C1"] != "mx.example.org" || helos["C2"] != "" {
			t.Fatalf("claim's watches have HELOs %v; want C1 mx.example.org, C2 none", helos)
		}
		// A progress intent rewrites the record; the HELO survives it and
		// the attempts still count.
		src := result(diagnose.StatusPermerror, t0)
		src.Source = &diagnose.SourceCheck{Status: diagnose.StatusPass, Agree: true}
		o := store.Outcome{Result: src, Now: t0, Next: t0.Add(time.Minute),
			Transitions: []store.Transition{{Key: a.Key, CreatedAt: a.CreatedAt, Kind: store.KindProgress}}}
		if err := complete(ctx, st, c, o); err != nil {
			t.Fatal(err)
		}
		p := mustClaimAnn(t, st, t0, 1)[0]
		if p.Watch.HELO != "mx.example.org" || p.Attempt != 1 {
			t.Fatalf("pending = %+v; want HELO mx.example.org, attempt 1", p)
		}
		if err := st.MarkPosted(ctx, p); err != nil {
			t.Fatal(err)
		}
		if w, _ := get(t, st, a.Key); w.HELO != "mx.example.org" || !w.ProgressAnnounced {
			t.Fatalf("after the progress message: %+v; want the HELO kept", w)
		}
	})
}

func TestHELORejectsSeparators(t *testing.T) {
	contract(t, func(t *testing.T, st store.Tester) {
		for _, helo := range []string{"a|b", "a b", "x\r\nHSET", string(make([]byte, 300))} {
			w := newWatch(ip1, "C1", "1.1", "U1")
			w.HELO = helo
			if _, err := st.Add(context.Background(), w, t0, store.Limits{}); !errors.Is(err, store.ErrInvalid) {
				t.Errorf("Add with HELO %.20q = %v; want ErrInvalid", helo, err)
			}
		}
	})
}
