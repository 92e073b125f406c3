package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// Monitors are the other kind of subscription (package monitor): a Slack
// thread keeps a set of addresses (a pool, a /22) under check for good, and
// hears of each change. They reuse the watches' machinery: per-channel queues
// claimed round robin with a lease that is also the retry time, outcomes
// fenced by the claim's token, announcement intents recorded with the state
// change in one atomic step and leased to a poster that finds its earlier
// attempt by IdempotencyKey. The state an address is compared against
// (AddrState) is the scheduler's; the store keeps it and only reads its
// status, to count failing addresses.

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
	Due   time.Time
	State AddrState
	Token int64
}

// MonitorCompletion is a finished check of a claimed address.
type MonitorCompletion struct {
	Claim MonitorClaim
	State AddrState
	Next  time.Time
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
	// MonitorCycle is Cycle for monitors; changes recorded are claimable
	// after gather.
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

func (m *Monitor) validate(addrs []MonitorAddr) error {
	if err := checkIDs(m.Channel, m.Thread, m.RequestedBy, m.CreatedAt); err != nil {
		return err
	}
	for i := range addrs {
		if err := checkAddr(addrs[i].IP); err != nil {
			return err
		}
		addrs[i].IP = addrs[i].IP.Unmap()
	}
	m.CreatedAt = m.CreatedAt.Truncate(time.Millisecond)
	return nil
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

// encodeState is an address's stored state after the token: status code,
// propagating flag, then "|names|siblings|candidate|temp_since_ms|noticed".
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
	if err := m.validate(addrs); err != nil {
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
		s = s[:strings.LastIndexByte(s[:maxTargets], ',')+1]
		s = strings.TrimSuffix(s, ",")
	}
	return s
}

func (r *Redis) RemoveMonitor(ctx context.Context, k MonitorKey, ips []netip.Addr) (int, error) {
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
	args := []any{ms(now), max, checkLease.Milliseconds(), announceLease.Milliseconds(), gather.Milliseconds(), len(done)}
	for _, d := range done {
		c := d.Claim
		args = append(args, c.Key.id(), c.IP.String(), c.Token, ms(d.Next), encodeState(d.State), innerChanges(d.Changes))
	}
	v, err := r.run(ctx, "monitor cycle", scriptMonitorCycle, args...)
	if err != nil {
		return MonitorCycleResult{}, err
	}
	res, err := decodeMonitorCycle(v, done)
	if err != nil {
		return MonitorCycleResult{}, replyErr("monitor cycle", err)
	}
	return res, nil
}

func decodeMonitorCycle(v any, done []MonitorCompletion) (MonitorCycleResult, error) {
	var res MonitorCycleResult
	a, ok := v.([]any)
	if !ok || len(a) != 4 {
		return res, fmt.Errorf("unexpected script reply %T", v)
	}
	st, ok := a[0].([]any)
	if !ok || len(st) != len(done) {
		return res, fmt.Errorf("unexpected completion statuses %v", a[0])
	}
	res.Completed = make([]error, len(done))
	for i, d := range done {
		if st[i] == int64(-1) {
			res.Completed[i] = fmt.Errorf("store: complete %s %s: %w", d.Claim.Key.id(), d.Claim.IP, ErrLeaseLost)
		}
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

func decodeMonitorClaims(v any) ([]MonitorClaim, error) {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return nil, fmt.Errorf("unexpected script reply %T", v)
	}
	tok, ok := a[0].(int64)
	if !ok {
		return nil, fmt.Errorf("unexpected token %T", a[0])
	}
	claims := make([]MonitorClaim, 0, len(a)-1)
	for _, e := range a[1:] {
		vs, err := strs(e, 4)
		if err != nil || len(vs) != 4 {
			return nil, errors.Join(fmt.Errorf("unexpected monitor claim %v", e), err)
		}
		c := MonitorClaim{Token: tok}
		var ok bool
		if c.Key.Channel, c.Key.Thread, ok = strings.Cut(vs[0], ":"); !ok {
			return nil, fmt.Errorf("corrupt monitor id %q", vs[0])
		}
		if c.IP, err = netip.ParseAddr(vs[1]); err != nil {
			return nil, err
		}
		due, err := strconv.ParseFloat(vs[2], 64)
		if err != nil {
			return nil, fmt.Errorf("unexpected due time %q", vs[2])
		}
		c.Due = time.UnixMilli(int64(due)).UTC()
		if c.State, err = decodeState(vs[3]); err != nil {
			return nil, err
		}
		claims = append(claims, c)
	}
	return claims, nil
}

func (r *Redis) MarkMonitorPosted(ctx context.Context, p MonitorPending) error {
	_, err := r.run(ctx, "mark monitor posted", scriptMonitorPosted, p.Monitor.id(), p.Seq)
	return err
}
