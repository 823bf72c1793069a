package bench

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Assertion is a parsed --assert expression such as "p99<5ms",
// "errors==0" or "rps>=20000".
type Assertion struct {
	Text   string
	Metric string
	Op     string
	Value  float64 // in the metric's unit: ms for latencies, % for error_rate
}

// metric units: latencies are compared in milliseconds.
var assertMetrics = map[string]string{
	"p50": "latency", "p90": "latency", "p99": "latency", "p99.9": "latency", "p999": "latency",
	"min": "latency", "mean": "latency", "max": "latency",
	"rps": "number", "requests": "number", "responses": "number", "bytes_per_s": "number",
	"errors": "number", "error_rate": "percent",
	"connect": "number", "timeout": "number", "reset": "number", "protocol": "number",
	"status_4xx": "number", "status_5xx": "number", "status_other": "number",
}

// ParseAssertion parses one --assert expression; errors are usage errors.
func ParseAssertion(s string) (Assertion, error) {
	text := strings.TrimSpace(s)
	var op string
	i := strings.IndexAny(text, "<>=!")
	if i <= 0 {
		return Assertion{}, usageErrorf("bad assertion %q: want METRIC OP VALUE, e.g. p99<5ms", s)
	}
	for _, o := range []string{"<=", ">=", "==", "!=", "<", ">"} {
		if strings.HasPrefix(text[i:], o) {
			op = o
			break
		}
	}
	if op == "" {
		return Assertion{}, usageErrorf("bad assertion %q: unknown operator", s)
	}
	metric := strings.ToLower(strings.TrimSpace(text[:i]))
	raw := strings.TrimSpace(text[i+len(op):])
	kind, ok := assertMetrics[metric]
	if !ok {
		return Assertion{}, usageErrorf("bad assertion %q: unknown metric %q", s, metric)
	}
	if metric == "p999" {
		metric = "p99.9"
	}
	var v float64
	var err error
	switch kind {
	case "latency":
		var d time.Duration
		d, err = time.ParseDuration(raw)
		v = float64(d) / 1e6
	case "percent":
		v, err = strconv.ParseFloat(strings.TrimSuffix(raw, "%"), 64)
	default:
		v, err = parseNumber(raw)
	}
	if err != nil || raw == "" {
		return Assertion{}, usageErrorf("bad assertion %q: bad value %q", s, raw)
	}
	return Assertion{Text: text, Metric: metric, Op: op, Value: v}, nil
}

// parseNumber accepts plain numbers and k/M suffixes (20k = 20000).
func parseNumber(s string) (float64, error) {
	mult := 1.0
	switch {
	case strings.HasSuffix(s, "k"):
		mult, s = 1e3, strings.TrimSuffix(s, "k")
	case strings.HasSuffix(s, "M"):
		mult, s = 1e6, strings.TrimSuffix(s, "M")
	}
	v, err := strconv.ParseFloat(s, 64)
	return v * mult, err
}

// Metric returns the value an assertion or comparison reads from r.
func (r *Result) Metric(name string) (float64, bool) {
	l, e := r.Latency, r.Errors
	switch name {
	case "p50":
		return l.P50, true
	case "p90":
		return l.P90, true
	case "p99":
		return l.P99, true
	case "p99.9", "p999":
		return l.P999, true
	case "min":
		return l.Min, true
	case "mean":
		return l.Mean, true
	case "max":
		return l.Max, true
	case "rps":
		return r.RPS, true
	case "requests":
		return float64(r.Requests), true
	case "responses":
		return float64(r.Responses), true
	case "bytes_per_s":
		return r.BytesPerS, true
	case "errors":
		return float64(e.Total), true
	case "error_rate":
		if r.Requests == 0 {
			return 0, true
		}
		return 100 * float64(e.Total) / float64(r.Requests), true
	case "connect":
		return float64(e.Connect), true
	case "timeout":
		return float64(e.Timeout), true
	case "reset":
		return float64(e.Reset), true
	case "protocol":
		return float64(e.Protocol), true
	case "status_4xx":
		return float64(e.Status4xx), true
	case "status_5xx":
		return float64(e.Status5xx), true
	case "status_other":
		return float64(e.StatusOther), true
	}
	return 0, false
}

// Check evaluates a against r; the message shows the measured value.
func (a Assertion) Check(r *Result) (bool, string) {
	got, _ := r.Metric(a.Metric)
	var ok bool
	switch a.Op {
	case "<":
		ok = got < a.Value
	case "<=":
		ok = got <= a.Value
	case ">":
		ok = got > a.Value
	case ">=":
		ok = got >= a.Value
	case "==":
		ok = got == a.Value
	case "!=":
		ok = got != a.Value
	}
	unit := ""
	switch assertMetrics[a.Metric] {
	case "latency":
		return ok, fmt.Sprintf("%s (measured %s)", a.Text, fmtMS(got))
	case "percent":
		unit = "%"
	}
	if got == math.Trunc(got) && math.Abs(got) < 1e15 {
		return ok, fmt.Sprintf("%s (measured %d%s)", a.Text, int64(got), unit)
	}
	return ok, fmt.Sprintf("%s (measured %.2f%s)", a.Text, got, unit)
}

// Regression is one metric compared with a baseline.
type Regression struct {
	Metric   string  `json:"metric"`
	Baseline float64 `json:"baseline"`
	Current  float64 `json:"current"`
	// ChangePct is positive when the current run is worse.
	ChangePct float64 `json:"change_pct"`
	Failed    bool    `json:"failed"`
}

// Compare checks r against a baseline: requests/s may drop and p50/p99 may
// rise by at most maxPct percent; errors may not grow past the baseline's
// error rate by more than maxPct points.
func Compare(base, r *Result, maxPct float64) []Regression {
	var out []Regression
	worse := func(metric string, higherIsBetter bool) {
		b, _ := base.Metric(metric)
		c, _ := r.Metric(metric)
		var pct float64
		if b != 0 {
			if higherIsBetter {
				pct = 100 * (b - c) / b
			} else {
				pct = 100 * (c - b) / b
			}
		}
		out = append(out, Regression{Metric: metric, Baseline: b, Current: c, ChangePct: pct, Failed: pct > maxPct})
	}
	worse("rps", true)
	worse("p50", false)
	worse("p99", false)
	b, _ := base.Metric("error_rate")
	c, _ := r.Metric("error_rate")
	out = append(out, Regression{Metric: "error_rate", Baseline: b, Current: c, ChangePct: c - b, Failed: c-b > maxPct})
	return out
}

// Evaluate checks the assertions and, with a baseline, the regressions,
// records them in r, and returns an error naming each one that failed.
func Evaluate(r *Result, asserts []Assertion, base *Result, maxPct float64) error {
	var failed []string
	for _, a := range asserts {
		ok, detail := a.Check(r)
		r.Assertions = append(r.Assertions, AssertionResult{Assertion: a.Text, Passed: ok, Detail: detail})
		if !ok {
			failed = append(failed, detail)
		}
	}
	if base != nil {
		r.Comparison = Compare(base, r, maxPct)
		for _, c := range r.Comparison {
			if c.Failed {
				failed = append(failed, fmt.Sprintf("%s regressed %.1f%% (baseline %.2f, now %.2f, max %.0f%%)",
					c.Metric, c.ChangePct, c.Baseline, c.Current, maxPct))
			}
		}
	}
	switch len(failed) {
	case 0:
		return nil
	case 1:
		return fmt.Errorf("assertion failed: %s", failed[0])
	}
	return fmt.Errorf("%d assertions failed: %s", len(failed), strings.Join(failed, "; "))
}
