package store

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/internal/clip"
)

// Monitors are the other kind of subscription (package monitor): a Slack
// thread keeps a set of addresses (a pool, a /22) under check for good, and
// hears of each change. They follow the watches' design: per-channel queues
// claimed round robin with a lease that is also the retry time, outcomes
// fenced by the claim's token, announcement intents recorded with the state
// change in one atomic step and leased to a poster that finds its earlier
// attempt by IdempotencyKey. One pass claims and records many addresses at
// little cost each (see monitor_scripts.go). The state an address is
// compared against (AddrState) is the scheduler's; the store keeps it and
// only reads its status, to count failing addresses.

var (
	// ErrMonitorChannelLimit and ErrMonitorTotalLimit: AddMonitor would
	// exceed MonitorLimits; they wrap ErrLimit.
	ErrMonitorChannelLimit = fmt.Errorf("%w: monitored addresses per channel", ErrLimit)
	ErrMonitorTotalLimit   = fmt.Errorf("%w: monitored addresses in total", ErrLimit)
)

// MonitorKey identifies a monitor: it lives in one thread.
type MonitorKey struct{ Channel, Thread string }

func (k MonitorKey) id() string { return k.Channel + ":" + k.Thread }

// Monitor is one thread's monitor.
type Monitor struct {
	MonitorKey
	RequestedBy string    // who created it
	Targets     []string  // as typed; kept up to about 1 KiB
	CreatedAt   time.Time // truncated to milliseconds; names this generation

	// Filled in by lists.
	Addresses, Failing, Propagating int
	NextCheck                       time.Time // the earliest unclaimed due time
}

// MonitorLimits bound the monitored addresses; zero means none.
type MonitorLimits struct{ PerChannel, Total int }

// AddrState is what the last confirmed check of an address found, and what
// is still to be confirmed.
type AddrState struct {
	// Status is the confirmed status; "" until the first answer.
	Status diagnose.Status
	// Names are the confirmed PTR names, FailingSiblings the sibling
	// addresses that did not pass, both normalised by the scheduler.
	Names, FailingSiblings []string
	// Propagating: the resolver disagrees with the authoritative servers.
	Propagating bool
	// Candidate names an observed, unconfirmed change ("" for none).
	Candidate string
	// TempSince is when DNS stopped answering (zero while it answers);
	// TempNoticed says the "did not answer" notice was recorded.
	TempSince   time.Time
	TempNoticed bool
}

// equal reports whether a and b are the same state (an outcome that
// changed nothing need not be written again).
func (a AddrState) equal(b AddrState) bool {
	return a.Status == b.Status && a.Propagating == b.Propagating && a.Candidate == b.Candidate && a.TempSince.Equal(b.TempSince) &&
		a.TempNoticed == b.TempNoticed && slices.Equal(a.Names, b.Names) && slices.Equal(a.FailingSiblings, b.FailingSiblings)
}

// MonitorAddr is one address AddMonitor adds.
type MonitorAddr struct {
	IP    netip.Addr
	State AddrState
	Due   time.Time
}

// MonitorClaim is one due address leased by MonitorCycle.
type MonitorClaim struct {
	Key   MonitorKey
	IP    netip.Addr
	Due   time.Time // when it was due (a lease's end when one ran out)
	State AddrState
	// Token fences the outcome: the lease's end in Unix ms, the same for
	// every claim of a pass.
	Token int64
}

// MonitorCompletion is a finished check of a claimed address, or one
// given back unchecked (State unchanged, no Changes).
type MonitorCompletion struct {
	Claim MonitorClaim
	State AddrState
	Next  time.Time // the address's next due time
	// Changes is a JSON array to announce, nil or empty for none. The
	// changes of one pass for one monitor become one announcement.
	Changes json.RawMessage
}

// MonitorPending is an announcement intent claimed by MonitorCycle.
type MonitorPending struct {
	Monitor Monitor
	Seq     int64
	// Changes is the JSON array of every change gathered into the intent.
	Changes        json.RawMessage
	Attempt        int
	IdempotencyKey string
}

// MonitorCycleResult is what one MonitorCycle did, as CycleResult.
type MonitorCycleResult struct {
	Completed     []error
	Announcements []MonitorPending
	Claims        []MonitorClaim
	Next          time.Time
}

// MonitorStore keeps monitors; Redis and Memory implement it.
type MonitorStore interface {
	// AddMonitor creates m (Channel, RequestedBy and CreatedAt required) or,
	// when the thread has one, adds addrs to it (addresses it has already
	// keep their state and schedule). It reports how many addresses were
	// new. Beyond lim it fails with ErrMonitorChannelLimit or
	// ErrMonitorTotalLimit and changes nothing.
	AddMonitor(ctx context.Context, m Monitor, addrs []MonitorAddr, lim MonitorLimits) (int, error)
	// RemoveMonitor removes ips (nil: all) from k's monitor; one left
	// without addresses is deleted, pending announcements included.
	RemoveMonitor(ctx context.Context, k MonitorKey, ips []netip.Addr) (int, error)
	MonitorsByUser(ctx context.Context, user string) ([]Monitor, error)
	MonitorsByChannel(ctx context.Context, channel string) ([]Monitor, error)
	// MonitorCycle is Cycle for monitors, in one atomic step: it records
	// done (an outcome whose lease ended gets ErrLeaseLost in Completed
	// and changes nothing), the changes of each monitor's outcomes as one
	// announcement intent claimable after gather; then claims up to max
	// announcements and, for the slots left, due addresses round robin
	// across channels (the most overdue of each first), leased for
	// checkLease; and returns the earliest due time left (now while more is
	// due).
	MonitorCycle(ctx context.Context, now time.Time, done []MonitorCompletion, max int, checkLease, announceLease, gather time.Duration) (MonitorCycleResult, error)
	// MarkMonitorPosted records that p reached its thread.
	MarkMonitorPosted(ctx context.Context, p MonitorPending) error
}

var (
	_ MonitorStore = (*Redis)(nil)
	_ MonitorStore = (*Memory)(nil)
)

// maxTargets bounds the targets text a monitor keeps.
const maxTargets = 1024

// validate checks m and addrs and returns the distinct addresses, unmapped
// (the first of any duplicates).
func (m *Monitor) validate(addrs []MonitorAddr) ([]MonitorAddr, error) {
	if err := checkIDs(m.Channel, m.Thread, m.RequestedBy, m.CreatedAt); err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("%w: a monitor without addresses", ErrInvalid)
	}
	out := make([]MonitorAddr, 0, len(addrs))
	seen := make(map[netip.Addr]bool, len(addrs))
	for _, a := range addrs {
		if err := checkAddr(a.IP); err != nil {
			return nil, err
		}
		a.IP = a.IP.Unmap()
		if !seen[a.IP] {
			seen[a.IP] = true
			out = append(out, a)
		}
	}
	m.CreatedAt = m.CreatedAt.Truncate(time.Millisecond)
	return out, nil
}

// monitorKey names one announcement of one generation of a monitor.
func monitorKey(m Monitor, seq int64) string {
	return fmt.Sprintf("rdns/monitor/%s/%s/%d/%d", m.Channel, m.Thread, m.CreatedAt.UnixMilli(), seq)
}

// joinChanges makes one JSON array of arrays' elements.
func joinChanges(parts []json.RawMessage) json.RawMessage {
	var inner []string
	for _, p := range parts {
		if s := innerChanges(p); s != "" {
			inner = append(inner, s)
		}
	}
	return json.RawMessage("[" + strings.Join(inner, ",") + "]")
}

// innerChanges is a JSON array without its brackets ("" when empty).
func innerChanges(c json.RawMessage) string {
	s := strings.TrimSpace(string(c))
	if len(s) < 2 || s[0] != '[' {
		return ""
	}
	return strings.TrimSpace(s[1 : len(s)-1])
}

var statusCodes = map[diagnose.Status]byte{diagnose.StatusPass: 'p', diagnose.StatusFail: 'f', diagnose.StatusPermerror: 'e', "": '-'}

// encodeState is an address's stored state: status code, propagating flag,
// then "|names|siblings|candidate|temp_since_ms|noticed".
func encodeState(s AddrState) string {
	code, ok := statusCodes[s.Status]
	if !ok {
		code = '-'
	}
	g := byte('n')
	if s.Propagating {
		g = 'y'
	}
	noticed := "0"
	if s.TempNoticed {
		noticed = "1"
	}
	return string([]byte{code, g}) + "|" + escList(s.Names) + "|" + escList(s.FailingSiblings) + "|" +
		url.QueryEscape(s.Candidate) + "|" + strconv.FormatInt(ms(s.TempSince), 10) + "|" + noticed
}

func decodeState(v string) (AddrState, error) {
	var s AddrState
	f := strings.Split(v, "|")
	if len(f) != 6 || len(f[0]) != 2 {
		return s, fmt.Errorf("corrupt monitor state %q", v)
	}
	for st, c := range statusCodes {
		if c == f[0][0] {
			s.Status = st
		}
	}
	s.Propagating = f[0][1] == 'y'
	var err error
	if s.Names, err = unescList(f[1]); err != nil {
		return s, err
	}
	if s.FailingSiblings, err = unescList(f[2]); err != nil {
		return s, err
	}
	if s.Candidate, err = url.QueryUnescape(f[3]); err != nil {
		return s, err
	}
	s.TempSince, s.TempNoticed = fromMS(f[4]), f[5] == "1"
	return s, nil
}

func escList(xs []string) string {
	out := make([]string, len(xs))
	for i, x := range xs {
		out[i] = url.QueryEscape(x)
	}
	return strings.Join(out, ",")
}

func unescList(s string) ([]string, error) {
	if s == "" {
		return nil, nil
	}
	xs := strings.Split(s, ",")
	for i, x := range xs {
		var err error
		if xs[i], err = url.QueryUnescape(x); err != nil {
			return nil, fmt.Errorf("corrupt monitor state list %q: %w", s, err)
		}
	}
	return xs, nil
}

func (r *Redis) AddMonitor(ctx context.Context, m Monitor, addrs []MonitorAddr, lim MonitorLimits) (int, error) {
	addrs, err := m.validate(addrs)
	if err != nil {
		return 0, err
	}
	args := []any{m.id(), m.RequestedBy, ms(m.CreatedAt), targetsText(m.Targets), max(lim.PerChannel, 0), max(lim.Total, 0), len(addrs)}
	for _, a := range addrs {
		args = append(args, a.IP.String(), ms(a.Due), encodeState(a.State))
	}
	v, err := r.run(ctx, "add monitor", scriptMonitorAdd, args...)
	if err != nil {
		return 0, err
	}
	switch n, _ := v.(int64); {
	case n == -1:
		return 0, ErrMonitorChannelLimit
	case n == -2:
		return 0, ErrMonitorTotalLimit
	case n >= 0:
		return int(n), nil
	}
	return 0, replyErr("add monitor", fmt.Errorf("unexpected script reply %v", v))
}

// targetsText is how targets are stored: escaped, comma-separated, bounded.
func targetsText(ts []string) string {
	s := escList(ts)
	if len(s) > maxTargets {
		if i := strings.LastIndexByte(s[:maxTargets], ','); i >= 0 {
			s = s[:i] // whole targets only
		} else {
			s = clip.To(s, maxTargets) // the first alone is too long
		}
	}
	return s
}

func (r *Redis) RemoveMonitor(ctx context.Context, k MonitorKey, ips []netip.Addr) (int, error) {
	if ips != nil && len(ips) == 0 {
		return 0, nil // none named; the script reads n = 0 as all
	}
	args := []any{k.id(), len(ips)}
	for _, ip := range ips {
		args = append(args, ip.Unmap().String())
	}
	v, err := r.run(ctx, "remove monitor", scriptMonitorRemove, args...)
	n, _ := v.(int64)
	return int(n), err
}

func (r *Redis) MonitorsByUser(ctx context.Context, user string) ([]Monitor, error) {
	return r.monitors(ctx, "u", user)
}

func (r *Redis) MonitorsByChannel(ctx context.Context, channel string) ([]Monitor, error) {
	return r.monitors(ctx, "c", channel)
}

func (r *Redis) monitors(ctx context.Context, mode, id string) ([]Monitor, error) {
	v, err := r.run(ctx, "list monitors", scriptMonitorList, mode, id)
	if err != nil {
		return nil, err
	}
	vs, err := strs(v, 7)
	if err != nil {
		return nil, replyErr("list monitors", err)
	}
	var out []Monitor
	for i := 0; i < len(vs); i += 7 {
		m, _, err := decodeMonitor(vs[i], vs[i+1], vs[i+2])
		if err != nil {
			return nil, replyErr("list monitors", err)
		}
		m.Addresses, _ = strconv.Atoi(vs[i+3])
		m.Failing, _ = strconv.Atoi(vs[i+4])
		m.Propagating, _ = strconv.Atoi(vs[i+5])
		m.NextCheck = fromMS(vs[i+6])
		out = append(out, m)
	}
	sortMonitors(out)
	return out, nil
}

func sortMonitors(ms []Monitor) {
	slices.SortFunc(ms, func(a, b Monitor) int { return strings.Compare(a.id(), b.id()) })
}

// decodeMonitor reads a monitor's id, "#" and "#t" fields; it also returns
// the "#" field's intent sequence.
func decodeMonitor(mid, meta, targets string) (Monitor, int64, error) {
	var m Monitor
	var ok bool
	if m.Channel, m.Thread, ok = strings.Cut(mid, ":"); !ok {
		return m, 0, fmt.Errorf("corrupt monitor id %q", mid)
	}
	f := strings.Split(meta, "|")
	if len(f) != 4 {
		return m, 0, fmt.Errorf("corrupt monitor record %q", meta)
	}
	m.RequestedBy, m.CreatedAt = f[0], fromMS(f[1])
	seq, _ := strconv.ParseInt(f[2], 10, 64)
	var err error
	m.Targets, err = unescList(targets)
	return m, seq, err
}

func (r *Redis) MonitorCycle(ctx context.Context, now time.Time, done []MonitorCompletion, max int, checkLease, announceLease, gather time.Duration) (MonitorCycleResult, error) {
	groups := byChannel(done)
	args := make([]any, 0, 7+2*len(groups)+5*len(done))
	args = append(args, ms(now), max, checkLease.Milliseconds(), announceLease.Milliseconds(), gather.Milliseconds(), len(groups))
	for _, g := range groups {
		args = append(args, done[g[0]].Claim.Key.Channel, len(g))
		for _, i := range g {
			d := &done[i]
			state := "" // unchanged, as after most checks: not written again
			if !d.State.equal(d.Claim.State) {
				state = encodeState(d.State)
			}
			args = append(args, member(d.Claim.Key.Thread, d.Claim.IP), d.Claim.Token, ms(d.Next), state, innerChanges(d.Changes))
		}
	}
	sent := slices.Concat(groups...)
	return evalDecode(ctx, r, "monitor cycle", scriptMonitorCycle, args, func(v any) (MonitorCycleResult, error) {
		return decodeMonitorCycle(v, done, sent)
	})
}

// member names a monitored address in its channel's queue and states.
func member(thread string, ip netip.Addr) string { return thread + " " + ip.String() }

// byChannel groups the indexes of done by channel, the channels in the
// order they first come.
func byChannel(done []MonitorCompletion) [][]int {
	var groups [][]int
	at := map[string]int{}
	for i, d := range done {
		g, ok := at[d.Claim.Key.Channel]
		if !ok {
			g = len(groups)
			at[d.Claim.Key.Channel] = g
			groups = append(groups, nil)
		}
		groups[g] = append(groups[g], i)
	}
	return groups
}

// decodeMonitorCycle reads scriptMonitorCycle's reply; sent is the order
// the outcomes of done were sent in (the script counts lost leases in it).
func decodeMonitorCycle(v any, done []MonitorCompletion, sent []int) (MonitorCycleResult, error) {
	res := MonitorCycleResult{Completed: make([]error, len(done))}
	a, ok := v.([]any)
	if !ok || len(a) != 4 {
		return res, fmt.Errorf("unexpected script reply %T", v)
	}
	lost, ok := a[0].([]any)
	if !ok {
		return res, fmt.Errorf("unexpected lost leases %T", a[0])
	}
	for _, p := range lost {
		pos, ok := p.(int64)
		if !ok || pos < 1 || int(pos) > len(sent) {
			return res, fmt.Errorf("unexpected lost lease %v", p)
		}
		i := sent[pos-1]
		res.Completed[i] = leaseLost(done[i].Claim)
	}
	anns, err := strs(a[1], 5)
	if err != nil {
		return res, err
	}
	for i := 0; i < len(anns); i += 5 {
		m, _, err := decodeMonitor(anns[i], anns[i+4], "")
		if err != nil {
			return res, err
		}
		p := MonitorPending{Monitor: m, Changes: json.RawMessage("[" + anns[i+3] + "]")}
		p.Seq, _ = strconv.ParseInt(anns[i+1], 10, 64)
		p.Attempt, _ = strconv.Atoi(anns[i+2])
		p.IdempotencyKey = monitorKey(m, p.Seq)
		res.Announcements = append(res.Announcements, p)
	}
	if res.Claims, err = decodeMonitorClaims(a[2]); err != nil {
		return res, err
	}
	res.Next, err = decodeNext(a[3])
	return res, err
}

// leaseLost is the Completed error of an outcome recorded too late: its
// claim's lease ended, and the address was claimed again or removed.
func leaseLost(c MonitorClaim) error {
	return fmt.Errorf("store: complete %s %s: %w", c.Key.id(), c.IP, ErrLeaseLost)
}

// decodeMonitorClaims reads {token, claims} as mclaim returns them: per
// channel its name, a count, then member, score and state per address.
func decodeMonitorClaims(v any) ([]MonitorClaim, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 2 {
		return nil, fmt.Errorf("unexpected claims %T", v)
	}
	tok, ok := a[0].(int64)
	list, ok2 := a[1].([]any)
	if !ok || !ok2 {
		return nil, fmt.Errorf("unexpected claims %T, %T", a[0], a[1])
	}
	var claims []MonitorClaim
	for len(list) > 0 {
		if len(list) < 2 {
			return nil, fmt.Errorf("unexpected claims %v", list)
		}
		ch, ok := list[0].(string)
		n, ok2 := list[1].(int64)
		if !ok || !ok2 || n < 0 || len(list) < 2+3*int(n) {
			return nil, fmt.Errorf("unexpected claims of channel %v", list[0])
		}
		vs, err := strs(list[2:2+3*int(n)], 3)
		if err != nil {
			return nil, err
		}
		for j := 0; j < len(vs); j += 3 {
			c, err := decodeMonitorClaim(ch, vs[j], vs[j+1], vs[j+2])
			if err != nil {
				return nil, err
			}
			c.Token = tok
			claims = append(claims, c)
		}
		list = list[2+3*int(n):]
	}
	return claims, nil
}

// decodeMonitorClaim reads one claim: its channel, queue member, score and
// state.
func decodeMonitorClaim(ch, mem, score, state string) (MonitorClaim, error) {
	c := MonitorClaim{Key: MonitorKey{Channel: ch}}
	th, ip, ok := strings.Cut(mem, " ")
	if !ok {
		return c, fmt.Errorf("corrupt monitor queue member %q", mem)
	}
	c.Key.Thread = th
	var err error
	if c.IP, err = netip.ParseAddr(ip); err != nil {
		return c, err
	}
	f, err := strconv.ParseFloat(score, 64)
	if err != nil {
		return c, fmt.Errorf("unexpected due time %q", score)
	}
	c.Due = time.UnixMilli(int64(math.Ceil(f))).UTC() // a held score is its lease's end less 0.5
	c.State, err = decodeState(state)
	return c, err
}

func (r *Redis) MarkMonitorPosted(ctx context.Context, p MonitorPending) error {
	_, err := r.run(ctx, "mark monitor posted", scriptMonitorPosted, p.Monitor.id(), p.Seq, ms(p.Monitor.CreatedAt))
	return err
}
