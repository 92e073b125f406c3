package store

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/rdnsbot/rdnsbot/diagnose"
)

// Timeouts and retries applied when REDIS_URL does not set its own
// (dial_timeout, read_timeout, write_timeout, max_retries, dialer_retries):
// small, so that with Redis down a handler learns it within about a second
// and says "watching is unavailable" instead of hanging. go-redis's defaults
// (5 s dial, 3 retries of 5 dials each) would take several seconds.
const (
	defaultDialTimeout = 500 * time.Millisecond
	defaultIOTimeout   = 500 * time.Millisecond
	defaultRetries     = 1
)

// NewClient builds a go-redis client from a REDIS_URL:
//
//	redis://[user:password@]host:port[/db][?dial_timeout=1s&...]    standalone
//	rediss://...                                                    standalone over TLS
//	unix://[user:password@]/path/to/redis.sock[?db=N]               standalone on a unix socket
//	redis+sentinel://[user:password@]host:port[,host:port...]/master[/db][?sentinel_password=...]   Sentinel
//	redis+cluster://[user:password@]host:port[?addr=host:port&...]  Cluster (rediss+cluster:// for TLS)
//
// Query parameters are go-redis's (snake case option names: max_retries,
// dial_timeout, read_timeout, pool_size, password, ...). With Sentinel the
// user and password are the Redis servers' (master and replicas); the
// sentinels' own, if they require any, are sentinel_username and
// sentinel_password. Errors never show the URL's secrets (see RedactURL).
func NewClient(redisURL string) (redis.UniversalClient, error) {
	c, err := newClient(redisURL)
	if err == nil {
		return c, nil
	}
	// net/url's errors quote the URL, or the part it took for a port or a
	// host, which may be a piece of an unescaped password: say what is
	// wrong without them. Every other error here is worded by newClient
	// and rejected, never by a parser, and shows none of the URL.
	msg := "malformed URL (percent-encode characters such as @ : / ? # and spaces in the user name and password)"
	if ue := (*url.Error)(nil); !errors.As(err, &ue) {
		msg = err.Error()
	}
	return nil, fmt.Errorf("store: REDIS_URL %s: %s", RedactURL(redisURL), msg)
}

var errBadDB = errors.New("bad database number: want a number, e.g. /0 in the path or db=0")

// rejected says why go-redis refused rawURL without go-redis's message,
// which quotes the offending part verbatim (an option's value may be a
// password): the parts go-redis checks are checked again here, each failure
// with its own fixed wording. dbInPath is whether the path is a database
// number (redis, rediss and the sentinel form) rather than a socket (unix)
// or unused (cluster).
func rejected(rawURL string, dbInPath bool) error {
	u, err := url.Parse(rawURL)
	if err != nil {
		return err // a *url.Error, which NewClient words
	}
	isNumber := func(s string) bool { _, err := strconv.Atoi(s); return err == nil }
	path := strings.FieldsFunc(u.Path, func(r rune) bool { return r == '/' })
	switch {
	case u.Scheme == "unix" && strings.TrimSpace(u.Path) == "":
		return errors.New("no socket path: want unix:///path/to/redis.sock")
	case dbInPath && (len(path) > 1 || len(path) == 1 && !isNumber(path[0])):
		return errBadDB
	}
	q := u.Query()
	if q.Has("db") && !isNumber(q.Get("db")) {
		return errBadDB
	}
	for _, a := range q["addr"] {
		if h, p, err := net.SplitHostPort(a); err != nil || h == "" || p == "" {
			return errors.New("bad host:port in the host list or an addr= option")
		}
	}
	return errors.New("unknown query option, or an option's value malformed (names are go-redis's snake-case option names; values are numbers, durations such as 2s, or true/false)")
}

func newClient(redisURL string) (redis.UniversalClient, error) {
	scheme, rest, ok := strings.Cut(redisURL, "://")
	if !ok {
		return nil, errors.New("want scheme://..., e.g. redis://localhost:6379")
	}
	switch scheme {
	case "redis", "rediss", "unix":
		o, err := redis.ParseURL(redisURL)
		if err != nil {
			return nil, rejected(redisURL, scheme != "unix")
		}
		harden(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries, &o.Dialer, o.TLSConfig)
		return redis.NewClient(o), nil
	case "redis+cluster", "rediss+cluster":
		u := strings.TrimSuffix(scheme, "+cluster") + "://" + rest
		o, err := redis.ParseClusterURL(u)
		if err != nil {
			return nil, rejected(u, false)
		}
		harden(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries, &o.Dialer, o.TLSConfig)
		return redis.NewClusterClient(o), nil
	case "redis+sentinel", "rediss+sentinel":
		o, err := parseSentinelURL(strings.TrimSuffix(scheme, "+sentinel"), rest)
		if err != nil {
			return nil, err
		}
		harden(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.MaxRetries, &o.DialerRetries, &o.Dialer, o.TLSConfig)
		return redis.NewFailoverClient(o), nil
	}
	return nil, errors.New("unknown scheme (want redis, rediss, unix, redis+sentinel or redis+cluster)")
}

// parseSentinelURL reads "[user:password@]host:port,host:port/master[/db][?query]"
// (scheme redis or rediss). The query takes go-redis's failover options, and
// sentinel_username and sentinel_password, which go-redis reads from the
// userinfo of its own failover URL form (where the userinfo is the
// sentinels'); here the userinfo is the Redis servers', as in every other
// REDIS_URL form.
func parseSentinelURL(scheme, rest string) (*redis.FailoverOptions, error) {
	rest, _, _ = strings.Cut(rest, "#")
	rest, query, _ := strings.Cut(rest, "?")
	var user, pass string
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		u, p, _ := strings.Cut(rest[:at], ":")
		var err error
		if user, err = url.PathUnescape(u); err != nil {
			return nil, errors.New("bad user name escape")
		}
		if pass, err = url.PathUnescape(p); err != nil {
			return nil, errors.New("bad password escape")
		}
		rest = rest[at+1:]
	}
	hosts, path, _ := strings.Cut(rest, "/")
	parts := strings.Split(strings.Trim(path, "/"), "/")
	if hosts == "" || parts[0] == "" || len(parts) > 2 {
		return nil, errors.New("want host:port[,host:port...]/master_name[/db]")
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return nil, errors.New("bad query")
	}
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	if q.Has("master_name") || q.Has("addr") {
		return nil, errors.New("give the master name in the path and the sentinels as host:port,host:port")
	}
	addrs := strings.Split(hosts, ",")
	q.Set("master_name", parts[0])
	for _, a := range addrs[1:] {
		q.Add("addr", a)
	}
	db := ""
	if len(parts) == 2 {
		if _, err := strconv.Atoi(parts[1]); err != nil {
			return nil, errBadDB
		}
		db = "/" + parts[1]
	}
	failover := scheme + "://" + addrs[0] + db + "?" + q.Encode()
	o, err := redis.ParseFailoverURL(failover)
	if err != nil {
		return nil, rejected(failover, true)
	}
	if o.Username == "" && o.Password == "" {
		o.Username, o.Password = user, pass
	}
	o.SentinelUsername, o.SentinelPassword = sentinelUser, sentinelPass
	return o, nil
}

// harden sets up a client of any REDIS_URL form (go-redis's Options,
// ClusterOptions and FailoverOptions share these fields, not a type): it
// fails fast (failFast) and dials through refusalDialer, so that a refusal
// is reported in Redis's own words.
func harden(dial, read, write *time.Duration, retries, dialRetries *int,
	dialer *func(ctx context.Context, network, addr string) (net.Conn, error), tlsConfig *tls.Config) {
	failFast(dial, read, write, retries, dialRetries)
	*dialer = refusalDialer(*dial, tlsConfig)
}

// failFast sets the defaults above where the URL left a zero.
func failFast(dial, read, write *time.Duration, retries, dialRetries *int) {
	defaults := []struct {
		d *time.Duration
		v time.Duration
	}{{dial, defaultDialTimeout}, {read, defaultIOTimeout}, {write, defaultIOTimeout}}
	for _, x := range defaults {
		if *x.d == 0 {
			*x.d = x.v
		}
	}
	for _, n := range []*int{retries, dialRetries} {
		if *n == 0 {
			*n = defaultRetries
		}
	}
}

// RedactURL is a REDIS_URL fit for logs and errors: the password in the
// userinfo (the whole userinfo when it has no ':', as it may be a password
// alone), the values of query parameters whose name mentions a password,
// secret, token or auth, and the fragment are replaced by "xxxxx".
func RedactURL(s string) string {
	u := splitURL(s)
	var b strings.Builder
	b.WriteString(u.scheme)
	switch {
	case u.hasPass:
		b.WriteString(u.user + ":" + hidden + "@")
	case u.hasUser:
		b.WriteString(hidden + "@")
	}
	b.WriteString(u.host)
	if u.hasQuery {
		b.WriteByte('?')
		for i, p := range u.params {
			if i > 0 {
				b.WriteByte('&')
			}
			if k, _, ok := strings.Cut(p, "="); ok && secretParam(k) {
				p = k + "=" + hidden
			}
			b.WriteString(p)
		}
	}
	if u.frag != "" {
		b.WriteString("#" + hidden)
	}
	return b.String()
}

const hidden = "xxxxx"

// urlParts is a REDIS_URL cut where a secret may be, more eagerly than
// net/url: a password may hold '#', '?' or '/' unescaped, so the userinfo
// ends at the last '@' before the first '=' (a query value may hold '@').
type urlParts struct {
	scheme           string // with "://"; "" when s has none
	user, pass       string
	hasUser, hasPass bool
	host             string // host, port and path
	params           []string
	hasQuery         bool
	frag             string
}

func splitURL(s string) urlParts {
	var u urlParts
	if i := strings.Index(s, "://"); i >= 0 {
		u.scheme, s = s[:i+3], s[i+3:]
	}
	limit := len(s)
	if eq := strings.IndexByte(s, '='); eq >= 0 {
		limit = eq
	}
	if at := strings.LastIndex(s[:limit], "@"); at >= 0 {
		u.hasUser = true
		u.user, u.pass, u.hasPass = strings.Cut(s[:at], ":")
		s = s[at+1:]
	}
	s, u.frag, _ = strings.Cut(s, "#")
	var query string
	u.host, query, u.hasQuery = strings.Cut(s, "?")
	if u.hasQuery {
		u.params = strings.Split(query, "&")
	}
	return u
}

func secretParam(name string) bool {
	if u, err := url.QueryUnescape(name); err == nil {
		name = u
	}
	name = strings.ToLower(name)
	for _, w := range []string{"pass", "secret", "token", "auth"} {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// Redis is the Store on a Redis deployment shared by every replica.
type Redis struct {
	c redis.UniversalClient
	p string // "{prefix}": the hash tag every key starts with
}

var _ Store = (*Redis)(nil)

// NewRedis uses c with keys under prefix (default "rd"; tests use one
// prefix each to share a server).
func NewRedis(c redis.UniversalClient, prefix string) *Redis {
	if prefix == "" {
		prefix = "rd"
	}
	return &Redis{c: c, p: "{" + prefix + "}"}
}

// Open connects to REDIS_URL (see NewClient) lazily: an unreachable Redis is
// not an error here (go-redis keeps reconnecting); use Ping to report it.
func Open(redisURL string) (*Redis, error) {
	c, err := NewClient(redisURL)
	if err != nil {
		return nil, err
	}
	return NewRedis(c, ""), nil
}

func (r *Redis) key(name string) string { return r.p + ":" + name }

// run evaluates a script with a schedule key as routing key.
func (r *Redis) run(ctx context.Context, op string, s *redis.Script, args ...any) (any, error) {
	v, err := s.Run(ctx, r.c, []string{r.key("wait")}, append([]any{r.p}, args...)...).Result()
	if err != nil {
		return nil, wrapErr(op, err)
	}
	return v, nil
}

// wrapErr marks errors that mean "Redis is not there right now" with
// ErrUnavailable: network errors, timeouts, and the replies of a server that
// is loading, failing over or read-only. Other replies are bugs.
func wrapErr(op string, err error) error {
	var re redis.Error
	unavailable := !errors.Is(err, context.Canceled)
	if errors.As(err, &re) {
		unavailable = false
		for _, p := range []string{"LOADING", "READONLY", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "BUSY"} {
			if redis.HasErrorPrefix(err, p) {
				unavailable = true
			}
		}
	}
	if unavailable {
		return fmt.Errorf("store: %s: %w: %w", op, ErrUnavailable, err)
	}
	return fmt.Errorf("store: %s: %w", op, err)
}

// replyErr reports a script reply the store cannot read (corrupt data, a bug):
// not ErrUnavailable, which would have callers retry the same thing forever.
func replyErr(op string, err error) error { return fmt.Errorf("store: %s: %w", op, err) }

var sourceCodes = map[Source]string{SourceCommand: "c", SourceMention: "m", SourceBounce: "b", SourceButton: "k", SourceShortcut: "s", SourceDM: "d"}

func sourceOf(code string) Source {
	for s, c := range sourceCodes {
		if c == code {
			return s
		}
	}
	return Source(code)
}

// ms is t in Unix milliseconds, 0 for the zero time.
func ms(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromMS(s string) time.Time {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n == 0 {
		return time.Time{}
	}
	return time.UnixMilli(n).UTC()
}

func (r *Redis) Add(ctx context.Context, w Watch, due time.Time, lim Limits) (bool, error) {
	if err := w.validate(); err != nil {
		return false, err
	}
	v, err := r.run(ctx, "add", scriptAdd, w.IP.String(), w.Channel+":"+w.Thread, w.RequestedBy,
		sourceCodes[w.Source], ms(w.CreatedAt), ms(due), string(w.Status), ms(w.CheckedAt), w.Zone,
		max(lim.PerChannel, 0), max(lim.PerUser, 0), max(lim.Total, 0), w.HELO)
	if err != nil {
		return false, err
	}
	switch v {
	case int64(1):
		return true, nil
	case int64(0):
		return false, nil
	case int64(-1):
		return false, ErrChannelLimit
	case int64(-2):
		return false, ErrUserLimit
	case int64(-3):
		return false, ErrTotalLimit
	}
	return false, replyErr("add", fmt.Errorf("unexpected script reply %v", v))
}

func (r *Redis) Count(ctx context.Context) (int, error) {
	n, err := r.c.Get(ctx, r.key("n")).Int()
	switch {
	case errors.Is(err, redis.Nil):
		return 0, nil
	case err != nil:
		return 0, wrapErr("count", err)
	}
	return n, nil
}

func (r *Redis) Remove(ctx context.Context, k Key) (bool, error) {
	v, err := r.run(ctx, "remove", scriptRemove, k.IP.Unmap().String(), k.Channel+":"+k.Thread)
	return v == int64(1), err
}

func (r *Redis) ListByUser(ctx context.Context, user string) ([]Watch, error) {
	return r.list(ctx, "list by user", "u", user)
}

func (r *Redis) ListByChannel(ctx context.Context, channel string) ([]Watch, error) {
	return r.list(ctx, "list by channel", "c", channel)
}

func (r *Redis) list(ctx context.Context, op string, args ...any) ([]Watch, error) {
	v, err := r.run(ctx, op, scriptList, args...)
	if err != nil {
		return nil, err
	}
	vs, err := strs(v, 5)
	if err != nil {
		return nil, replyErr(op, err)
	}
	var ws []Watch
	for i := 0; i < len(vs); i += 5 {
		w, err := decodeWatch(vs[i], vs[i+1], vs[i+2], vs[i+3])
		if err != nil {
			return nil, replyErr(op, err)
		}
		if w.State == StateActive {
			w.NextCheck = fromMS(vs[i+4])
		}
		ws = append(ws, w)
	}
	sortWatches(ws)
	return ws, nil
}

// decodeWatch reads the encoding described in scripts.go.
func decodeWatch(ip, wid, rec, meta string) (Watch, error) {
	var w Watch
	var err error
	if w.IP, err = netip.ParseAddr(ip); err != nil {
		return w, fmt.Errorf("corrupt watch IP %q: %w", ip, err)
	}
	var ok bool
	if w.Channel, w.Thread, ok = strings.Cut(wid, ":"); !ok {
		return w, fmt.Errorf("corrupt watch id %q", wid)
	}
	f := strings.Split(rec, "|")
	switch len(f) {
	case 7:
		w.HELO = f[6]
	case 6: // written before the HELO was kept
	default:
		return w, fmt.Errorf("corrupt watch record %q", rec)
	}
	w.RequestedBy, w.Source, w.CreatedAt = f[0], sourceOf(f[1]), fromMS(f[2])
	switch f[3] {
	case "a":
		w.State = StateActive
	case "p":
		w.State, w.Pending = StateActive, KindProgress
	case "f":
		w.State, w.Pending = StateFixed, KindFixed
	case "e":
		w.State, w.Pending = StateExpired, KindExpired
	default:
		return w, fmt.Errorf("corrupt watch state in %q", rec)
	}
	w.ProgressAnnounced = f[4] == "1"
	if m := strings.Split(meta, "|"); len(m) >= 4 {
		w.Status, w.CheckedAt = diagnose.Status(m[1]), fromMS(m[2])
		if len(m) >= 6 {
			w.Zone = m[5]
		}
	}
	return w, nil
}

// strs checks a script's array reply of strings, a multiple of n long.
func strs(v any, n int) ([]string, error) {
	a, ok := v.([]any)
	if !ok || len(a)%n != 0 {
		return nil, fmt.Errorf("unexpected script reply %T", v)
	}
	out := make([]string, len(a))
	for i, e := range a {
		if out[i], ok = e.(string); !ok {
			return nil, fmt.Errorf("unexpected script reply element %T", e)
		}
	}
	return out, nil
}

// claimReply reads a claimDue reply: the token, then one array of
// strings per claim.
func claimReply(v any) (int64, [][]string, error) {
	a, ok := v.([]any)
	if !ok || len(a) == 0 {
		return 0, nil, fmt.Errorf("unexpected script reply %T", v)
	}
	tok, ok := a[0].(int64)
	if !ok {
		return 0, nil, fmt.Errorf("unexpected token %T", a[0])
	}
	out := make([][]string, 0, len(a)-1)
	for _, e := range a[1:] {
		vs, err := strs(e, 1)
		if err != nil {
			return 0, nil, err
		}
		out = append(out, vs)
	}
	return tok, out, nil
}

// parseScore reads a sorted set score in Unix ms.
func parseScore(s string) (time.Time, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("unexpected due time %q", s)
	}
	return time.UnixMilli(int64(f)).UTC(), nil
}

// decodeClaims reads the Lua claimDue's reply.
func decodeClaims(v any) ([]Claim, error) {
	tok, entries, err := claimReply(v)
	if err != nil {
		return nil, err
	}
	claims := make([]Claim, 0, len(entries))
	for _, vs := range entries {
		if len(vs) < 2 || len(vs)%2 != 0 {
			return nil, fmt.Errorf("unexpected claim %q", vs)
		}
		c := Claim{Token: tok}
		if c.IP, err = netip.ParseAddr(vs[0]); err != nil {
			return nil, err
		}
		if c.Due, err = parseScore(vs[1]); err != nil {
			return nil, err
		}
		meta := ""
		for i := 2; i < len(vs); i += 2 {
			if vs[i] == "#" {
				meta = vs[i+1]
			}
		}
		checks, _, _ := strings.Cut(meta, "|")
		c.Checks, _ = strconv.Atoi(checks)
		for i := 2; i < len(vs); i += 2 {
			if vs[i] == "#" {
				continue
			}
			w, err := decodeWatch(vs[0], vs[i], vs[i+1], meta)
			if err != nil {
				return nil, err
			}
			c.Zone = w.Zone
			c.Watches = append(c.Watches, w)
		}
		sortWatches(c.Watches)
		claims = append(claims, c)
	}
	return claims, nil
}

// appendCompletion encodes one outcome the way the Lua complete reads it.
func appendCompletion(args []any, d Completion) ([]any, error) {
	var result []byte
	if len(d.Outcome.Transitions) > 0 && !d.Outcome.Deferred {
		var err error
		if result, err = json.Marshal(d.Outcome.Result); err != nil {
			return nil, err
		}
	}
	o := d.Outcome
	ts := o.Transitions
	deferred := 0
	if o.Deferred {
		ts, deferred = nil, 1
	}
	args = append(args, d.Claim.IP.String(), d.Claim.Token, ms(o.Next), string(o.Result.Status), ms(o.Result.CheckedAt), result, ms(o.Now),
		usableZone(o.Result.ReverseZone), deferred, len(ts))
	for _, t := range ts {
		args = append(args, t.Channel+":"+t.Thread, ms(t.CreatedAt), string(t.Kind))
	}
	return args, nil
}

// completed turns the Lua complete's status into Completion's error.
func completed(c Claim, status any) error {
	if status == int64(-1) {
		return fmt.Errorf("store: complete %s: %w", c.IP, ErrLeaseLost)
	}
	return nil
}

func (r *Redis) Cycle(ctx context.Context, now time.Time, done []Completion, max int, checkLease, announceLease time.Duration) (CycleResult, error) {
	args := []any{ms(now), max, checkLease.Milliseconds(), announceLease.Milliseconds(), len(done)}
	for _, d := range done {
		var err error
		if args, err = appendCompletion(args, d); err != nil {
			return CycleResult{}, fmt.Errorf("store: cycle: %w", err)
		}
	}
	return evalDecode(ctx, r, "cycle", scriptCycle, args, func(v any) (CycleResult, error) { return decodeCycle(v, done) })
}

// evalDecode runs a script and decodes its reply; a reply it cannot decode
// is a replyErr.
func evalDecode[T any](ctx context.Context, r *Redis, op string, s *redis.Script, args []any, decode func(any) (T, error)) (T, error) {
	var zero T
	v, err := r.run(ctx, op, s, args...)
	if err != nil {
		return zero, err
	}
	res, err := decode(v)
	if err != nil {
		return zero, replyErr(op, err)
	}
	return res, nil
}

// cycleReply checks a cycle script's reply, {statuses (n), announcements,
// claims, next}, and returns its four parts.
func cycleReply(v any, n int) ([]any, []any, error) {
	a, ok := v.([]any)
	if !ok || len(a) != 4 {
		return nil, nil, fmt.Errorf("unexpected script reply %T", v)
	}
	st, ok := a[0].([]any)
	if !ok || len(st) != n {
		return nil, nil, fmt.Errorf("unexpected completion statuses %v", a[0])
	}
	return a, st, nil
}

// decodeCycle reads scriptCycle's reply.
func decodeCycle(v any, done []Completion) (CycleResult, error) {
	var res CycleResult
	a, st, err := cycleReply(v, len(done))
	if err != nil {
		return res, err
	}
	res.Completed = make([]error, len(done))
	for i, d := range done {
		res.Completed[i] = completed(d.Claim, st[i])
	}
	if res.Announcements, err = decodePending(a[1]); err != nil {
		return res, err
	}
	if res.Claims, err = decodeClaims(a[2]); err != nil {
		return res, err
	}
	res.Next, err = decodeNext(a[3])
	return res, err
}

// decodeNext reads the Lua nextDue's reply: the earlier of its two scores.
func decodeNext(v any) (time.Time, error) {
	vs, err := strs(v, 2)
	if err != nil {
		return time.Time{}, err
	}
	var next time.Time
	for _, s := range vs {
		if s == "" {
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return time.Time{}, err
		}
		if t := time.UnixMilli(int64(f)).UTC(); next.IsZero() || t.Before(next) {
			next = t
		}
	}
	return next, nil
}

// decodePending reads the Lua claimAnn's reply.
func decodePending(v any) ([]Pending, error) {
	vs, err := strs(v, 4)
	if err != nil {
		return nil, err
	}
	ps := make([]Pending, 0, len(vs)/4)
	for i := 0; i < len(vs); i += 4 {
		ip, wid, _ := strings.Cut(vs[i], " ")
		w, err := decodeWatch(ip, wid, vs[i+1], vs[i+2])
		if err != nil {
			return nil, err
		}
		p := Pending{Watch: w, Kind: w.Pending, Attempt: attempts(vs[i+1])}
		if vs[i+3] != "" {
			if err := json.Unmarshal([]byte(vs[i+3]), &p.Result); err != nil {
				return nil, err
			}
		}
		p.IdempotencyKey = idempotencyKey(w, p.Kind)
		ps = append(ps, p)
	}
	return ps, nil
}

func attempts(rec string) int {
	f := strings.Split(rec, "|")
	if len(f) < 6 {
		return 0
	}
	n, _ := strconv.Atoi(f[5])
	return n
}

func (r *Redis) MarkPosted(ctx context.Context, p Pending) error {
	w := p.Watch
	_, err := r.run(ctx, "mark posted", scriptMarkPosted, w.IP.String(), w.Channel+":"+w.Thread, ms(w.CreatedAt), string(p.Kind))
	return err
}

func (r *Redis) FirstDelivery(ctx context.Context, eventID string, ttl time.Duration) (bool, error) {
	if err := checkDelivery(eventID, ttl); err != nil {
		return false, err
	}
	first, err := r.c.SetNX(ctx, r.key("ev:"+eventID), "", ttl).Result()
	if err != nil {
		return false, wrapErr("first delivery", err)
	}
	return first, nil
}

func (r *Redis) Ping(ctx context.Context) error {
	if err := r.c.Ping(ctx).Err(); err != nil {
		return wrapErr("ping", err)
	}
	return nil
}

func (r *Redis) Close() error { return r.c.Close() }
