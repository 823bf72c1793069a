package hwprobe

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

// WriteJSON writes the report as indented JSON (the documented schema).
func WriteJSON(w io.Writer, r *Report) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteTable writes the report for a person: one section per area, the
// verdicts with their fix commands, then the notes.
func WriteTable(w io.Writer, r *Report) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	p := func(format string, a ...any) { fmt.Fprintf(tw, format, a...) }

	p("HOST\n")
	p("  root\t%s\n", r.Root)
	p("  kernel\t%s\n", r.Kernel)

	c := r.CPU
	p("\nCPU\n")
	p("  model\t%s\n", c.Model)
	p("  arch\t%s (%s)\n", c.Arch, c.Vendor)
	p("  topology\tsockets %s, cores %s, threads %s\n", intOr(c.Sockets), intOr(c.Cores), intOr(c.Threads))
	var have, miss []string
	for _, f := range FeatureNames(c.Arch) {
		if c.Features[f] {
			have = append(have, f)
		} else {
			miss = append(miss, f)
		}
	}
	if len(FeatureNames(c.Arch)) == 0 {
		p("  features\tunknown\n")
	} else {
		p("  features\t%s\n", listOr(have, "none"))
		p("  missing\t%s\n", listOr(miss, "none"))
	}
	if len(c.NUMANodes) == 0 {
		p("  numa\tunknown\n")
	}
	for _, n := range c.NUMANodes {
		p("  numa node%d\tcpus %s (%s)\n", n.ID, n.CPUs, intOr(n.CPUCount))
	}

	m := r.Memory
	p("\nMEMORY\n")
	p("  total\t%s\n", kbOr(m.MemTotalKB))
	p("  default hugepage\t%s\n", kbOr(m.DefaultHugepageKB))
	if len(m.Hugepages) == 0 {
		p("  hugepages\tnone\n")
	}
	for _, hp := range m.Hugepages {
		var nodes []string
		for _, n := range hp.Nodes {
			nodes = append(nodes, fmt.Sprintf("node%d %s/%s", n.Node, int64Or(n.Total), int64Or(n.Free)))
		}
		per := ""
		if len(nodes) > 0 {
			per = "  [" + strings.Join(nodes, ", ") + "]"
		}
		p("  hugepages %s\ttotal %s free %s%s\n", sizeName(hp.SizeKB), int64Or(hp.Total), int64Or(hp.Free), per)
	}
	if len(m.HugetlbfsMounts) == 0 {
		p("  hugetlbfs\tnone mounted\n")
	}
	for _, mt := range m.HugetlbfsMounts {
		p("  hugetlbfs\t%s (pagesize %s)\n", mt.Path, mt.PageSize)
	}

	io := r.IOMMU
	p("\nIOMMU\n")
	p("  enabled\t%s (%d groups)\n", yesNo(io.Enabled), io.Groups)
	p("  units\t%s\n", listOr(io.Units, "none"))
	p("  cmdline\t%s\n", listOr(io.Cmdline, "none"))
	if io.NoIOMMUMode {
		p("  vfio\tunsafe no-IOMMU mode\n")
	}
	var dpdkMods, qatMods []string
	for _, mod := range r.Modules {
		s := mod.Name + " " + mod.State
		if strings.HasPrefix(mod.Name, "qat") || mod.Name == "intel_qat" {
			if mod.State != ModAbsent {
				qatMods = append(qatMods, s)
			}
			continue
		}
		dpdkMods = append(dpdkMods, s)
	}
	p("  modules\t%s\n", strings.Join(dpdkMods, ", "))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nNICS\n")
	if len(r.NICs) == 0 {
		fmt.Fprintf(w, "  none\n")
	} else {
		tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  NAME\tPCI\tID\tDRIVER\tNUMA\tSPEED\tQUEUES rx/tx\tSTATE\tDPDK\n")
		for _, n := range r.NICs {
			drv := orNone(n.Driver)
			if n.NetdevDriver != "" && n.NetdevDriver != n.Driver {
				drv += "/" + n.NetdevDriver
			}
			id := "-"
			if n.PCI != "" {
				id = n.Vendor + ":" + n.Device
			}
			spd, queues, state := speed(n.SpeedMbps), intOr(n.RxQueues)+"/"+intOr(n.TxQueues), n.OperState
			if n.Name == "" { // no kernel interface: nothing to say about the link
				spd, queues, state = "-", "-", "-"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", dash(n.Name), dash(n.PCI), id, drv,
				numaOr(n.NUMANode), spd, queues, state, n.DPDK)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}

	q := r.QAT
	fmt.Fprintf(w, "\nQAT\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	if len(q.Devices) == 0 {
		fmt.Fprintf(tw, "  devices\tnone\n")
	} else {
		fmt.Fprintf(tw, "  PCI\tID\tGEN\tFN\tDRIVER\tSTATE\tNUMA\tVFS\tPF\n")
		for _, d := range q.Devices {
			vfs := "-"
			if d.Function == "PF" {
				vfs = vfCount(d)
			}
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", d.PCI, d.DeviceID, d.Generation, d.Function,
				orNone(d.Driver), d.State, numaOr(d.NUMANode), vfs, dash(d.PhysFn))
		}
	}
	fmt.Fprintf(tw, "  modules\t%s\n", listOr(qatMods, "none loaded"))
	fmt.Fprintf(tw, "  dev nodes\t%s\n", listOr(q.DevNodes, "none"))
	fmt.Fprintf(tw, "  vfio nodes\t%s\n", listOr(q.VFIONodes, "none"))
	if err := tw.Flush(); err != nil {
		return err
	}

	fmt.Fprintf(w, "\nVERDICT\n")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, v := range r.Verdicts {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", strings.ToUpper(v.Area), v.Status, v.Summary)
		for _, d := range v.Details {
			fmt.Fprintf(tw, "  \t\t- %s\n", d)
		}
		for _, f := range v.Fixes {
			fmt.Fprintf(tw, "  \t\tfix (%s): %s\n", f.Problem, f.Command)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	if len(r.Notes) > 0 {
		fmt.Fprintf(w, "\nNOTES\n")
		for _, n := range r.Notes {
			fmt.Fprintf(w, "  %s: %s\n", n.Path, n.Problem)
		}
	}
	return nil
}

func intOr(v int) string {
	if v < 0 {
		return Unknown
	}
	return strconv.Itoa(v)
}

func int64Or(v int64) string {
	if v < 0 {
		return Unknown
	}
	return strconv.FormatInt(v, 10)
}

func kbOr(v int64) string {
	if v < 0 {
		return Unknown
	}
	if v >= 1<<20 {
		return fmt.Sprintf("%.1f GiB (%d kB)", float64(v)/(1<<20), v)
	}
	return fmt.Sprintf("%s (%d kB)", sizeName(v), v)
}

func numaOr(v int) string {
	if v < 0 {
		return "-"
	}
	return strconv.Itoa(v)
}

func speed(mbps int) string {
	switch {
	case mbps < 0:
		return Unknown
	case mbps >= 1000 && mbps%1000 == 0:
		return fmt.Sprintf("%dGb/s", mbps/1000)
	}
	return fmt.Sprintf("%dMb/s", mbps)
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func listOr(l []string, empty string) string {
	if len(l) == 0 {
		return empty
	}
	return strings.Join(l, " ")
}
