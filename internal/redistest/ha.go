package redistest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// pollTries and pollEvery bound every wait for a deployment to settle: a
// bounded number of looks, never a sleep standing in for a condition.
const (
	pollTries = 300
	pollEvery = 25 * time.Millisecond
)

// poll calls cond until it reports true, at most pollTries times.
func poll(what string, cond func() (bool, error)) error {
	var last error
	for range pollTries {
		ok, err := cond()
		if ok {
			return nil
		}
		last = err
		time.Sleep(pollEvery)
	}
	return fmt.Errorf("redistest: %s: not after %d tries (last error: %v)", what, pollTries, last)
}

// MasterName is the name the sentinels of StartSentinel monitor.
const MasterName = "rdns"

// Sentinel is a master, its replica and three sentinels on loopback.
type Sentinel struct {
	Master, Replica *Server
	Sentinels       []*Server
}

// StartSentinel starts the deployment and waits until every sentinel
// monitors the master, knows the replica and the two other sentinels:
// from then on, a failover can happen. The sentinels consider the master
// down after 1 s without an answer and elect a new one within about 3 s.
// Everything is stopped when the test ends.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	local := "127.0.0.1"
	s := &Sentinel{Master: Start(tb, Options{TCP: local})}
	s.Replica = Start(tb, Options{TCP: local, Args: []string{"--replicaof", local, port(s.Master.Addr())}})
	ctx := context.Background()
	m := client(tb, s.Master.Addr())
	if err := poll("replica in sync", func() (bool, error) {
		info, err := m.Info(ctx, "replication").Result()
		return strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online"), err
	}); err != nil {
		tb.Fatal(err)
	}
	confDir := tb.TempDir()
	for i := range 3 {
		conf := filepath.Join(confDir, "sentinel"+strconv.Itoa(i)+".conf")
		text := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s 2\n"+
			"sentinel down-after-milliseconds %[1]s 1000\n"+
			"sentinel failover-timeout %[1]s 3000\n"+
			"sentinel parallel-syncs %[1]s 1\n", MasterName, local, port(s.Master.Addr()))
		if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
			tb.Fatal(err)
		}
		s.Sentinels = append(s.Sentinels, Start(tb, Options{TCP: local, sentinelConf: conf}))
	}
	for _, sen := range s.Sentinels {
		c := client(tb, sen.Addr())
		if err := poll("sentinel "+sen.Addr()+" sees the deployment", func() (bool, error) {
			m, err := c.Do(ctx, "SENTINEL", "MASTER", MasterName).Result()
			if err != nil {
				return false, err
			}
			f := fields(m)
			return f["num-slaves"] == "1" && f["num-other-sentinels"] == "2", nil
		}); err != nil {
			tb.Fatal(err)
		}
	}
	return s
}

// URL is the deployment as a REDIS_URL.
func (s *Sentinel) URL() string {
	addrs := make([]string, len(s.Sentinels))
	for i, sen := range s.Sentinels {
		addrs[i] = sen.Addr()
	}
	return "redis+sentinel://" + strings.Join(addrs, ",") + "/" + MasterName
}

// WaitForFailover waits until the sentinels name a master other than from
// (a host:port) and that server answers as a master; it returns its address.
func (s *Sentinel) WaitForFailover(tb testing.TB, from string) string {
	tb.Helper()
	ctx := context.Background()
	c := client(tb, s.Sentinels[0].Addr())
	var now string
	if err := poll("failover away from "+from, func() (bool, error) {
		a, err := c.Do(ctx, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", MasterName).StringSlice()
		if err != nil || len(a) != 2 {
			return false, err
		}
		now = net.JoinHostPort(a[0], a[1])
		if now == from {
			return false, nil
		}
		role, err := client(tb, now).Do(ctx, "ROLE").Slice()
		return err == nil && len(role) > 0 && role[0] == "master", err
	}); err != nil {
		tb.Fatal(err)
	}
	return now
}

// Cluster is a Redis Cluster of three masters on loopback, each serving a
// third of the slots.
type Cluster struct {
	Nodes []*Server
}

// StartCluster starts the nodes, assigns the slots (CLUSTER ADDSLOTSRANGE),
// joins them (CLUSTER MEET) and waits until every node reports
// cluster_state:ok and knows the three. Everything is stopped when the
// test ends.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	const slots = 16384
	local := "127.0.0.1"
	cl := &Cluster{}
	ctx := context.Background()
	for range 3 {
		bus, err := freePort(local)
		if err != nil {
			tb.Fatal(err)
		}
		cl.Nodes = append(cl.Nodes, Start(tb, Options{TCP: local, Args: []string{
			"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
		}}))
	}
	for i, n := range cl.Nodes {
		c := client(tb, n.Addr())
		first, last := i*slots/3, (i+1)*slots/3-1
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", first, last).Err(); err != nil {
			tb.Fatal(err)
		}
		if i > 0 {
			if err := c.Do(ctx, "CLUSTER", "MEET", local, port(cl.Nodes[0].Addr())).Err(); err != nil {
				tb.Fatal(err)
			}
		}
	}
	for _, n := range cl.Nodes {
		c := client(tb, n.Addr())
		if err := poll("cluster state ok at "+n.Addr(), func() (bool, error) {
			info, err := c.ClusterInfo(ctx).Result()
			return strings.Contains(info, "cluster_state:ok") && strings.Contains(info, "cluster_known_nodes:3"), err
		}); err != nil {
			tb.Fatal(err)
		}
	}
	return cl
}

// URL is the cluster as a REDIS_URL.
func (cl *Cluster) URL() string {
	u := "redis+cluster://" + cl.Nodes[0].Addr()
	for i, n := range cl.Nodes[1:] {
		u += map[bool]string{true: "?", false: "&"}[i == 0] + "addr=" + n.Addr()
	}
	return u
}

// NodeFor returns the node that serves key's slot.
func (cl *Cluster) NodeFor(tb testing.TB, key string) *Server {
	tb.Helper()
	slot, err := client(tb, cl.Nodes[0].Addr()).ClusterKeySlot(context.Background(), key).Result()
	if err != nil {
		tb.Fatal(err)
	}
	return cl.Nodes[int(slot)*3/16384]
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// client is a plain client of one server, closed when the test ends.
func client(tb testing.TB, addr string) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	tb.Cleanup(func() { c.Close() })
	return c
}

// fields reads a flat (name, value, ...) reply, RESP2 or RESP3.
func fields(v any) map[string]string {
	out := map[string]string{}
	switch m := v.(type) {
	case []any:
		for i := 0; i+1 < len(m); i += 2 {
			out[fmt.Sprint(m[i])] = fmt.Sprint(m[i+1])
		}
	case map[any]any:
		for k, v := range m {
			out[fmt.Sprint(k)] = fmt.Sprint(v)
		}
	}
	return out
}

var _ = errors.New
