module github.com/rdnsbot/rdnsbot

go 1.26.0

require (
	blitiri.com.ar/go/spf v1.6.0
	github.com/gorilla/websocket v1.5.3
	github.com/miekg/dns v1.1.73
	github.com/redis/go-redis/v9 v9.23.0
	github.com/sethvargo/go-envconfig v1.4.3
	github.com/slack-go/slack v0.35.0
)

require (
	github.com/cespare/xxhash/v2 v2.3.0 // indirect
	go.uber.org/atomic v1.12.0 // indirect
	golang.org/x/net v0.57.0 // indirect
	golang.org/x/sys v0.48.0 // indirect
)
