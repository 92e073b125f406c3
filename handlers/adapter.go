package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/rdnsbot/rdnsbot/diagnose"
	"github.com/rdnsbot/rdnsbot/store"
	"github.com/rdnsbot/rdnsbot/watch"
)

// schedulerWatches implements Watches with the recheck scheduler and its store.
type schedulerWatches struct {
	sched *watch.Scheduler
	st    store.Store
}

// NewWatches adapts a scheduler and the store it drives to what the handlers need.
func NewWatches(sched *watch.Scheduler, st store.Store) Watches {
	return &schedulerWatches{sched: sched, st: st}
}

func (w *schedulerWatches) Start(ctx context.Context, req WatchRequest, first *diagnose.Result) error {
	ip, err := netip.ParseAddr(req.IP)
	if err != nil {
		return fmt.Errorf("watch %q: %w", req.IP, err)
	}
	sw := store.Watch{
		Key:         store.Key{IP: ip, Channel: req.Channel, Thread: req.ThreadTS},
		RequestedBy: req.User,
		Source:      store.Source(req.Source),
	}
	if _, _, err := w.sched.Watch(ctx, sw, *first); err != nil && !errors.Is(err, watch.ErrFixed) {
		return err
	}
	return nil
}

func (w *schedulerWatches) Stop(ctx context.Context, ipText, channel, thread string) (bool, error) {
	ip, err := netip.ParseAddr(ipText)
	if err != nil {
		return false, fmt.Errorf("unwatch %q: %w", ipText, err)
	}
	return w.st.Remove(ctx, store.Key{IP: ip, Channel: channel, Thread: thread})
}

func (w *schedulerWatches) ListChannel(ctx context.Context, channel string) ([]WatchInfo, error) {
	ws, err := w.st.ListByChannel(ctx, channel)
	return infos(ws), err
}

func (w *schedulerWatches) ListUser(ctx context.Context, user string) ([]WatchInfo, error) {
	ws, err := w.st.ListByUser(ctx, user)
	return infos(ws), err
}

// infos keeps the active watches, as users see them.
func infos(ws []store.Watch) []WatchInfo {
	var out []WatchInfo
	for _, w := range ws {
		if w.State != store.StateActive {
			continue
		}
		out = append(out, WatchInfo{IP: w.IP.String(), Channel: w.Channel, ThreadTS: w.Thread,
			Status: w.Status, Since: w.CreatedAt, NextCheck: w.NextCheck})
	}
	return out
}
