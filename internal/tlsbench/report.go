package tlsbench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
)

// WriteJSON prints the report as one JSON document. Empty lists print as
// [], never null, so that scripts can iterate over any of them unchecked.
func (r *Report) WriteJSON(w io.Writer) error {
	out := *r
	out.Host.CPUFlags = orEmpty(out.Host.CPUFlags)
	out.Host.ClientCPUs = orEmpty(out.Host.ClientCPUs)
	out.Engines = orEmpty(out.Engines)
	out.Results = orEmpty(out.Results)
	out.Errors = orEmpty(out.Errors)
	out.Skipped = orEmpty(out.Skipped)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(&out)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

type groupKey struct{ suite, curve string }

// lineKind is one printed line of a group: a metric's value or the server
// CPU it cost.
type lineKind struct {
	metric string
	cpu    bool
}

// WriteTable prints the human report: one block per suite and curve with
// engines as columns, each cell "value ratio-to-go", the best engine of a
// line marked with *, then one verdict line per suite and curve.
func (r *Report) WriteTable(w io.Writer) error {
	engines := r.engineOrder()
	fmt.Fprintf(w, "host: %s, %d cpus, server on cpu %d, %s %s/%s\n", r.Host.CPUModel, r.Host.NumCPU, r.Host.ServerCPU, r.Host.GoVersion, r.Host.OS, r.Host.Arch)
	for _, e := range r.Engines {
		if e.Available {
			fmt.Fprintf(w, "engine %-13s %s\n", e.Name, e.Version)
		} else {
			fmt.Fprintf(w, "engine %-13s %s\n", e.Name, e.Note)
		}
	}
	fmt.Fprintf(w, "cells: value and ratio to go; * marks the best engine of a line (highest rate, lowest server cpu)\n")
	errs := map[string]string{}
	for _, e := range r.Errors {
		errs[cellKey(e.Engine, e.Suite, e.Curve, e.Metric)] = "error"
	}
	for _, e := range r.Skipped {
		errs[cellKey(e.Engine, e.Suite, e.Curve, e.Metric)] = "n/a"
	}
	var verdicts []string
	for _, g := range r.groups() {
		rows := r.rowsOf(g)
		if len(rows) == 0 && !r.hasCells(g) {
			continue
		}
		s, _ := suiteByName(g.suite)
		fmt.Fprintf(w, "\n%s · TLS %s · %s · %s\n", g.suite, s.TLSVersion(), g.curve, s.Cert)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "metric\tunit\t%s\n", strings.Join(engines, "\t"))
		for _, lk := range r.lines(g) {
			vals := map[string]float64{}
			unit := ""
			for _, row := range rows {
				if row.Metric != lk.metric {
					continue
				}
				v, u, ok := lineValue(row, lk.cpu)
				if ok {
					vals[row.Engine], unit = v, u
				}
			}
			if lk.cpu && len(vals) == 0 {
				continue
			}
			name := lk.metric
			if lk.cpu {
				name = "  server cpu"
			}
			best := bestEngine(vals, !lk.cpu)
			base, hasBase := vals[EngineGo]
			cells := make([]string, len(engines))
			for i, e := range engines {
				v, ok := vals[e]
				switch {
				case ok:
					cells[i] = formatValue(v)
					if hasBase && base > 0 {
						cells[i] += fmt.Sprintf(" %.2f", v/base)
					}
					if e == best && len(vals) > 1 {
						cells[i] += " *"
					}
				case errs[cellKey(e, g.suite, g.curve, lk.metric)] != "" && !lk.cpu:
					cells[i] = errs[cellKey(e, g.suite, g.curve, lk.metric)]
				default:
					cells[i] = "-"
				}
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\n", name, unit, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
		verdicts = append(verdicts, r.verdicts(g, rows, engines)...)
	}
	if len(verdicts) > 0 {
		fmt.Fprintf(w, "\nverdict (ratio to go, higher is better):\n")
		for _, v := range verdicts {
			fmt.Fprintln(w, v)
		}
	}
	if r.hasPrimitive(EngineOpenSSL, MetricECDHE) {
		fmt.Fprintf(w, "\nnote: openssl's ecdhe is `openssl speed ecdh`, the shared-secret derivation only; the other engines count key generation plus derivation, what a server does per handshake\n")
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "\nn/a cells:\n")
		seen := map[string]int{}
		var order []CellError
		for _, e := range r.Skipped {
			k := e.Engine + "|" + e.Error
			if seen[k] == 0 {
				order = append(order, e)
			}
			seen[k]++
		}
		for _, e := range order {
			fmt.Fprintf(w, "  %s (%d cells): %s\n", e.Engine, seen[e.Engine+"|"+e.Error], e.Error)
		}
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\nerrors:\n")
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s %s %s %s: %s\n", e.Engine, e.Suite, e.Curve, e.Metric, e.Error)
		}
	}
	return nil
}

func cellKey(engine, suite, curve, metric string) string {
	return engine + "|" + suite + "|" + curve + "|" + metric
}

// lineValue turns a row into what a line shows: the value itself, or its
// server CPU per 1000 handshakes or per GB.
func lineValue(row Row, cpu bool) (float64, string, bool) {
	if !cpu {
		return row.Value, row.Unit, true
	}
	if row.ServerCPU == nil || row.Count == 0 {
		return 0, "", false
	}
	if row.Unit == "MB/s" {
		return *row.ServerCPU / (float64(row.Count) / 1e9), "cpu s/GB", true
	}
	return *row.ServerCPU / float64(row.Count) * 1000, "cpu s/1k hs", true
}

func bestEngine(vals map[string]float64, higher bool) string {
	best, bv := "", 0.0
	for _, e := range Engines() {
		v, ok := vals[e]
		if !ok {
			continue
		}
		if best == "" || (higher && v > bv) || (!higher && v < bv) {
			best, bv = e, v
		}
	}
	return best
}

func formatValue(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3g", v)
	}
}

func (r *Report) engineOrder() []string {
	var out []string
	for _, e := range r.Engines {
		if e.Available {
			out = append(out, e.Name)
		}
	}
	return out
}

// groups lists suite/curve pairs in the canonical order.
func (r *Report) groups() []groupKey {
	var out []groupKey
	for _, s := range Suites() {
		for _, c := range Curves() {
			out = append(out, groupKey{s.Name, c.Name})
		}
	}
	return out
}

func (r *Report) rowsOf(g groupKey) []Row {
	var out []Row
	for _, row := range r.Results {
		if row.Suite == g.suite && row.Curve == g.curve {
			out = append(out, row)
		}
	}
	return out
}

func (r *Report) hasCells(g groupKey) bool {
	for _, list := range [][]CellError{r.Errors, r.Skipped} {
		for _, e := range list {
			if e.Suite == g.suite && e.Curve == g.curve {
				return true
			}
		}
	}
	return false
}

// lines lists the metrics present in a group, each followed by its server
// CPU line for the TLS metrics.
func (r *Report) lines(g groupKey) []lineKind {
	present := map[string]bool{}
	for _, row := range r.rowsOf(g) {
		present[row.Metric] = true
	}
	for _, list := range [][]CellError{r.Errors, r.Skipped} {
		for _, e := range list {
			if e.Suite == g.suite && e.Curve == g.curve {
				present[e.Metric] = true
			}
		}
	}
	var out []lineKind
	for _, m := range Metrics() {
		if !present[m] {
			continue
		}
		out = append(out, lineKind{metric: m})
		if !isPrimitive(m) {
			out = append(out, lineKind{metric: m, cpu: true})
		}
	}
	return out
}

// verdicts are the one-line answers: handshakes/s (full) and bulk MB/s
// (download, where the server encrypts; upload if download was not run).
func (r *Report) verdicts(g groupKey, rows []Row, engines []string) []string {
	var out []string
	for _, v := range []struct {
		label, metric, alt string
		perCPU             bool
	}{
		{"handshakes/s", MetricHandshakeFull, "", false},
		{"handshakes per server cpu-s", MetricHandshakeFull, "", true},
		{"bulk MB/s", MetricBulkDownload, MetricBulkUpload, false},
		{"bulk MB per server cpu-s", MetricBulkDownload, MetricBulkUpload, true},
	} {
		vals := valuesOf(rows, v.metric, v.perCPU)
		if len(vals) == 0 && v.alt != "" {
			vals = valuesOf(rows, v.alt, v.perCPU)
		}
		if len(vals) == 0 {
			continue
		}
		base, ok := vals[EngineGo]
		var parts []string
		for _, e := range engines {
			x, have := vals[e]
			switch {
			case !have:
				parts = append(parts, e+" -")
			case ok && base > 0:
				parts = append(parts, fmt.Sprintf("%s %.2f", e, x/base))
			default:
				parts = append(parts, fmt.Sprintf("%s %s", e, formatValue(x)))
			}
		}
		out = append(out, fmt.Sprintf("%s %s %s: %s (fastest: %s)", g.suite, g.curve, v.label, strings.Join(parts, " · "), bestEngine(vals, true)))
	}
	return out
}

// valuesOf maps engines to a metric's value, or with perCPU to what one
// server CPU-second bought (handshakes, or MB), which a busy machine's
// stalls disturb less than the rate.
func valuesOf(rows []Row, metric string, perCPU bool) map[string]float64 {
	vals := map[string]float64{}
	for _, row := range rows {
		if row.Metric != metric {
			continue
		}
		switch {
		case !perCPU:
			vals[row.Engine] = row.Value
		case row.ServerCPU != nil && *row.ServerCPU > 0 && row.Count > 0:
			n := float64(row.Count)
			if row.Unit == "MB/s" {
				n /= 1e6
			}
			vals[row.Engine] = n / *row.ServerCPU
		}
	}
	return vals
}

func (r *Report) hasPrimitive(engine, metric string) bool {
	for _, row := range r.Results {
		if row.Engine == engine && row.Metric == metric {
			return true
		}
	}
	return false
}

// ReadJSON loads a report written by WriteJSON, to print it again.
func ReadJSON(rd io.Reader) (*Report, error) {
	var r Report
	if err := json.NewDecoder(rd).Decode(&r); err != nil {
		return nil, fmt.Errorf("read tlsbench report: %w", err)
	}
	return &r, nil
}
