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

// minInterval keeps a typo such as "1ms" from hammering DNS servers.
const minInterval = time.Second

// ParseIntervals reads RECHECK_INTERVALS: comma-separated Go durations
// ("1m,2m,5m,1h"), the last one repeating. Spaces around items are allowed;
// an empty string gives DefaultIntervals.
func ParseIntervals(s string) ([]time.Duration, error) {
	if strings.TrimSpace(s) == "" {
		return DefaultIntervals, nil
	}
	var ds []time.Duration
	for i, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			return nil, fmt.Errorf("watch: RECHECK_INTERVALS item %d is empty (want e.g. 1m,2m,5m)", i+1)
		}
		d, err := time.ParseDuration(item)
		if err != nil {
			return nil, fmt.Errorf("watch: RECHECK_INTERVALS item %d %q is not a duration like 90s, 5m or 1h: %w", i+1, item, err)
		}
		if d < minInterval {
			return nil, fmt.Errorf("watch: RECHECK_INTERVALS item %d %q is below the minimum of %s", i+1, item, minInterval)
		}
		ds = append(ds, d)
	}
	return ds, nil
}
