package handlers

import (
	"context"
	"log/slog"
	"time"
)

// logAttrsKey holds the attributes of the job a context serves.
type logAttrsKey struct{}

// withLogAttrs returns ctx carrying args (slog key/value pairs) in addition
// to those it carries already: every line logged with the context names the
// event, channel, thread and IP being served, so one Slack event can be
// followed from its envelope to the reply and to the watch's rechecks.
func withLogAttrs(ctx context.Context, args ...any) context.Context {
	prev, _ := ctx.Value(logAttrsKey{}).([]slog.Attr)
	r := slog.NewRecord(time.Time{}, 0, "", 0)
	r.Add(args...)
	attrs := append([]slog.Attr(nil), prev...)
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	return context.WithValue(ctx, logAttrsKey{}, attrs)
}

// withContextAttrs makes log add the attributes of withLogAttrs to every
// record logged with a context (InfoContext and the like).
func withContextAttrs(log *slog.Logger) *slog.Logger {
	if _, ok := log.Handler().(contextAttrs); ok {
		return log
	}
	return slog.New(contextAttrs{log.Handler()})
}

type contextAttrs struct{ slog.Handler }

func (h contextAttrs) Handle(ctx context.Context, r slog.Record) error {
	if attrs, ok := ctx.Value(logAttrsKey{}).([]slog.Attr); ok {
		r.AddAttrs(attrs...)
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextAttrs) WithAttrs(attrs []slog.Attr) slog.Handler {
	return contextAttrs{h.Handler.WithAttrs(attrs)}
}

func (h contextAttrs) WithGroup(name string) slog.Handler {
	return contextAttrs{h.Handler.WithGroup(name)}
}

// copyLogAttrs returns dst carrying the log attributes of src, and the keys
// of its posts (withPostKeys): what a job takes from the event loop to its
// worker.
func copyLogAttrs(dst, src context.Context) context.Context {
	if attrs, ok := src.Value(logAttrsKey{}).([]slog.Attr); ok {
		dst = context.WithValue(dst, logAttrsKey{}, attrs)
	}
	if keys, ok := src.Value(postKeysKey{}).(*postKeys); ok {
		dst = context.WithValue(dst, postKeysKey{}, keys)
	}
	return dst
}
