package filter

import (
	"math/rand/v2"
	"net/http"

	"github.com/mosnctl/mosnctl/internal/config"
	"github.com/mosnctl/mosnctl/internal/router"
)

func init() { Register(config.StreamFilterFault, newFault) }

// fault is MOSN's fault injection filter: it delays and/or aborts a share
// of the requests (all of them, or those to upstream_cluster carrying the
// configured headers), to test how callers cope.
type fault struct {
	delay        config.FaultDelay
	abort        config.FaultAbort
	hasDelay     bool
	hasAbort     bool
	cluster      string
	headers      router.HeaderMatchers
	abortMessage []byte
}

func newFault(f config.Filter, path string) (StreamFilter, error) {
	c, err := config.DecodeFault(f, path)
	if err != nil {
		return nil, err
	}
	hs, err := router.NewHeaderMatchers(c.Headers, path+".config.headers")
	if err != nil {
		return nil, err
	}
	ft := &fault{cluster: c.UpstreamCluster, headers: hs}
	if c.Delay != nil {
		ft.delay, ft.hasDelay = *c.Delay, true
	}
	if c.Abort != nil {
		ft.abort, ft.hasAbort = *c.Abort, true
		ft.abortMessage = []byte("fault filter abort: " + http.StatusText(c.Abort.Status) + "\n")
	}
	return ft, nil
}

func (f *fault) DecodeHeaders(r Request) Verdict {
	if f.cluster != "" && r.Cluster() != f.cluster {
		return Verdict{}
	}
	if len(f.headers) > 0 && !f.headers.Match(r) {
		return Verdict{}
	}
	var v Verdict
	if f.hasDelay && chance(f.delay.Percentage) {
		v.Delay = f.delay.FixedDelay.Get(0)
	}
	if f.hasAbort && chance(f.abort.Percentage) {
		v.Status, v.Body = f.abort.Status, f.abortMessage
	}
	return v
}

// chance is true for percent percent of calls.
func chance(percent uint32) bool {
	return percent >= 100 || (percent > 0 && rand.Uint32N(100) < percent)
}
