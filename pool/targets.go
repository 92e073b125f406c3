package pool

import "errors"

// Target classifies one target of a command that mixes pools with single
// addresses and host names: a CIDR block or a range (ok), one this package
// refuses (err: too large, malformed, reversed…), or neither
// (!ok, nil err) when the target is a single address or no pool at all,
// for package diagnose. The bot's CLI and its Slack commands split their
// targets with it, so both accept and refuse the same texts.
func Target(t string) (p Pool, ok bool, err error) {
	p, single, err := parse(t)
	if pe, isPoolErr := errors.AsType[*refusal](err); single || isPoolErr && pe.kind == notPool {
		return Pool{}, false, nil
	}
	return p, err == nil, err
}
