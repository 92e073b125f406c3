package watch

import (
	"fmt"
	"strings"
	"time"
)

// DefaultIntervals is RECHECK_INTERVALS' default: 1m,2m,5m,10m,15m,30m,1h.
var DefaultIntervals = []time.Duration{
	time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute,
	15 * time.Minute, 30 * time.Minute, time.Hour,
}

// Intervals is RECHECK_INTERVALS as the scheduler takes it (Config.Intervals):
// the waits between rechecks, the last one repeating. go-envconfig decodes
// it with EnvDecode, so the variable is parsed in one place.
type Intervals []time.Duration

// EnvDecode reads RECHECK_INTERVALS, comma-separated Go durations
// ("1m,2m,5m,1h"), the last one repeating; it implements envconfig.Decoder.
// Spaces around items are allowed; an empty string is no intervals, for
// DefaultIntervals.
func (iv *Intervals) EnvDecode(s string) error {
	ds, err := parseIntervals(s)
	if err != nil {
		return fmt.Errorf("recheck intervals: %w", err)
	}
	*iv = ds
	return nil
}

// String is the schedule as RECHECK_INTERVALS writes it, DefaultIntervals
// when empty.
func (iv Intervals) String() string {
	if len(iv) == 0 {
		iv = DefaultIntervals
	}
	items := make([]string, len(iv))
	for i, d := range iv {
		text := d.String() // "1h30m0s"
		if strings.HasSuffix(text, "m0s") {
			text = strings.TrimSuffix(text, "0s")
		}
		if strings.HasSuffix(text, "h0m") {
			text = strings.TrimSuffix(text, "0m")
		}
		items[i] = text
	}
	return strings.Join(items, ",")
}

// minInterval keeps a typo such as "1ms" from hammering DNS servers.
const minInterval = time.Second

// parseIntervals reads the items of EnvDecode's s.
func parseIntervals(s string) (Intervals, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var ds Intervals
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("item %d is empty", i+1)
		}
		d, err := time.ParseDuration(item)
		if err != nil {
			return nil, fmt.Errorf("item %d %q is not a duration like 90s, 5m or 1h", i+1, item)
		}
		if d < minInterval {
			return nil, fmt.Errorf("item %d %q is below the minimum of %s", i+1, item, minInterval)
		}
		ds = append(ds, d)
	}
	return ds, nil
}
