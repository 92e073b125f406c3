package pool_test

import (
	"errors"
	"fmt"

	"github.com/rdnsbot/rdnsbot/pool"
)

func ExampleParse() {
	for _, s := range []string{"203.0.113.0/24", "203.0.113.10-20", "198.51.100.0/21", "mail.example.com"} {
		p, err := pool.Parse(s)
		var pe *pool.Error
		switch {
		case errors.As(err, &pe) && pe.Kind == pool.NotPool:
			fmt.Printf("%s: a host name, for diagnose\n", s)
		case err != nil:
			fmt.Println(err)
		default:
			fmt.Printf("%s: %d addresses, %s to %s, network and broadcast left out: %v\n", p, p.Len(), p.First(), p.Last(), p.EndsSkipped())
		}
	}
	// Output:
	// 203.0.113.0/24: 254 addresses, 203.0.113.1 to 203.0.113.254, network and broadcast left out: true
	// 203.0.113.10-203.0.113.20: 11 addresses, 203.0.113.10 to 203.0.113.20, network and broadcast left out: false
	// pool "198.51.100.0/21": a /21 has 2048 addresses; at most 1024 (a /22) are checked at once: split it into /22 blocks
	// mail.example.com: a host name, for diagnose
}
