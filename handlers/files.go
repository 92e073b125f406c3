package handlers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"golang.org/x/sync/semaphore"

	"github.com/rdnsbot/rdnsbot/bounce"
)

// fileReader fetches the files a message carries (files.info, the file's
// private URL with the bot token) and reads them as bounces, refusing any
// larger than max before and while downloading.
type fileReader struct {
	out *Poster
	max int64
	log *slog.Logger
	// budget admits downloads by their size (Config.FileBytesBudget);
	// budgetWait bounds the wait for room.
	budget     *semaphore.Weighted
	budgetWait time.Duration
}

// errFileTooLarge marks uploads we refuse to read.
var errFileTooLarge = errors.New("file too large")

// read reads a bounce from a file on a message: an email sent to the
// channel's address (mode "email"), or an uploaded .eml/.txt.
func (b *fileReader) read(ctx context.Context, f *slackFile) (bounce.Result, error) {
	stub := f.FileAccess == "check_file_info" || (f.Mode == "" && f.Name == "" && f.ID != "")
	cutEmail := f.isEmail() && (f.PlainText == "" || f.HasMore || f.PreviewIsTruncated)
	if stub || cutEmail {
		// A stub (Slack Connect, some event shapes) or an email body the
		// event cut: files.info has the rest.
		if err := b.complete(ctx, f); err != nil {
			if stub {
				return bounce.Result{}, err
			}
			b.log.WarnContext(ctx, "files.info failed; reading the cut email", "file", f.ID, "err", err)
		}
	}
	if f.isEmail() {
		r, err := bounce.ParseString(f.PlainText)
		if err != nil {
			return bounce.Result{}, fmt.Errorf("email %s: %w", f.ID, err)
		}
		if r.RDNS && len(r.SendingIPs) > 0 || (f.URLPrivateDownload == "" && f.URLPrivate == "") || !f.HasMore {
			return r, nil
		}
		// Still cut and still unsure: read the whole email.
		return b.download(ctx, f)
	}
	if !bounceFile(f) {
		return bounce.Result{}, nil
	}
	return b.download(ctx, f)
}

// complete fills in a file from files.info (has_more is not there: the
// event's value stands).
func (b *fileReader) complete(ctx context.Context, f *slackFile) error {
	var info *slack.File
	err := b.out.withRetry(ctx, func() error {
		var err error
		info, _, _, err = b.out.api.GetFileInfoContext(ctx, f.ID, 0, 0)
		return err
	})
	if err != nil {
		return fmt.Errorf("files.info %s: %w", f.ID, err)
	}
	f.Name, f.Mode, f.Filetype, f.Mimetype, f.Size = info.Name, info.Mode, info.Filetype, info.Mimetype, int64(info.Size)
	if info.PlainText != "" {
		f.PlainText = info.PlainText
	}
	f.PreviewPlainText = info.PreviewPlainText
	f.URLPrivate, f.URLPrivateDownload = info.URLPrivate, info.URLPrivateDownload
	f.PreviewIsTruncated = info.PreviewIsTruncated != nil && *info.PreviewIsTruncated
	return nil
}

// bounceFile reports whether an upload may be a bounce worth reading.
func bounceFile(f *slackFile) bool {
	name := strings.ToLower(f.Name)
	switch {
	case strings.HasSuffix(name, ".eml"), strings.HasSuffix(name, ".txt"), strings.HasSuffix(name, ".log"):
		return true
	case f.Mimetype == "message/rfc822", f.Mimetype == "text/plain", f.Filetype == "eml", f.Filetype == "text":
		return true
	}
	return false
}

// download streams a file with the bot token into the bounce parser,
// refusing oversized ones before and while reading. The parser's one buffer
// is allocated at the size files.info gave (bounce.ParseReader reads
// Size()), so a download is held once, never copied. Downloads at once are
// admitted by their size against the byte budget: a burst of large uploads
// waits for room (at most budgetWait) instead of all being held together,
// and past that the user is told to try again.
func (b *fileReader) download(ctx context.Context, f *slackFile) (bounce.Result, error) {
	if f.Size > b.max {
		return bounce.Result{}, fmt.Errorf("%w: %s is %d bytes, limit %d", errFileTooLarge, f.ID, f.Size, b.max)
	}
	url := f.URLPrivateDownload
	if url == "" {
		url = f.URLPrivate
	}
	if url == "" {
		return bounce.Result{}, nil
	}
	// An unknown size is weighed at the most a download may hold.
	weight := b.max
	if f.Size > 0 {
		weight = f.Size
	}
	wait, cancel := context.WithTimeout(ctx, b.budgetWait)
	err := b.budget.Acquire(wait, weight)
	cancel()
	if err != nil {
		return bounce.Result{}, fmt.Errorf("%w: %s (%d bytes) waited %s for room among the downloads in progress", errFilesBusy, f.ID, weight, b.budgetWait)
	}
	defer b.budget.Release(weight)

	pr, pw := io.Pipe()
	go func() {
		// The parser stops reading at the limit; the error it leaves here
		// ends the transfer.
		pw.CloseWithError(b.out.api.GetFileContext(ctx, url, &limitedWriter{w: pw, left: b.max}))
	}()
	r, err := bounce.ParseReader(sizedReader{pr, f.Size})
	pr.CloseWithError(errParseDone)
	switch {
	case errors.Is(err, errFileTooLarge), errors.Is(err, bounce.ErrTooLarge):
		return bounce.Result{}, fmt.Errorf("%w: %s is more than %d bytes", errFileTooLarge, f.ID, b.max)
	case err != nil:
		return bounce.Result{}, fmt.Errorf("download %s: %w", f.ID, err)
	}
	return r, nil
}

// errParseDone ends a download whose reader stopped reading.
var errParseDone = errors.New("parser done")

// errFilesBusy marks an upload refused because the byte budget stayed full.
var errFilesBusy = errors.New("too many large files at once")

// sizedReader tells bounce.ParseReader the size files.info gave, so that it
// allocates its buffer once (0: unknown, it grows).
type sizedReader struct {
	io.Reader
	size int64
}

func (r sizedReader) Size() int64 { return r.size }

// limitedWriter fails once more than left bytes are written.
type limitedWriter struct {
	w    io.Writer
	left int64
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if int64(len(p)) > l.left {
		return 0, errFileTooLarge
	}
	l.left -= int64(len(p))
	return l.w.Write(p)
}

// refusalMessage is the reply to an upload the bot would not read, and
// why (the reason label of rdnsbot_refusals_total), "" when err is no
// refusal.
func refusalMessage(err error) (m message, reason string) {
	switch {
	case errors.Is(err, errFileTooLarge):
		return textMessage(":warning: This file is too large for me to read. Paste the bounce's text, or its first lines, instead."), "file_too_large"
	case errors.Is(err, errFilesBusy):
		return textMessage(":hourglass: I am reading too many large files right now and could not get to this one; please upload it again in a minute."), "files_busy"
	}
	return message{}, ""
}
