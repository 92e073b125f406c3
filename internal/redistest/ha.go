package redistest

import (
	"context"
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
// down after 1 s without an answer (short, yet long enough that a loaded
// machine does not fail it over by mistake) and promote the replica about
// 2 s after that.
// Everything is stopped when the test ends.
func StartSentinel(tb testing.TB) *Sentinel {
	tb.Helper()
	local := "127.0.0.1"
	// No 5 s wait for more replicas before the first (diskless) sync.
	s := &Sentinel{Master: Start(tb, Options{TCP: local, Args: []string{"--repl-diskless-sync-delay", "0"}})}
	s.Replica = Start(tb, Options{TCP: local, Args: []string{"--replicaof", local, port(s.Master.Addr())}})
	ctx := context.Background()
	m := client(tb, s.Master.Addr())
	if err := poll("replica in sync", func() (bool, error) {
		info, err := m.Info(ctx, "replication").Result()
		return strings.Contains(info, "connected_slaves:1") && strings.Contains(info, "state=online"), err
	}); err != nil {
		tb.Fatal(err)
	}
	// Each sentinel is told its own ID, the replica and the two other
	// sentinels up front, instead of discovering them over a few seconds of
	// hello messages.
	ports := freePorts(tb, local, 3)
	id := func(i int) string { return fmt.Sprintf("%040x", i+1) }
	confDir := tb.TempDir()
	for i := range 3 {
		var b strings.Builder
		fmt.Fprintf(&b, "sentinel myid %s\n", id(i))
		fmt.Fprintf(&b, "sentinel monitor %s %s %s 2\n", MasterName, local, port(s.Master.Addr()))
		fmt.Fprintf(&b, "sentinel down-after-milliseconds %s 1000\n", MasterName)
		fmt.Fprintf(&b, "sentinel failover-timeout %s 3000\n", MasterName)
		fmt.Fprintf(&b, "sentinel known-replica %s %s %s\n", MasterName, local, port(s.Replica.Addr()))
		for j := range 3 {
			if j != i {
				fmt.Fprintf(&b, "sentinel known-sentinel %s %s %d %s\n", MasterName, local, ports[j], id(j))
			}
		}
		conf := filepath.Join(confDir, "sentinel"+strconv.Itoa(i)+".conf")
		if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
			tb.Fatal(err)
		}
		s.Sentinels = append(s.Sentinels, Start(tb, Options{TCP: local, sentinelConf: conf, port: ports[i]}))
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
// cluster_state:ok and knows the three. The nodes have no replicas, and a
// lost node fails only its own slots (cluster-require-full-coverage no).
// Everything is stopped when the test ends.
func StartCluster(tb testing.TB) *Cluster {
	tb.Helper()
	const slots = 16384
	local := "127.0.0.1"
	cl := &Cluster{}
	ctx := context.Background()
	buses := freePorts(tb, local, 3)
	for _, bus := range buses {
		cl.Nodes = append(cl.Nodes, Start(tb, Options{TCP: local, Args: []string{
			"--cluster-enabled", "yes", "--cluster-port", strconv.Itoa(bus),
			"--cluster-config-file", "nodes.conf", "--cluster-node-timeout", "2000",
			// The slots of a lost node fail, the others keep serving.
			"--cluster-require-full-coverage", "no",
		}}))
	}
	for i, n := range cl.Nodes {
		c := client(tb, n.Addr())
		first, last := i*slots/3, (i+1)*slots/3-1
		if err := c.Do(ctx, "CLUSTER", "ADDSLOTSRANGE", first, last).Err(); err != nil {
			tb.Fatal(err)
		}
		if i > 0 {
			// The bus port is not the default port+10000: MEET must name it.
			if err := c.Do(ctx, "CLUSTER", "MEET", local, port(cl.Nodes[0].Addr()), buses[0]).Err(); err != nil {
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
	for i := range cl.Nodes {
		if int(slot) <= (i+1)*16384/3-1 {
			return cl.Nodes[i]
		}
	}
	panic("unreachable: slots are below 16384")
}

// freePorts returns n distinct TCP ports free on host: all are held until
// the last is found.
func freePorts(tb testing.TB, host string, n int) []int {
	tb.Helper()
	ports := make([]int, n)
	for i := range ports {
		l, err := listenFree(host)
		if err != nil {
			tb.Fatal(err)
		}
		defer l.Close()
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	return ports
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
