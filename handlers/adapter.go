package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/watch"
)

// schedulerWatches implements Watches with the recheck scheduler.
type schedulerWatches struct {
	sched *watch.Scheduler
}

// NewWatches adapts a scheduler to what the handlers need.
func NewWatches(sched *watch.Scheduler) Watches {
	return &schedulerWatches{sched: sched}
}

func (w *schedulerWatches) Start(ctx context.Context, req WatchRequest, first *diagnose.Result) error {
	ip, err := netip.ParseAddr(req.IP)
	if err != nil {
		return fmt.Errorf("watch %q: %w", req.IP, err)
	}
	r := watch.Request{Key: watch.Key{IP: ip, Channel: req.Channel, Thread: req.ThreadTS}, User: req.User, Source: watch.Source(req.Source)}
	if err := w.sched.Start(ctx, r, *first); err != nil && !errors.Is(err, watch.ErrFixed) {
		return err
	}
	return nil
}

func (w *schedulerWatches) Stop(ctx context.Context, ipText, channel, thread string) (bool, error) {
	ip, err := netip.ParseAddr(ipText)
	if err != nil {
		return false, fmt.Errorf("unwatch %q: %w", ipText, err)
	}
	return w.sched.Stop(ctx, watch.Key{IP: ip, Channel: channel, Thread: thread})
}

func (w *schedulerWatches) ListChannel(ctx context.Context, channel string) ([]WatchInfo, error) {
	ws, err := w.sched.ListChannel(ctx, channel)
	return infos(ws), err
}

func (w *schedulerWatches) ListUser(ctx context.Context, user string) ([]WatchInfo, error) {
	ws, err := w.sched.ListUser(ctx, user)
	return infos(ws), err
}

func infos(ws []watch.Info) []WatchInfo {
	var out []WatchInfo
	for _, w := range ws {
		out = append(out, WatchInfo{IP: w.Key.IP.String(), Channel: w.Key.Channel, ThreadTS: w.Key.Thread,
			Status: w.Status, Since: w.Since, NextCheck: w.NextCheck})
	}
	return out
}
