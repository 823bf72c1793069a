package hwprobe

import (
	"fmt"
	"sort"
	"strings"
)

// verdicts turns the findings into one conclusion per area. The wording
// about Go's use of CPU features follows the standard library's
// crypto/internal/fips140 dispatch: AES-GCM needs AES-NI + PCLMULQDQ (+SSE4.1,
// SSSE3) on amd64 and AES + PMULL on arm64; SHA-256 uses SHA-NI or the Armv8
// SHA2 instructions; VAES and VPCLMULQDQ are not used.
func verdicts(r *Report) []Verdict {
	return []Verdict{tlsVerdict(r), qatVerdict(r), dpdkVerdict(r)}
}

func newVerdict(area string) Verdict {
	return Verdict{Area: area, Details: []string{}, Fixes: []Fix{}}
}

func tlsVerdict(r *Report) Verdict {
	v := newVerdict(AreaTLS)
	f := r.cpuFlags
	switch r.CPU.Arch {
	case "x86_64":
		if f["aes"] && f["pclmulqdq"] && f["sse4_1"] && f["ssse3"] {
			v.Status = StatusOK
			v.Summary = "AES-NI + PCLMULQDQ present: Go's AES-GCM uses them"
		} else {
			v.Status = StatusSlow
			v.Summary = "no AES-NI/PCLMULQDQ: Go's AES-GCM runs in constant-time software, several times slower; prefer ChaCha20-Poly1305 suites"
			v.Fixes = append(v.Fixes, Fix{Problem: "AES-NI not available",
				Command: cpuExposeHint(f)})
		}
		switch {
		case f["sha_ni"] && f["avx"] && f["sse4_1"] && f["ssse3"]:
			v.Details = append(v.Details, "SHA-NI present: Go's SHA-256 uses it")
		case f["avx2"] && f["avx"] && f["bmi2"]:
			v.Details = append(v.Details, "no SHA-NI: Go's SHA-256 uses AVX2")
		default:
			v.Details = append(v.Details, "no SHA-NI or AVX2: Go's SHA-256 uses plain x86 code")
		}
		if f["vaes"] && f["vpclmulqdq"] {
			v.Details = append(v.Details, "VAES + VPCLMULQDQ present: Go's crypto does not use them yet (AES-GCM runs on AES-NI)")
		}
		if f["avx512f"] {
			v.Details = append(v.Details, "AVX-512F present")
		}
	case "arm64":
		if f["aes"] && f["pmull"] {
			v.Status = StatusOK
			v.Summary = "ARMv8 AES + PMULL present: Go's AES-GCM uses them"
		} else {
			v.Status = StatusSlow
			v.Summary = "no ARMv8 AES/PMULL: Go's AES-GCM runs in constant-time software; prefer ChaCha20-Poly1305 suites"
			v.Fixes = append(v.Fixes, Fix{Problem: "ARMv8 crypto extensions not available",
				Command: "use a CPU (or VM CPU model) with the ARMv8 Cryptographic Extension"})
		}
		if f["sha2"] {
			v.Details = append(v.Details, "SHA2 present: Go's SHA-256 uses it")
		} else {
			v.Details = append(v.Details, "no SHA2 instructions: Go's SHA-256 runs in software")
		}
	default:
		v.Status = StatusUnknown
		v.Summary = "CPU features unknown (see notes)"
	}
	return v
}

func cpuExposeHint(f map[string]bool) string {
	if f["hypervisor"] {
		return "give the VM the host's CPU model (qemu -cpu host, libvirt <cpu mode='host-passthrough'/>)"
	}
	return "enable AES-NI in the firmware setup"
}

func qatVerdict(r *Report) Verdict {
	v := newVerdict(AreaQAT)
	if len(r.QAT.Devices) == 0 {
		v.Status = StatusNone
		v.Summary = "no QuickAssist device found"
		return v
	}
	type group struct{ pfs, vfs []QATDevice }
	groups := map[string]*group{}
	var gens []string
	for _, d := range r.QAT.Devices {
		g := groups[d.Generation]
		if g == nil {
			g = &group{}
			groups[d.Generation] = g
			gens = append(gens, d.Generation)
		}
		if d.Function == "PF" {
			g.pfs = append(g.pfs, d)
		} else {
			g.vfs = append(g.vfs, d)
		}
	}
	sort.Strings(gens)
	usable := false
	var parts []string
	for _, gen := range gens {
		g := groups[gen]
		parts = append(parts, fmt.Sprintf("%s: %d PF, %d VF", gen, len(g.pfs), len(g.vfs)))
		for _, pf := range g.pfs {
			dir := "/sys/bus/pci/devices/" + pf.PCI
			v.Details = append(v.Details, fmt.Sprintf("PF %s driver %s state %s, %s VFs enabled",
				pf.PCI, orNone(pf.Driver), pf.State, vfCount(pf)))
			switch {
			case pf.Driver == "":
				v.Fixes = append(v.Fixes, Fix{Problem: "PF " + pf.PCI + " has no driver",
					Command: "modprobe " + qatIDs[pf.DeviceID].module})
			case pf.State == "down":
				v.Fixes = append(v.Fixes, Fix{Problem: "PF " + pf.PCI + " is down",
					Command: "echo up > " + dir + "/qat/state"})
			default:
				usable = true
			}
			if pf.Driver != "" && pf.NumVFs == 0 && pf.TotalVFs > 0 {
				v.Fixes = append(v.Fixes, Fix{Problem: "PF " + pf.PCI + " has no VFs (user-space QAT and VMs use VFs)",
					Command: fmt.Sprintf("echo %d > %s/sriov_numvfs", pf.TotalVFs, dir)})
			}
		}
		drivers := map[string]int{}
		for _, vf := range g.vfs {
			drivers[orNone(vf.Driver)]++
			if vf.Driver != "" {
				usable = true
			}
		}
		if len(g.vfs) > 0 {
			v.Details = append(v.Details, fmt.Sprintf("%s VFs by driver: %s", gen, countList(drivers)))
		}
		if n := drivers["vfio-pci"] + drivers["qat_vfio_pci"]; n > 0 && !r.IOMMU.Enabled && !r.IOMMU.NoIOMMUMode {
			v.Fixes = append(v.Fixes, Fix{Problem: fmt.Sprintf("%d %s VFs on vfio but the IOMMU is off", n, gen),
				Command: iommuFix(r)})
		}
	}
	if len(r.QAT.DevNodes) > 0 {
		v.Details = append(v.Details, "device nodes: "+strings.Join(r.QAT.DevNodes, " "))
	}
	v.Summary = strings.Join(parts, "; ")
	if usable {
		v.Status = StatusReady
	} else {
		v.Status = StatusNotReady
	}
	return v
}

func vfCount(pf QATDevice) string {
	if pf.NumVFs < 0 {
		return "unknown"
	}
	return fmt.Sprintf("%d of %d", pf.NumVFs, pf.TotalVFs)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func countList(m map[string]int) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s %d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

func iommuFix(r *Report) string {
	args := "intel_iommu=on iommu=pt"
	switch {
	case r.CPU.Vendor == "AuthenticAMD":
		args = "amd_iommu=on iommu=pt"
	case r.CPU.Arch == "arm64":
		return "enable the SMMU in firmware and add iommu.passthrough=1 to the kernel command line, then reboot"
	}
	return "add '" + args + "' to the kernel command line (GRUB_CMDLINE_LINUX in /etc/default/grub; update-grub), then reboot"
}

func (r *Report) moduleState(name string) string {
	for _, m := range r.Modules {
		if m.Name == name {
			return m.State
		}
	}
	return Unknown
}

func moduleUp(state string) bool { return state == ModLoaded || state == ModBuiltin }

func dpdkVerdict(r *Report) Verdict {
	v := newVerdict(AreaDPDK)
	var problems []string
	fix := func(problem, command string) {
		problems = append(problems, problem)
		if command != "" {
			v.Fixes = append(v.Fixes, Fix{Problem: problem, Command: command})
		}
	}

	// Memory: some hugepages reserved, and hugetlbfs to map them.
	var reserved []HugepagePool
	unknown := false
	for _, hp := range r.Memory.Hugepages {
		switch {
		case hp.Total > 0:
			reserved = append(reserved, hp)
			v.Details = append(v.Details, fmt.Sprintf("hugepages %s: %d reserved, %d free", sizeName(hp.SizeKB), hp.Total, hp.Free))
			if hp.Free == 0 {
				v.Details = append(v.Details, fmt.Sprintf("all %s hugepages are in use", sizeName(hp.SizeKB)))
			}
		case hp.Total < 0:
			unknown = true
		}
	}
	switch {
	case len(reserved) > 0:
	case unknown:
		fix("hugepage counts unknown (see notes)", "")
	case len(r.Memory.Hugepages) == 0:
		fix("no hugepage support found", "")
	default:
		hp := r.Memory.Hugepages[0]
		for _, c := range r.Memory.Hugepages {
			if c.SizeKB == 2048 {
				hp = c
			}
		}
		fix("no hugepages reserved", fmt.Sprintf("echo %d > /sys/kernel/mm/hugepages/hugepages-%dkB/nr_hugepages",
			pagesFor2GiB(hp.SizeKB), hp.SizeKB))
	}
	if len(r.Memory.HugetlbfsMounts) == 0 {
		size := int64(2048)
		if len(reserved) > 0 {
			size = reserved[0].SizeKB
		}
		fix("no hugetlbfs mounted", "mkdir -p /dev/hugepages && mount -t hugetlbfs -o pagesize="+mountSize(size)+" nodev /dev/hugepages")
	}

	// NICs: which DPDK can drive now, which after binding.
	var bound, bifurcated, bindable []NIC
	for _, n := range r.NICs {
		switch n.DPDK {
		case DPDKBound:
			bound = append(bound, n)
		case DPDKBifurcated:
			bifurcated = append(bifurcated, n)
		case DPDKBindable:
			bindable = append(bindable, n)
		}
	}
	for _, n := range append(append([]NIC{}, bound...), bifurcated...) {
		v.Details = append(v.Details, fmt.Sprintf("NIC %s (%s) usable by DPDK now (%s)", n.PCI, orNone(n.Driver), n.DPDK))
	}
	// mlx5 needs neither vfio nor an IOMMU; everything else goes through
	// vfio-pci (or uio, which we do not recommend).
	needVFIO := len(bound) > 0 || len(bifurcated) == 0
	if needVFIO {
		if !r.IOMMU.Enabled && !r.IOMMU.NoIOMMUMode {
			fix("IOMMU off", iommuFix(r))
			if r.cpuFlags["hypervisor"] {
				v.Details = append(v.Details, "in a VM without a virtual IOMMU: modprobe vfio enable_unsafe_noiommu_mode=1 (no DMA isolation)")
			}
		}
		if r.IOMMU.NoIOMMUMode {
			v.Details = append(v.Details, "vfio runs in unsafe no-IOMMU mode: no DMA isolation")
		}
		uioBound := false
		for _, n := range bound {
			if n.Driver != "vfio-pci" && moduleUp(r.moduleState(n.Driver)) {
				uioBound = true
			}
		}
		if st := r.moduleState("vfio_pci"); !moduleUp(st) && !uioBound {
			fix("vfio-pci not loaded", "modprobe vfio-pci")
		}
	}
	if len(bound) == 0 && len(bifurcated) == 0 {
		if len(bindable) == 0 {
			fix("no NIC with a DPDK driver found", "")
		} else {
			pick := bindable[0]
			for _, n := range bindable {
				if n.OperState != "up" {
					pick = n
					break
				}
			}
			fix("no NIC bound to a DPDK driver", "dpdk-devbind.py -b vfio-pci "+pick.PCI)
			if pick.Name != "" {
				v.Details = append(v.Details, fmt.Sprintf("binding %s takes %s away from the kernel", pick.PCI, pick.Name))
			}
		}
	}
	// A NIC should find hugepages on its own NUMA node.
	for _, n := range append(append([]NIC{}, bound...), bifurcated...) {
		for _, hp := range reserved {
			for _, nd := range hp.Nodes {
				if nd.Node == n.NUMANode && nd.Total == 0 && len(hp.Nodes) > 1 {
					fix(fmt.Sprintf("no %s hugepages on NUMA node %d of NIC %s", sizeName(hp.SizeKB), nd.Node, n.PCI),
						fmt.Sprintf("echo %d > /sys/devices/system/node/node%d/hugepages/hugepages-%dkB/nr_hugepages",
							pagesFor2GiB(hp.SizeKB), nd.Node, hp.SizeKB))
				}
			}
		}
	}
	if len(problems) == 0 {
		v.Status = StatusReady
		v.Summary = "hugepages, hugetlbfs and a NIC DPDK can drive are in place"
		return v
	}
	v.Status = StatusNotReady
	v.Summary = strings.Join(problems, ", ")
	return v
}

// pagesFor2GiB is how many pages of a size make 2 GiB, a modest DPDK pool.
func pagesFor2GiB(sizeKB int64) int64 {
	if n := (2 << 20) / sizeKB; n > 0 {
		return n
	}
	return 1
}

func sizeName(kb int64) string {
	switch {
	case kb >= 1<<20 && kb%(1<<20) == 0:
		return fmt.Sprintf("%dGiB", kb>>20)
	case kb >= 1<<10 && kb%(1<<10) == 0:
		return fmt.Sprintf("%dMiB", kb>>10)
	}
	return fmt.Sprintf("%dkB", kb)
}

// mountSize spells a page size the way hugetlbfs's pagesize= option takes it.
func mountSize(kb int64) string {
	switch {
	case kb%(1<<20) == 0:
		return fmt.Sprintf("%dG", kb>>20)
	case kb%(1<<10) == 0:
		return fmt.Sprintf("%dM", kb>>10)
	}
	return fmt.Sprintf("%dK", kb)
}
