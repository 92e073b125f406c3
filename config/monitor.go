package config

import (
	"math"

	"github.com/rdnsbot/rdnsbot/monitor"
)

// The monitors' variables, as their problems word what they take.
func init() {
	expected["MONITOR_INTERVAL"] = "a duration of at least 1s, such as 1h"
	expected["MONITOR_UNANSWERED_AFTER"] = "a duration such as 6h; 0 for the default"
	expected["MONITOR_MAX_PER_CHANNEL"] = "a whole number of addresses: 0 for the default, negative for no cap"
	expected["MONITOR_MAX_TOTAL"] = "a whole number of addresses: 0 for the default, negative for no cap"
	expected["MONITOR_ZONE_RATE"] = "a number of checks a second under one reverse domain, such as 100: 0 for the default, negative for no pacing"
}

func (c *Config) validateMonitor(problem func(variable, format string, args ...any)) {
	if c.MonitorInterval < monitor.MinInterval {
		problem("MONITOR_INTERVAL", "%s is shorter than %s", c.MonitorInterval, monitor.MinInterval)
	}
	if c.MonitorUnansweredAfter < 0 {
		problem("MONITOR_UNANSWERED_AFTER", "%s is negative", c.MonitorUnansweredAfter)
	}
	if math.IsNaN(c.MonitorZoneRate) {
		problem("MONITOR_ZONE_RATE", "NaN is not a rate")
	}
}

// Monitor is the monitor scheduler's configuration from the environment;
// the caller adds its store, checker and announcer.
func (c *Config) Monitor() monitor.Config {
	return monitor.Config{Interval: c.MonitorInterval, UnansweredAfter: c.MonitorUnansweredAfter,
		Caps: monitor.Caps{PerChannel: c.MonitorMaxPerChannel, Total: c.MonitorMaxTotal}, ZoneRate: c.MonitorZoneRate}
}
