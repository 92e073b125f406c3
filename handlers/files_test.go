package handlers

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sync/semaphore"

	"github.com/rdnsbot/rdnsbot/internal/bouncetest"
	"github.com/rdnsbot/rdnsbot/slackfake"
)

// uploaded adds content to the fake Slack as an upload and returns the
// file as a message event carries it, with the size the event claims.
func uploaded(h *harness, content []byte, size int64) *slackFile {
	f := h.fake.AddFile(slackfake.File{Name: "bounce.eml", Mimetype: "message/rfc822", Filetype: "eml", Content: content, Channels: []string{chanOps}})
	return &slackFile{ID: f.ID, Name: f.Name, Mimetype: f.Mimetype, Filetype: f.Filetype, Size: size, URLPrivateDownload: f.URLPrivateDownload}
}

// TestDownloadAdmittedByByteBudget: a download waits for room in the byte
// budget and, when none comes within budgetWait, is refused with a reply
// that says to upload again; with room it is read. A file of unknown size
// weighs the most a download may hold.
func TestDownloadAdmittedByByteBudget(t *testing.T) {
	h := startHarness(t)
	eml := []byte(bouncetest.CRLF(bouncetest.Nested(64<<10, 2)))
	size := int64(len(eml))
	const max = 1 << 20
	budget := semaphore.NewWeighted(max)
	fr := &fileReader{out: h.poster, max: max, log: h.poster.log, budget: budget, budgetWait: 20 * time.Millisecond}
	ctx := context.Background()

	for _, tc := range []struct {
		name   string
		held   int64 // taken by downloads in progress
		size   int64 // as the event claims
		admits bool
	}{
		{"room", max - size, size, true},
		{"no room", max - size + 1, size, false},
		{"unknown size, empty budget", 0, 0, true},
		{"unknown size, any download in progress", 1, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if !budget.TryAcquire(tc.held) {
				t.Fatal("budget not free")
			}
			defer budget.Release(tc.held)
			r, err := fr.download(ctx, uploaded(h, eml, tc.size))
			if tc.admits {
				if err != nil || !r.RDNS || len(r.SendingIPs) != 1 || r.SendingIPs[0] != bouncetest.SendingIP {
					t.Errorf("admitted download: %+v, %v", r, err)
				}
				return
			}
			m, reason := refusalMessage(err)
			if !errors.Is(err, errFilesBusy) || reason != "files_busy" || !strings.Contains(m.Text, "upload it again") || r.RDNS {
				t.Errorf("download without room: %+v, %v, reply %q", r, err, m.Text)
			}
		})
	}
	if !budget.TryAcquire(max) {
		t.Error("a download kept part of the budget")
	}
}

// TestDownloadLimitWhileReading: a file larger than the limit whose size
// the event understates (or leaves out) is cut off while reading and
// refused as too large, never parsed in part.
func TestDownloadLimitWhileReading(t *testing.T) {
	h := startHarness(t)
	eml := []byte(bouncetest.CRLF(bouncetest.Nested(256<<10, 2)))
	const max = 64 << 10
	fr := &fileReader{out: h.poster, max: max, log: h.poster.log, budget: semaphore.NewWeighted(max), budgetWait: time.Second}
	for _, claimed := range []int64{0, 1000} {
		r, err := fr.download(context.Background(), uploaded(h, eml, claimed))
		if m, reason := refusalMessage(err); !errors.Is(err, errFileTooLarge) || reason != "file_too_large" || !strings.Contains(m.Text, "too large") || r.RDNS {
			t.Errorf("size claimed %d: %+v, %v", claimed, r, err)
		}
	}
}

// TestDownloadAllocatesOneBuffer: a download of known size is read into
// one buffer of that size, not buffered and copied: all a download and
// its parse allocate stays under 1.5 times the file (a doubling buffer
// alone would be twice).
func TestDownloadAllocatesOneBuffer(t *testing.T) {
	h := startHarness(t, withLog(slog.New(slog.DiscardHandler)))
	eml := []byte(bouncetest.CRLF(bouncetest.Nested(8<<20, 8)))
	fr := &fileReader{out: h.poster, max: 25 << 20, log: h.poster.log, budget: semaphore.NewWeighted(25 << 20), budgetWait: time.Second}
	f := uploaded(h, eml, int64(len(eml)))
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	r, err := fr.download(context.Background(), f)
	runtime.ReadMemStats(&after)
	if err != nil || !r.RDNS {
		t.Fatalf("%+v, %v", r, err)
	}
	if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(len(eml))*3/2; got > limit {
		t.Errorf("downloading %d bytes allocated %d, want under %d", len(eml), got, limit)
	}
}
