package admin

import (
	"net/url"
	"testing"
	"time"
)

func TestParseStreamQuery(t *testing.T) {
	now := time.Unix(1700000000, 0)
	tests := []struct {
		query   string
		limit   int
		sort    string
		minAge  time.Duration
		wantErr bool
	}{
		{"", DefaultStreamLimit, "age", 0, false},
		{"limit=5&sort=bytes", 5, "bytes", 0, false},
		{"limit=10000", 10000, "age", 0, false},
		{"min_age=1.5s", DefaultStreamLimit, "age", 1500 * time.Millisecond, false},
		{"min_age=250", DefaultStreamLimit, "age", 250 * time.Millisecond, false},
		{"sort=bytes_out&listener=in&cluster=c&state=waiting", DefaultStreamLimit, "bytes_out", 0, false},
		{"limit=0", 0, "", 0, true},
		{"limit=10001", 0, "", 0, true},
		{"limit=ten", 0, "", 0, true},
		{"min_age=-3", 0, "", 0, true},
		{"min_age=soon", 0, "", 0, true},
		{"min_age=NaN", 0, "", 0, true},
		{"min_age=1e300", 0, "", 0, true},
		{"min_age=-2s", 0, "", 0, true},
		{"sort=host", 0, "", 0, true},
		{"state=stuck", 0, "", 0, true},
		{"state=idle", 0, "", 0, true},
	}
	for _, tt := range tests {
		v, err := url.ParseQuery(tt.query)
		if err != nil {
			t.Fatal(err)
		}
		q, limit, sortBy, err := parseStreamQuery(v, now)
		if (err != nil) != tt.wantErr {
			t.Errorf("%q: err = %v, want error %v", tt.query, err, tt.wantErr)
			continue
		}
		if tt.wantErr {
			continue
		}
		if limit != tt.limit || sortBy != tt.sort || q.MinAge != tt.minAge || !q.Now.Equal(now) {
			t.Errorf("%q: limit %d sort %q min_age %v, want %d %q %v", tt.query, limit, sortBy, q.MinAge, tt.limit, tt.sort, tt.minAge)
		}
	}
	q, _, _, _ := parseStreamQuery(url.Values{"listener": {"in"}, "cluster": {"c"}, "host": {"h"}, "protocol": {"bolt"}, "state": {"waiting"}}, now)
	if q.Listener != "in" || q.Cluster != "c" || q.Host != "h" || q.Protocol != "bolt" || q.State != "waiting" {
		t.Errorf("filters not read: %+v", q)
	}
}

func FuzzParseStreamQuery(f *testing.F) {
	for _, s := range []string{"", "limit=5&sort=bytes", "min_age=1.5s", "min_age=250", "limit=-1", "min_age=1e400", "sort=%zz"} {
		f.Add(s)
	}
	now := time.Unix(1700000000, 0)
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		q, limit, sortBy, err := parseStreamQuery(v, now)
		if err != nil {
			return
		}
		if limit < 1 || limit > MaxStreamLimit {
			t.Errorf("limit %d accepted", limit)
		}
		if q.MinAge < 0 {
			t.Errorf("negative min_age %v from %q", q.MinAge, v.Get("min_age"))
		}
		switch sortBy {
		case "age", "bytes", "bytes_in", "bytes_out":
		default:
			t.Errorf("sort %q accepted", sortBy)
		}
	})
}

func TestSortStreams(t *testing.T) {
	t0 := time.Unix(1700000000, 0)
	ss := []StreamInfo{
		{ID: 3, Start: t0.Add(2 * time.Second), BytesIn: 10, BytesOut: 500},
		{ID: 1, Start: t0, BytesIn: 100, BytesOut: 0},
		{ID: 2, Start: t0, BytesIn: 0, BytesOut: 50},
		{ID: 4, Start: t0.Add(time.Second), BytesIn: 1000, BytesOut: 1},
	}
	tests := []struct {
		key  string
		want []uint64
	}{
		{"age", []uint64{1, 2, 4, 3}},
		{"bytes", []uint64{4, 3, 1, 2}},
		{"bytes_in", []uint64{4, 1, 3, 2}},
		{"bytes_out", []uint64{3, 2, 4, 1}},
	}
	for _, tt := range tests {
		c := append([]StreamInfo(nil), ss...)
		SortStreams(c, tt.key)
		for i, s := range c {
			if s.ID != tt.want[i] {
				var got []uint64
				for _, s := range c {
					got = append(got, s.ID)
				}
				t.Errorf("sort %s: %v, want %v", tt.key, got, tt.want)
				break
			}
		}
	}
}

func TestRateHistory(t *testing.T) {
	var h rateHistory
	t0 := time.Unix(1700000000, 0)
	poll := func(at time.Time, req, errs uint64) []ClusterInfo {
		cs := []ClusterInfo{{Name: "c", Requests: req, Errors: errs, Hosts: []HostInfo{{Address: "h", Requests: req, Errors: errs}}}}
		h.annotate(at, cs)
		return cs
	}
	if cs := poll(t0, 100, 0); cs[0].RateWindowSeconds != 0 || cs[0].RPS != 0 {
		t.Errorf("first poll has rates: %+v", cs[0])
	}
	cs := poll(t0.Add(2*time.Second), 300, 10)
	if cs[0].RateWindowSeconds != 2 || cs[0].RPS != 100 || cs[0].ErrorsPerSecond != 5 || cs[0].Hosts[0].RPS != 100 {
		t.Errorf("rates after 2s: %+v", cs[0])
	}
	// A poll right after another compares with the older sample, not with
	// a sample a few milliseconds old.
	cs = poll(t0.Add(2*time.Second+10*time.Millisecond), 301, 10)
	if cs[0].RateWindowSeconds < 2 || cs[0].RPS < 99 {
		t.Errorf("burst poll: %+v", cs[0])
	}
	// Counters that went backwards (a restart) give no rate.
	cs = poll(t0.Add(4*time.Second), 5, 0)
	if cs[0].RPS != 0 || cs[0].ErrorsPerSecond != 0 {
		t.Errorf("after a counter reset: %+v", cs[0])
	}
	// Samples older than the window are dropped.
	cs = poll(t0.Add(10*time.Minute), 10, 0)
	if cs[0].RateWindowSeconds != 0 {
		t.Errorf("stale samples used: %+v", cs[0])
	}
}
