package handlers

import (
	"cmp"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/monitor"
	"github.com/rdnsbot/rdnsbot/watch"
)

// The App Home holds the watches, then the monitors, then the usage, in at
// most maxHomeBlocks blocks however many there are: the usage stays last.
func TestHomeBlocksHoldWatchesThenMonitorsWithinTheLimit(t *testing.T) {
	watches := func(n int) []watch.Info {
		out := make([]watch.Info, n)
		for i := range out {
			out[i] = watch.Info{Key: watch.Key{IP: netip.AddrFrom4([4]byte{84, 200, byte(i >> 8), byte(i)}), Channel: chanOps, Thread: "1.2"}, Status: "permerror"}
		}
		return out
	}
	monitors := func(n int) []monitor.Info {
		out := make([]monitor.Info, n)
		for i := range out {
			out[i] = monitor.Info{Key: monitor.Key{Channel: chanOps, Thread: "1.2"}, Targets: []string{"84.200.30.0/29"}, Addresses: 6}
		}
		return out
	}
	now := time.Unix(1700000000, 0)
	tests := []struct {
		name     string
		watches  []watch.Info
		monitors []monitor.Info
		monErr   error
		// wantBlocks is the length; 0: capped at maxHomeBlocks.
		wantBlocks int
	}{
		{"nothing", nil, nil, nil, 5},
		{"a few of each", watches(3), monitors(2), nil, 6},
		{"monitors unavailable", watches(3), nil, errors.New("down"), 5},
		{"more than a tab holds", watches(6000), monitors(60), nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			blocks := homeBlocks(tc.watches, nil, monitorHomeBlocks(tc.monitors, tc.monErr), now)
			if want := cmp.Or(tc.wantBlocks, maxHomeBlocks); len(blocks) != want {
				t.Errorf("%d blocks, want %d", len(blocks), want)
			}
			last, ok := blocks[len(blocks)-1].(*slack.ContextBlock)
			if !ok || !strings.Contains(decodeJSON(t, mustJSON(t, last)), "*Usage*") {
				t.Errorf("the last block is %T, want the usage", blocks[len(blocks)-1])
			}
			text := decodeJSON(t, mustJSON(t, blocks))
			w, m := strings.Index(text, "Your reverse-DNS watches"), strings.Index(text, "Your reverse-DNS monitors")
			if w < 0 || (m >= 0 && m < w) || (tc.wantBlocks != 0 && m < 0) {
				t.Errorf("watches at %d, monitors at %d: want the watches, then the monitors", w, m)
			}
		})
	}
}
