package bench

import (
	"strings"
	"testing"
)

func TestParseAssertion(t *testing.T) {
	tests := []struct {
		in     string
		metric string
		op     string
		value  float64
	}{
		{"p99<5ms", "p99", "<", 5},
		{" p99.9 <= 250us ", "p99.9", "<=", 0.25},
		{"p999<1s", "p99.9", "<", 1000},
		{"errors==0", "errors", "==", 0},
		{"rps>=20000", "rps", ">=", 20000},
		{"rps>20k", "rps", ">", 20000},
		{"error_rate<0.5%", "error_rate", "<", 0.5},
		{"status_5xx!=3", "status_5xx", "!=", 3},
		{"MAX<2s", "max", "<", 2000},
	}
	for _, tt := range tests {
		a, err := ParseAssertion(tt.in)
		if err != nil {
			t.Errorf("%q: %v", tt.in, err)
			continue
		}
		if a.Metric != tt.metric || a.Op != tt.op || a.Value != tt.value {
			t.Errorf("%q = %+v, want %s %s %v", tt.in, a, tt.metric, tt.op, tt.value)
		}
	}
	for _, in := range []string{"", "p99", "<5ms", "p99<", "p99<5", "p98<5ms", "rps=>5", "rps>=fast", "errors=~0", "p99<<5ms"} {
		if _, err := ParseAssertion(in); err == nil || !IsUsage(err) {
			t.Errorf("%q: err %v, want a usage error", in, err)
		}
	}
}

func TestAssertionsPassAndFail(t *testing.T) {
	res := &Result{RPS: 25000, Requests: 1000, Errors: Errors{Total: 2, Timeout: 2}, Latency: Latency{P50: 1, P99: 4.5, P999: 9, Max: 12}}
	tests := []struct {
		in   string
		pass bool
	}{
		{"p99<5ms", true}, {"p99<4ms", false}, {"p99.9<=9ms", true}, {"max<10ms", false},
		{"rps>=20000", true}, {"rps>=30000", false}, {"errors==0", false}, {"errors<=2", true},
		{"timeout==2", true}, {"error_rate<1%", true}, {"error_rate<0.1%", false}, {"p50!=1ms", false},
	}
	for _, tt := range tests {
		a, err := ParseAssertion(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if ok, detail := a.Check(res); ok != tt.pass {
			t.Errorf("%s: passed=%v, want %v (%s)", tt.in, ok, tt.pass, detail)
		}
	}
	a1, _ := ParseAssertion("p99<5ms")
	a2, _ := ParseAssertion("errors==0")
	err := Evaluate(res, []Assertion{a1, a2}, nil, 0)
	if err == nil || !strings.Contains(err.Error(), "errors==0 (measured 2)") || strings.Contains(err.Error(), "p99") {
		t.Fatalf("Evaluate: %v", err)
	}
	if len(res.Assertions) != 2 || !res.Assertions[0].Passed || res.Assertions[1].Passed {
		t.Fatalf("recorded %+v", res.Assertions)
	}
}

func TestCompareWithBaseline(t *testing.T) {
	base := &Result{RPS: 10000, Requests: 100, Latency: Latency{P50: 1, P99: 5}}
	tests := []struct {
		name   string
		cur    Result
		failed []string
	}{
		{"same", Result{RPS: 10000, Requests: 100, Latency: Latency{P50: 1, P99: 5}}, nil},
		{"within", Result{RPS: 9100, Requests: 100, Latency: Latency{P50: 1.05, P99: 5.4}}, nil},
		{"slower", Result{RPS: 8000, Requests: 100, Latency: Latency{P50: 1, P99: 6}}, []string{"rps", "p99"}},
		{"errors", Result{RPS: 10000, Requests: 100, Errors: Errors{Total: 20}, Latency: Latency{P50: 1, P99: 5}}, []string{"error_rate"}},
		{"faster", Result{RPS: 20000, Requests: 100, Latency: Latency{P50: 0.5, P99: 2}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var failed []string
			for _, r := range Compare(base, &tt.cur, 10) {
				if r.Failed {
					failed = append(failed, r.Metric)
				}
			}
			if strings.Join(failed, ",") != strings.Join(tt.failed, ",") {
				t.Fatalf("failed %v, want %v", failed, tt.failed)
			}
			err := Evaluate(&tt.cur, nil, base, 10)
			if (err != nil) != (len(tt.failed) > 0) {
				t.Fatalf("Evaluate: %v", err)
			}
		})
	}
}

func FuzzParseAssertion(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAssertion(s)
		if err != nil {
			if !IsUsage(err) {
				t.Fatalf("%q: non-usage error %v", s, err)
			}
			return
		}
		if _, ok := (&Result{}).Metric(a.Metric); !ok {
			t.Fatalf("%q parsed to unknown metric %q", s, a.Metric)
		}
		a.Check(&Result{})
	})
}
