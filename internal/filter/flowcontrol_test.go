package filter

import (
	"encoding/json"
	"testing"

	"github.com/mosnctl/mosnctl/internal/config"
)

// Each key type names the resource from its part of the request; a rule
// lets its threshold through and stops the rest; monitor mode and a global
// switch that is off stop nothing.
func TestFlowControlKeys(t *testing.T) {
	target := req{headers: map[string]string{":path": "/p?id=7", "x-user": "ann"}}
	for _, tc := range []struct {
		cfg  string
		want int // requests of 4 that pass
	}{
		{`{"global_switch": true, "limit_key_type": "URI", "rules": [{"resource": "/p?id=7", "grade": 1, "threshold": 2}]}`, 2},
		{`{"global_switch": true, "limit_key_type": "ARG", "rules": [{"resource": "id=7", "grade": 1, "threshold": 3}]}`, 3},
		{`{"global_switch": true, "limit_key_type": "HEADER", "limit_key_header": "x-user", "rules": [{"resource": "ann", "grade": 1, "threshold": 1}]}`, 1},
		{`{"global_switch": true, "limit_key_type": "HEADER", "limit_key_header": "x-user", "rules": [{"resource": "bob", "grade": 1, "threshold": 1}]}`, 4},
		{`{"global_switch": true, "monitor": true, "limit_key_type": "URI", "rules": [{"resource": "/p?id=7", "grade": 1, "threshold": 1}]}`, 4},
		{`{"global_switch": false, "limit_key_type": "URI", "rules": [{"resource": "/p?id=7", "grade": 1, "threshold": 1}]}`, 4},
	} {
		c, err := Build([]config.Filter{{Type: config.StreamFilterFlowControl, Config: json.RawMessage(tc.cfg)}}, "l")
		if err != nil {
			t.Fatal(err)
		}
		passed := 0
		for range 4 {
			v := c.DecodeHeaders(target)
			switch {
			case v.Status == 0:
				passed++
			case v.Status != 509 || string(v.Body) != "current request is limited":
				t.Errorf("%s: blocked with %d %q, want MOSN's default action", tc.cfg, v.Status, v.Body)
			}
		}
		if passed != tc.want {
			t.Errorf("%s: %d of 4 passed, want %d", tc.cfg, passed, tc.want)
		}
	}
}
