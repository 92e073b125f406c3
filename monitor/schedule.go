package monitor

import (
	"encoding/binary"
	"hash/fnv"
	"math/bits"
	"net/netip"
	"time"
)

// phase is where in each interval k's monitor checks ip: an offset in
// milliseconds from the Unix epoch modulo the interval (see the package
// doc). The address's last 64 bits (an IPv4 address's 32) reversed are a
// fraction of the interval whose first bits are the address's last: an
// aligned block of 2^n addresses takes the n-bit fractions j/2^n, each
// shifted alike by the block's higher bits and by the monitor's hash.
func (s *Scheduler) phase(k Key, ip netip.Addr) int64 {
	var low uint64
	if ip = ip.Unmap(); ip.Is4() {
		b := ip.As4()
		low = uint64(binary.BigEndian.Uint32(b[:]))
	} else {
		b := ip.As16()
		low = binary.BigEndian.Uint64(b[8:])
	}
	h := fnv.New64a()
	h.Write([]byte(k.Channel + ":" + k.Thread))
	frac := bits.Reverse64(low) + h.Sum64() // modulo 2^64: a turn of the interval
	at, _ := bits.Mul64(frac, uint64(s.cfg.Interval.Milliseconds()))
	return int64(at)
}

// due is the first time at ip's phase in k's monitor at or after t, or
// strictly after t when after is set (the next check after one at t).
func (s *Scheduler) due(k Key, ip netip.Addr, t time.Time, after bool) time.Time {
	iv := s.cfg.Interval.Milliseconds()
	n := t.UnixMilli()
	at := time.UnixMilli(n - ((n-s.phase(k, ip))%iv+iv)%iv) // the last at or before n
	if at.Before(t) || (after && at.Equal(t)) {
		at = at.Add(time.Duration(iv) * time.Millisecond)
	}
	return at.UTC()
}
