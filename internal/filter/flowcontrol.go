package filter

import (
	"log/slog"
	"math"
	"time"

	"golang.org/x/time/rate"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/lograte"
)

func init() { Register(config.StreamFilterFlowControl, newFlowControl) }

// flowControl is MOSN's flowControlFilter: each rule lets its resource
// (the request's path, target, query or a header, per limit_key_type)
// through at most threshold times per statistic interval and answers the
// excess with the configured action. A token bucket per rule (x/time/rate)
// stands in for Sentinel's sliding window: the same rate, a burst of the
// threshold.
type flowControl struct {
	on      bool
	monitor bool // count and log, never block
	key     func(r Request) []byte
	rules   map[string]*rate.Limiter
	status  int
	body    []byte
	log     *lograte.Limiter
}

func newFlowControl(f config.Filter, path string) (StreamFilter, error) {
	c, err := config.DecodeFlowControl(f, path)
	if err != nil {
		return nil, err
	}
	fc := &flowControl{on: c.GlobalSwitch, monitor: c.Monitor, rules: make(map[string]*rate.Limiter, len(c.Rules)),
		status: c.Action.Status, body: []byte(c.Action.Body), log: lograte.New(time.Second)}
	switch c.KeyType {
	case config.FlowKeyPath:
		fc.key = func(r Request) []byte { return r.Path() }
	case config.FlowKeyURI:
		fc.key = func(r Request) []byte { v, _ := r.Header(":path"); return v }
	case config.FlowKeyArg:
		fc.key = query
	case config.FlowKeyHeader:
		name := c.KeyHeader
		fc.key = func(r Request) []byte { v, _ := r.Header(name); return v }
	}
	for _, rule := range c.Rules {
		perSecond := rule.Threshold / rule.Interval().Seconds()
		fc.rules[rule.Resource] = rate.NewLimiter(rate.Limit(perSecond), int(math.Max(1, math.Ceil(rule.Threshold))))
	}
	return fc, nil
}

// query is a request target's query string, without the '?'.
func query(r Request) []byte {
	target, _ := r.Header(":path")
	for i, b := range target {
		if b == '?' {
			return target[i+1:]
		}
	}
	return nil
}

func (f *flowControl) DecodeHeaders(r Request) Verdict {
	if !f.on {
		return Verdict{}
	}
	l := f.rules[string(f.key(r))]
	if l == nil || l.Allow() {
		return Verdict{}
	}
	if f.monitor {
		if ok, suppressed := f.log.Allow("over"); ok {
			slog.Info("flow control: request over its rule's threshold (monitor only)", "resource", string(f.key(r)),
				"suppressed", suppressed)
		}
		return Verdict{}
	}
	return Verdict{Status: f.status, Body: f.body}
}
