package handlers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/slack-go/slack"

	"github.com/rdnsbot/rdnsbot/bounce"
)

// fileReader fetches the files a message carries (files.info, the file's
// private URL with the bot token) and reads them as bounces, refusing any
// larger than max before and while downloading.
type fileReader struct {
	out *Poster
	max int64
	log *slog.Logger
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

// download fetches a file with the bot token, refusing oversized ones before
// and while reading.
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
	var buf bytes.Buffer
	w := &limitedWriter{w: &buf, left: b.max}
	if err := b.out.api.GetFileContext(ctx, url, w); err != nil {
		return bounce.Result{}, fmt.Errorf("download %s: %w", f.ID, err)
	}
	return bounce.Parse(buf.Bytes())
}

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
