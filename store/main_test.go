package store_test

import (
	"testing"

	"github.com/rdnsbot/rdnsbot/internal/redistest"
	"github.com/rdnsbot/rdnsbot/store"
)

// server is this package's redis-server, shared by the parallel tests, each
// under its own key prefix.
var server *redistest.Server

func TestMain(m *testing.M) {
	redistest.Main(m, redistest.Options{}, func(s *redistest.Server) { server = s })
}

// newRedis returns a Redis store with a fresh prefix on the shared server.
func newRedis(tb testing.TB) *store.Redis {
	tb.Helper()
	c, err := store.NewClient(server.URL())
	if err != nil {
		tb.Fatal(err)
	}
	st := store.NewRedis(c, server.Prefix())
	tb.Cleanup(func() { st.Close() })
	return st
}
