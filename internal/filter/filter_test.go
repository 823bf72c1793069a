package filter

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mosnctl/mosnctl/internal/config"
)

type req struct {
	cluster string
	headers map[string]string
}

func (r req) Host() []byte { return nil }
func (r req) Path() []byte { return nil }
func (r req) Header(name string) ([]byte, bool) {
	v, ok := r.headers[name]
	return []byte(v), ok
}
func (r req) Cluster() string { return r.cluster }

func faultChain(t *testing.T, cfg string) Chain {
	t.Helper()
	c, err := Build([]config.Filter{{Type: "fault", Config: json.RawMessage(cfg)}}, "l")
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestFault(t *testing.T) {
	all := faultChain(t, `{"delay": {"fixed_delay": "1s", "percentage": 100}, "abort": {"status": 503, "percentage": 100}}`)
	if v := all.DecodeHeaders(req{}); v.Delay != time.Second || v.Status != 503 || !strings.Contains(string(v.Body), "Service Unavailable") {
		t.Errorf("100%% delay and abort: %+v", v)
	}
	none := faultChain(t, `{"abort": {"status": 503, "percentage": 0}}`)
	for range 100 {
		if v := none.DecodeHeaders(req{}); v.Status != 0 || v.Delay != 0 {
			t.Fatalf("0%%: %+v", v)
		}
	}
	half := faultChain(t, `{"abort": {"status": 500, "percentage": 50}}`)
	aborted := 0
	for range 1000 {
		if half.DecodeHeaders(req{}).Status == 500 {
			aborted++
		}
	}
	if aborted < 350 || aborted > 650 {
		t.Errorf("50%%: %d of 1000 aborted", aborted)
	}
	sel := faultChain(t, `{"abort": {"status": 429, "percentage": 100}, "upstream_cluster": "c", "headers": [{"name": "x-fault", "value": "1"}]}`)
	for _, tc := range []struct {
		r    req
		want int
	}{
		{req{"c", map[string]string{"x-fault": "1"}}, 429},
		{req{"d", map[string]string{"x-fault": "1"}}, 0},
		{req{"c", map[string]string{"x-fault": "0"}}, 0},
		{req{"c", nil}, 0},
	} {
		if got := sel.DecodeHeaders(tc.r).Status; got != tc.want {
			t.Errorf("%+v: status %d, want %d", tc.r, got, tc.want)
		}
	}
}

// Delays of the filters add up; the first local answer ends the chain.
func TestChainOrder(t *testing.T) {
	var fs []config.Filter
	for _, cfg := range []string{`{"delay": {"fixed_delay": "1s", "percentage": 100}}`,
		`{"delay": {"fixed_delay": "2s", "percentage": 100}, "abort": {"status": 503, "percentage": 100}}`,
		`{"abort": {"status": 500, "percentage": 100}}`} {
		fs = append(fs, config.Filter{Type: "fault", Config: json.RawMessage(cfg)})
	}
	c, err := Build(fs, "l")
	if err != nil {
		t.Fatal(err)
	}
	if v := c.DecodeHeaders(req{}); v.Delay != 3*time.Second || v.Status != 503 {
		t.Errorf("chain: %+v, want 3s then 503", v)
	}
}

func TestBuildErrors(t *testing.T) {
	for cfg, want := range map[string]string{
		`{"type": "nope"}`: `l.stream_filters[0].type: unknown stream filter "nope"`,
		`{"type": "fault", "config": {"abort": {"status": 503, "percentage": 1}, "headers": [{"name": "a", "value": "(", "regex": true}]}}`: `l.stream_filters[0].config.headers[0].value: invalid regex`,
		`{"type": "fault", "config": {"abort": {"status": 1}}}`:                                                                             `l.stream_filters[0].config.abort.status: 1 is not an HTTP status`,
	} {
		var f config.Filter
		if err := json.Unmarshal([]byte(cfg), &f); err != nil {
			t.Fatal(err)
		}
		_, err := Build([]config.Filter{f}, "l")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", cfg, err, want)
		}
	}
	if c, err := Build([]config.Filter{{Type: "healthcheck"}}, "l"); err != nil || !c.Empty() {
		t.Errorf("an ignored filter: %v %v", c, err)
	}
}
