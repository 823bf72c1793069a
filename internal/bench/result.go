package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// SchemaVersion is the version of the JSON result format (README.md).
const SchemaVersion = 1

// Result is one run's measurements; its JSON form is documented in
// README.md and checked against testdata/result.schema.json.
type Result struct {
	SchemaVersion int      `json:"schema_version"`
	Targets       []string `json:"targets"`
	Protocol      string   `json:"protocol"`
	Connections   int      `json:"connections"`
	Streams       int      `json:"streams"`
	// RateTarget is the open-loop rate asked for (requests/s); 0 = closed loop.
	RateTarget  float64 `json:"rate_target"`
	DurationSec float64 `json:"duration_s"`
	Interrupted bool    `json:"interrupted"`
	// Requests counts every request with an outcome: a response or a failure.
	Requests  uint64  `json:"requests"`
	Responses uint64  `json:"responses"`
	RPS       float64 `json:"rps"`
	Bytes     uint64  `json:"bytes"`
	BytesPerS float64 `json:"bytes_per_s"`
	Errors    Errors  `json:"errors"`
	// Status counts responses by protocol status code (HTTP status, Bolt
	// respStatus), keyed by the code in decimal.
	Status    map[string]uint64 `json:"status"`
	Latency   Latency           `json:"latency_ms"`
	Histogram []HistogramBucket `json:"histogram"`
	// Assertions and Comparison are filled by Evaluate.
	Assertions []AssertionResult `json:"assertions"`
	Comparison []Regression      `json:"comparison"`
}

// AssertionResult is one --assert and whether it held.
type AssertionResult struct {
	Assertion string `json:"assertion"`
	Passed    bool   `json:"passed"`
	Detail    string `json:"detail"`
}

// Errors counts failed requests by kind. Status4xx/5xx are HTTP responses
// with those codes; StatusOther is a non-HTTP error status (Bolt).
type Errors struct {
	Total       uint64 `json:"total"`
	Connect     uint64 `json:"connect"`
	Timeout     uint64 `json:"timeout"`
	Reset       uint64 `json:"reset"`
	Protocol    uint64 `json:"protocol"`
	Status4xx   uint64 `json:"status_4xx"`
	Status5xx   uint64 `json:"status_5xx"`
	StatusOther uint64 `json:"status_other"`
}

// Latency is in milliseconds; percentiles are read from the histogram
// (within 0.78%), min, mean and max are exact.
type Latency struct {
	Min  float64 `json:"min"`
	Mean float64 `json:"mean"`
	P50  float64 `json:"p50"`
	P90  float64 `json:"p90"`
	P99  float64 `json:"p99"`
	P999 float64 `json:"p99_9"`
	Max  float64 `json:"max"`
}

// HistogramBucket is one non-empty latency bucket, bounds in microseconds.
type HistogramBucket struct {
	LowUS  float64 `json:"low_us"`
	HighUS float64 `json:"high_us"`
	Count  uint64  `json:"count"`
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func newResult(cfg *Config, h *Histogram, st *workerStats, elapsed time.Duration, interrupted bool) *Result {
	res := &Result{
		SchemaVersion: SchemaVersion,
		Targets:       cfg.Targets,
		Protocol:      protocolName(cfg),
		Connections:   cfg.Conns,
		Streams:       cfg.Streams,
		RateTarget:    cfg.Rate,
		DurationSec:   elapsed.Seconds(),
		Interrupted:   interrupted,
		Responses:     st.responses,
		Bytes:         st.bytesIn,
		Status:        map[string]uint64{},
		Histogram:     []HistogramBucket{},
		Assertions:    []AssertionResult{},
		Comparison:    []Regression{},
	}
	e := &res.Errors
	e.Connect = st.errors[errConnect]
	e.Timeout = st.errors[errTimeout]
	e.Reset = st.errors[errReset]
	e.Protocol = st.errors[errProtocol]
	e.Status4xx = st.errors[errStatus4xx]
	e.Status5xx = st.errors[errStatus5xx]
	e.StatusOther = st.errors[errStatusOther]
	e.Total = e.Connect + e.Timeout + e.Reset + e.Protocol + e.Status4xx + e.Status5xx + e.StatusOther
	// Error statuses are responses too; only transport failures add requests.
	res.Requests = st.responses + e.Connect + e.Timeout + e.Reset + e.Protocol
	res.RPS = float64(st.responses) / elapsed.Seconds()
	res.BytesPerS = float64(st.bytesIn) / elapsed.Seconds()
	for code, n := range st.status {
		res.Status[strconv.Itoa(code)] = n
	}
	res.Latency = Latency{
		Min: ms(h.Min()), Mean: ms(h.Mean()), P50: ms(h.Quantile(0.50)), P90: ms(h.Quantile(0.90)),
		P99: ms(h.Quantile(0.99)), P999: ms(h.Quantile(0.999)), Max: ms(h.Max()),
	}
	for _, b := range h.Buckets() {
		res.Histogram = append(res.Histogram, HistogramBucket{
			LowUS: float64(b.Low) / 1e3, HighUS: float64(b.High) / 1e3, Count: b.Count,
		})
	}
	return res
}

func protocolName(cfg *Config) string {
	if len(cfg.Targets) == 0 {
		return ""
	}
	scheme, _, _ := strings.Cut(cfg.Targets[0], "://")
	switch strings.ToLower(scheme) {
	case "http":
		if cfg.H2 {
			return "h2c"
		}
		return "http1"
	case "https":
		if cfg.H2 {
			return "h2"
		}
		return "http1-tls"
	}
	return strings.ToLower(scheme)
}

// WriteJSON writes r as one JSON document.
func (r *Result) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadResult reads a result written by WriteJSON (a --compare baseline).
func ReadResult(rd io.Reader) (*Result, error) {
	var r Result
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("read result: %w", err)
	}
	if r.SchemaVersion != SchemaVersion {
		return nil, fmt.Errorf("read result: schema_version %d, want %d", r.SchemaVersion, SchemaVersion)
	}
	return &r, nil
}

// fmtMS prints milliseconds with a unit that suits their size.
func fmtMS(v float64) string {
	d := time.Duration(v * 1e6)
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", v)
	}
	return fmt.Sprintf("%.1fµs", v*1e3)
}

func fmtBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.2f %s", v, units[i])
}

// WriteTable prints r for people.
func (r *Result) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	mode := "closed loop"
	if r.RateTarget > 0 {
		mode = fmt.Sprintf("open loop at %.0f/s", r.RateTarget)
	}
	fmt.Fprintf(tw, "target\t%s\n", strings.Join(r.Targets, " "))
	fmt.Fprintf(tw, "load\t%s, %s, %d connections x %d streams\n", r.Protocol, mode, r.Connections, r.Streams)
	dur := fmt.Sprintf("%.2fs", r.DurationSec)
	if r.Interrupted {
		dur += " (interrupted)"
	}
	fmt.Fprintf(tw, "duration\t%s\n", dur)
	fmt.Fprintf(tw, "requests\t%d (%d responses)\n", r.Requests, r.Responses)
	fmt.Fprintf(tw, "requests/s\t%.1f\n", r.RPS)
	fmt.Fprintf(tw, "transfer/s\t%s\n", fmtBytes(r.BytesPerS))
	e := r.Errors
	fmt.Fprintf(tw, "errors\t%d", e.Total)
	if e.Total > 0 {
		var parts []string
		for _, kv := range []struct {
			n string
			v uint64
		}{{"connect", e.Connect}, {"timeout", e.Timeout}, {"reset", e.Reset}, {"protocol", e.Protocol},
			{"4xx", e.Status4xx}, {"5xx", e.Status5xx}, {"status", e.StatusOther}} {
			if kv.v > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", kv.n, kv.v))
			}
		}
		fmt.Fprintf(tw, " (%s)", strings.Join(parts, ", "))
	}
	fmt.Fprintln(tw)
	if len(r.Status) > 0 {
		codes := make([]string, 0, len(r.Status))
		for c := range r.Status {
			codes = append(codes, c)
		}
		sort.Strings(codes)
		var parts []string
		for _, c := range codes {
			parts = append(parts, fmt.Sprintf("%s: %d", c, r.Status[c]))
		}
		fmt.Fprintf(tw, "status\t%s\n", strings.Join(parts, ", "))
	}
	fmt.Fprintln(tw)
	l := r.Latency
	fmt.Fprintln(tw, "latency\tmin\tmean\tp50\tp90\tp99\tp99.9\tmax")
	fmt.Fprintf(tw, "\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", fmtMS(l.Min), fmtMS(l.Mean), fmtMS(l.P50), fmtMS(l.P90),
		fmtMS(l.P99), fmtMS(l.P999), fmtMS(l.Max))
	if len(r.Comparison) > 0 {
		fmt.Fprintln(tw)
		fmt.Fprintln(tw, "compare\tbaseline\tcurrent\tworse by\t")
		for _, c := range r.Comparison {
			verdict := "ok"
			if c.Failed {
				verdict = "REGRESSION"
			}
			unit := "%"
			if c.Metric == "error_rate" {
				unit = " points"
			}
			fmt.Fprintf(tw, "%s\t%.2f\t%.2f\t%.1f%s\t%s\n", c.Metric, c.Baseline, c.Current, c.ChangePct, unit, verdict)
		}
	}
	if len(r.Assertions) > 0 {
		fmt.Fprintln(tw)
		for _, a := range r.Assertions {
			verdict := "ok"
			if !a.Passed {
				verdict = "FAILED"
			}
			fmt.Fprintf(tw, "assert\t%s\t%s\n", verdict, a.Detail)
		}
	}
	return tw.Flush()
}
