// Package redistest runs a dedicated redis-server for a test package: on a unix
// socket in a short temporary directory (socket paths are limited to about 104
// bytes), with no TCP port and no RDB snapshots, and optionally with the
// append-only file fsynced on every write so a test can SIGKILL the server,
// restart it on the same directory and socket, and check that nothing
// acknowledged was lost.
//
// The redis-server binary must be on PATH; a missing binary fails the test
// loudly instead of skipping it, because a skipped test would hide the gap.
//
// One server may be shared by the parallel tests of a package as long as each
// test uses its own key prefix (see Prefix).
//
// StartSentinel and StartCluster run the two high-availability deployments
// from the same binary, on loopback TCP ports: a master, a replica and three
// sentinels; a Redis Cluster of three masters.
package redistest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Options configure a server.
type Options struct {
	// AppendOnly turns on the append-only file with appendfsync always, so every
	// acknowledged write survives a SIGKILL.
	AppendOnly bool
	// TCP, when set, is the address (an IP) the server also listens on, on
	// a free port (see Addr); it keeps that port across Restart.
	TCP string
	// Args are more redis-server arguments, e.g. "--requirepass", "x".
	Args []string

	sentinelConf string // run as a sentinel with this configuration file
	port         int    // the TCP port to use instead of a free one
}

// Server is one redis-server process and its directory.
type Server struct {
	opts   Options
	dir    string
	socket string
	addr   string // host:port when Options.TCP is set

	mu   sync.Mutex
	cmd  *exec.Cmd
	exit chan struct{} // closed when cmd has been waited for

	prefixes atomic.Int64
}

// readyTimeout bounds how long a start may take before it is reported as broken.
const readyTimeout = 15 * time.Second

// Main is the TestMain of a package whose tests share one server: it starts
// the server, hands it to use, runs the tests, stops the server and exits
// with the tests' status (failing when the server cannot start or stop).
func Main(m *testing.M, opts Options, use func(*Server)) {
	srv, err := New(opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	use(srv)
	code := m.Run()
	if err := srv.Close(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		code = 1
	}
	os.Exit(code)
}

// New starts a server; the caller must Close it. Use it from TestMain; tests
// use Start, which registers the cleanup.
func New(opts Options) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, fmt.Errorf("redistest: redis-server is not on PATH (install redis, e.g. apt-get install redis-server): %w", err)
	}
	// A short directory: the socket path must fit in sockaddr_un.
	dir, err := os.MkdirTemp("", "rt")
	if err != nil {
		return nil, fmt.Errorf("redistest: %w", err)
	}
	s := &Server{opts: opts, dir: dir, socket: filepath.Join(dir, "s")}
	// A port of our choosing can still be taken before redis-server binds
	// it: then again with another.
	for attempt := 1; ; attempt++ {
		if opts.TCP != "" {
			port := opts.port
			if port == 0 {
				if port, err = freePort(opts.TCP); err != nil {
					os.RemoveAll(dir)
					return nil, err
				}
			}
			s.addr = net.JoinHostPort(opts.TCP, strconv.Itoa(port))
		}
		err = s.start()
		if err == nil {
			return s, nil
		}
		if opts.TCP == "" || opts.port != 0 || attempt == 3 || !strings.Contains(err.Error(), "Address already in use") {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// Start starts a server for one test (or benchmark) and stops it and removes
// its directory when the test ends.
func Start(tb testing.TB, opts Options) *Server {
	tb.Helper()
	s, err := New(opts)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// Socket is the server's unix socket path.
func (s *Server) Socket() string { return s.socket }

// URL is the server's address as a REDIS_URL (unix:// form).
func (s *Server) URL() string { return "unix://" + s.socket }

// Addr is the server's TCP address (Options.TCP), "" without one.
func (s *Server) Addr() string { return s.addr }

// Dir is the server's directory, removed by Close.
func (s *Server) Dir() string { return s.dir }

// freePort returns a TCP port free on host at the time of the call.
func freePort(host string) (int, error) {
	l, err := listenFree(host)
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Ports are taken below the kernel's ephemeral range (32768–60999 on
// Linux): a port the kernel hands out (listen on :0) is released before
// redis-server binds it, and meanwhile any outgoing connection of the
// machine (the tests' own clients) may be given it as its local port.
// Below the range only another server picking the same port in that
// instant can collide.
const lowPort, highPort = 20000, 32768

// listenFree listens on a free port of host below the ephemeral range.
func listenFree(host string) (net.Listener, error) {
	for range 100 {
		p := lowPort + rand.IntN(highPort-lowPort)
		if l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
			return l, nil
		}
	}
	return nil, errors.New("redistest: no free port found below the ephemeral range")
}

// Prefix returns a key prefix not yet handed out by this server, so tests
// sharing it can run in parallel without seeing each other's keys.
func (s *Server) Prefix() string {
	return fmt.Sprintf("t%d", s.prefixes.Add(1))
}

func (s *Server) start() error {
	port, bind := "0", []string{}
	if s.addr != "" {
		host, p, _ := net.SplitHostPort(s.addr)
		port, bind = p, []string{"--bind", host}
	}
	var args []string
	ready := "ready to accept connections"
	if s.opts.sentinelConf != "" {
		// A sentinel has no unix socket, keeps no data and rewrites its
		// configuration file.
		args = []string{s.opts.sentinelConf, "--sentinel", "--port", port, "--dir", s.dir, "--logfile", "", "--daemonize", "no"}
		ready = "+monitor master"
	} else {
		args = []string{
			"--port", port,
			"--unixsocket", s.socket,
			"--unixsocketperm", "700",
			"--dir", s.dir,
			"--save", "",
			"--logfile", "",
			"--daemonize", "no",
		}
	}
	args = append(args, bind...)
	if s.opts.AppendOnly {
		args = append(args, "--appendonly", "yes", "--appendfsync", "always")
	}
	args = append(args, s.opts.Args...)
	cmd := exec.Command("redis-server", args...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("redistest: %w", err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	exit := make(chan struct{})
	isReady := make(chan struct{})
	var logTail strings.Builder
	go func() {
		// The log is the readiness signal: no polling of the socket.
		sc := bufio.NewScanner(out)
		signalled := false
		for sc.Scan() {
			line := sc.Text()
			if logTail.Len() < 4096 {
				logTail.WriteString(line + "\n")
			}
			if !signalled && strings.Contains(strings.ToLower(line), ready) {
				signalled = true
				close(isReady)
			}
		}
		io.Copy(io.Discard, out)
		cmd.Wait()
		close(exit)
	}()
	timer := time.NewTimer(readyTimeout)
	defer timer.Stop()
	select {
	case <-isReady:
	case <-exit:
		return fmt.Errorf("redistest: redis-server exited before it was ready: %s", logTail.String())
	case <-timer.C:
		cmd.Process.Kill()
		<-exit
		return fmt.Errorf("redistest: redis-server not ready after %s", readyTimeout)
	}
	s.mu.Lock()
	s.cmd, s.exit = cmd, exit
	s.mu.Unlock()
	return nil
}

// Kill stops the server with SIGKILL, as a crash would, and waits for it to exit.
func (s *Server) Kill(tb testing.TB) {
	tb.Helper()
	if err := s.kill(); err != nil {
		tb.Fatal(err)
	}
}

func (s *Server) kill() error {
	s.mu.Lock()
	cmd, exit := s.cmd, s.exit
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("redistest: kill redis-server: %w", err)
	}
	<-exit
	// redis-server does not remove its socket when killed.
	if err := os.Remove(s.socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("redistest: %w", err)
	}
	return nil
}

// Restart starts the server again on the same directory and socket (after
// Kill), replaying the append-only file when Options.AppendOnly is set.
func (s *Server) Restart(tb testing.TB) {
	tb.Helper()
	if err := s.kill(); err != nil {
		tb.Fatal(err)
	}
	if err := s.start(); err != nil {
		tb.Fatal(err)
	}
}

// Close kills the server and removes its directory.
func (s *Server) Close() error {
	err := s.kill()
	if rerr := os.RemoveAll(s.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("redistest: %w", rerr))
	}
	return err
}
