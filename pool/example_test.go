package pool_test

import (
	"fmt"

	"github.com/rdnsbot/rdnsbot/pool"
)

func ExampleTarget() {
	for _, s := range []string{"203.0.113.0/24", "203.0.113.10-20", "198.51.100.0/21", "203.0.113.5", "mail.example.com"} {
		p, ok, err := pool.Target(s)
		switch {
		case err != nil:
			fmt.Println(err)
		case !ok:
			fmt.Printf("%s: no pool, for diagnose\n", s)
		default:
			fmt.Printf("%s: %d addresses, %s to %s, network and broadcast left out: %v\n", p, p.Len(), p.First(), p.Last(), p.EndsSkipped())
		}
	}
	// Output:
	// 203.0.113.0/24: 254 addresses, 203.0.113.1 to 203.0.113.254, network and broadcast left out: true
	// 203.0.113.10-203.0.113.20: 11 addresses, 203.0.113.10 to 203.0.113.20, network and broadcast left out: false
	// pool "198.51.100.0/21": a /21 has 2048 addresses; at most 1024 (a /22) are checked at once: split it into /22 blocks
	// 203.0.113.5: no pool, for diagnose
	// mail.example.com: no pool, for diagnose
}
