package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const gmailBounce = `<bob@gmail.com>: host gmail-smtp-in.l.google.com[142.251.170.27] said:
    550-5.7.25 [203.0.113.5] The IP address sending this message does not have a
    550-5.7.25 PTR record setup, or the corresponding forward DNS entry does not
    550 5.7.25 point to the sending IP. - gsmtp (in reply to end of DATA command)
`

const receiverLog = `Mar  3 10:00:00 mx postfix/smtpd[1]: NOQUEUE: reject: RCPT from unknown[198.51.100.7]: 450 4.7.25 Client host rejected: cannot find your hostname, [198.51.100.7]; from=<a@example.org> to=<b@example.net> proto=ESMTP helo=<[192.0.2.9]>
`

const userUnknown = `<nobody@example.com>: host mx.example.com[192.0.2.1] said: 550 5.1.1
    <nobody@example.com>: Recipient address rejected: User unknown (in reply to RCPT TO command)
`

func TestParseBounceCLI(t *testing.T) {
	bin := botBin
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	gmail := write("gmail.txt", gmailBounce)
	unknown := write("unknown.txt", userUnknown)
	huge := filepath.Join(dir, "huge.txt")
	if err := os.WriteFile(huge, bytes.Repeat([]byte("x"), 25<<20+1), 0o600); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     []string
		stdin    string
		wantCode int
		wantOut  []string // substrings of stdout
		wantErr  string   // substring of stderr
	}{
		{"json file", []string{"--json", gmail}, "", 0,
			[]string{`"file":"` + gmail + `"`, `"rdns":true`, `"sending_ips":["203.0.113.5"]`, `"ip_source":"rejection"`, `"reply_code":550`, `"status":"5.7.25"`, `"receiver":"gmail-smtp-in.l.google.com"`, `"recipient":"bob@gmail.com"`}, ""},
		{"json stdin dash", []string{"--json", "-"}, userUnknown, 0,
			[]string{`"file":"-"`, `"rdns":false`, `"status":"5.1.1"`}, ""},
		{"human stdin", nil, gmailBounce, 0,
			[]string{"-: REVERSE DNS rejection (550 5.7.25)", "sending IP: 203.0.113.5 (from the rejection)"}, ""},
		{"json receiver log helo literal", []string{"--json"}, receiverLog, 0,
			[]string{`"rdns":true`, `"check":"ptr"`, `"sending_ips":["198.51.100.7"]`, `"helo":"[192.0.2.9]"`, `"helo_source":"log"`, `"helo_literal":true`}, ""},
		{"human receiver log", nil, receiverLog, 0,
			[]string{"REVERSE DNS rejection (450 4.7.25, temporary)", "checked:    ptr", "HELO:       [192.0.2.9] (from the log, an address literal)"}, ""},
		{"human negative", []string{unknown}, "", 0, []string{"not a reverse-DNS rejection"}, ""},
		{"missing file", []string{"--json", gmail, filepath.Join(dir, "nope.txt")}, "", 2,
			[]string{`"rdns":true`}, "nope.txt"},
		{"too large", []string{huge}, "", 2, nil, "larger than 25 MiB"},
		{"bad flag", []string{"--nope"}, "", 2, nil, "usage"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(bin, append([]string{"parse-bounce"}, tc.args...)...)
			cmd.Stdin = strings.NewReader(tc.stdin)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr %s", code, tc.wantCode, stderr.String())
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(stdout.String(), w) {
					t.Errorf("stdout lacks %s:\n%s", w, stdout.String())
				}
			}
			if !strings.Contains(stderr.String(), tc.wantErr) {
				t.Errorf("stderr %q lacks %q", stderr.String(), tc.wantErr)
			}
		})
	}
}

// TestParseBounceManyFiles: hundreds of files in one call give one JSON line
// per file, in order.
func TestParseBounceManyFiles(t *testing.T) {
	bin := botBin
	dir := t.TempDir()
	const n = 600
	var files []string
	for i := range n {
		body := userUnknown
		if i%3 == 0 {
			body = strings.ReplaceAll(gmailBounce, "203.0.113.5", fmt.Sprintf("198.51.100.%d", i%250+1))
		}
		p := filepath.Join(dir, fmt.Sprintf("b%04d.eml", i))
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	start := time.Now()
	out, err := exec.Command(bin, append([]string{"parse-bounce", "--json"}, files...)...).Output()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("parse-bounce: %v", err)
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 1<<20)
	i := 0
	for ; sc.Scan(); i++ {
		var l bounceLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %d: %v", i, err)
		}
		if i >= n || l.File != files[i] {
			t.Fatalf("line %d is for %q, want %q", i, l.File, files[min(i, n-1)])
		}
		wantIP := fmt.Sprintf("198.51.100.%d", i%250+1)
		if want := i%3 == 0; l.RDNS != want || (want && (len(l.SendingIPs) != 1 || l.SendingIPs[0] != wantIP)) {
			t.Errorf("line %d: rdns %v ips %v, want %v %s", i, l.RDNS, l.SendingIPs, want, wantIP)
		}
	}
	if i != n {
		t.Fatalf("%d lines, want %d", i, n)
	}
	// The pace is a figure, not an assertion (the machine's load decides
	// it); the throughput target is bounce's BenchmarkParse.
	t.Logf("%d files in %v (%.0f files/s)", n, elapsed, n/elapsed.Seconds())
}
