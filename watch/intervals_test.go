package watch_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/rdnsbot/rdnsbot/watch"
)

func TestIntervalsDecode(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		in      string
		want    watch.Intervals
		wantErr string
	}{
		{in: "", want: nil}, // the scheduler's DefaultIntervals
		{in: "1m,2m,5m,10m,15m,30m,1h", want: watch.DefaultIntervals},
		{in: " 30s , 1h30m", want: []time.Duration{30 * time.Second, 90 * time.Minute}},
		{in: "5m", want: []time.Duration{5 * time.Minute}},
		{in: "1m,,5m", wantErr: "item 2 is empty"},
		{in: "1m,5", wantErr: `item 2 "5" is not a duration`},
		{in: "1m,fast", wantErr: `item 2 "fast" is not a duration`},
		{in: "10ms", wantErr: "below the minimum"},
		{in: "-1m", wantErr: "below the minimum"},
	} {
		var got watch.Intervals
		err := got.EnvDecode(tc.in)
		if tc.wantErr != "" {
			if err == nil || !strings.HasPrefix(err.Error(), "recheck intervals: ") || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("EnvDecode(%q) error = %v; want %q", tc.in, err, tc.wantErr)
			}
			continue
		}
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("EnvDecode(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestIntervalsDecodeAndPrint(t *testing.T) {
	t.Parallel()
	var iv watch.Intervals
	if err := iv.EnvDecode("30s,1h30m"); err != nil || !slices.Equal(iv, watch.Intervals{30 * time.Second, 90 * time.Minute}) {
		t.Fatalf("EnvDecode = %v, %v", iv, err)
	}
	if got := iv.String(); got != "30s,1h30m" {
		t.Errorf("String() = %q", got)
	}
	if got := (watch.Intervals{}).String(); got != "1m,2m,5m,10m,15m,30m,1h" {
		t.Errorf("empty String() = %q, want the defaults", got)
	}
	if err := iv.EnvDecode("1m,soon"); err == nil || strings.Contains(err.Error(), "time:") {
		t.Errorf("EnvDecode error = %v, want one in words", err)
	}
}
