package hwprobe

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"sort"
	"strconv"
	"strings"
	"syscall"
)

// Options say where to read from and whether to keep a copy.
type Options struct {
	// Root is the directory standing for "/" ("" or "/" for the live host).
	Root string
	// Capture, when set, is a directory that receives a copy of every file,
	// directory and symlink read, in the same layout, so that Probe with
	// Root set to it gives the same report.
	Capture string
}

// prober carries one probe's reader and the notes it collects.
type prober struct {
	t     *tree
	notes map[Note]bool
}

// Probe reads the tree and builds the report. It fails only when the root
// cannot be used or the capture cannot be written; anything wrong inside the
// tree becomes a Note.
func Probe(ctx context.Context, opts Options) (*Report, error) {
	root := opts.Root
	if root == "" {
		root = "/"
	}
	fi, err := os.Stat(root)
	if err != nil {
		return nil, fmt.Errorf("hwprobe: root: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("hwprobe: root %s: not a directory", root)
	}
	if opts.Capture != "" {
		if err := os.MkdirAll(opts.Capture, 0o755); err != nil {
			return nil, fmt.Errorf("hwprobe: capture: %w", err)
		}
	}
	p := &prober{t: &tree{root: root, capture: opts.Capture}, notes: map[Note]bool{}}
	p.t.loadFailures()
	r := &Report{SchemaVersion: SchemaVersion, Root: root}
	r.Kernel = p.str("/proc/sys/kernel/osrelease", false)
	if r.Kernel == "" {
		r.Kernel = Unknown
	}
	steps := []func(*Report){
		p.probeCPU, p.probeMemory, p.probeIOMMU, p.probeModules, p.probeDevices,
	}
	for _, step := range steps {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		step(r)
	}
	r.Verdicts = verdicts(r)
	r.Notes = make([]Note, 0, len(p.notes))
	for n := range p.notes {
		r.Notes = append(r.Notes, n)
	}
	sort.Slice(r.Notes, func(i, j int) bool {
		if r.Notes[i].Path != r.Notes[j].Path {
			return r.Notes[i].Path < r.Notes[j].Path
		}
		return r.Notes[i].Problem < r.Notes[j].Problem
	})
	p.t.saveFailures()
	if p.t.captureErr != nil {
		return r, fmt.Errorf("hwprobe: capture: %w", p.t.captureErr)
	}
	return r, nil
}

func (p *prober) note(path, problem string) { p.notes[Note{Path: path, Problem: problem}] = true }

// str reads a one-value sysfs/procfs file. A missing optional file is
// silent: its absence is an answer (no driver, no VFs). Everything else
// that goes wrong is noted.
func (p *prober) str(file string, optional bool) string {
	b, err := p.t.readFile(file)
	if err != nil {
		if !(optional && errors.Is(err, fs.ErrNotExist)) {
			p.note(file, problem(err))
		}
		return ""
	}
	return strings.TrimSpace(string(b))
}

// num reads an integer file; -1 when missing or malformed.
func (p *prober) num(file string, optional bool) int64 {
	b, err := p.t.readFile(file)
	if err != nil {
		if !(optional && errors.Is(err, fs.ErrNotExist)) {
			p.note(file, problem(err))
		}
		return -1
	}
	s := strings.TrimSpace(string(b))
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		p.note(file, "malformed: "+quoteShort(s))
		return -1
	}
	return v
}

// link returns the last element of what file links to ("vfio-pci" for a
// driver link); "" when it does not exist.
func (p *prober) link(file string) string {
	base, err := p.t.linkBase(file)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			p.note(file, problem(err))
		}
		return ""
	}
	return base
}

// list lists a directory; a missing optional directory is silent.
func (p *prober) list(dir string, optional bool, keep func(string) bool) []string {
	names, err := p.t.listDir(dir, keep)
	if err != nil {
		if !(optional && errors.Is(err, fs.ErrNotExist)) {
			p.note(dir, problem(err))
		}
		return nil
	}
	return names
}

func quoteShort(s string) string {
	if len(s) > 40 {
		s = s[:40] + "..."
	}
	return strconv.Quote(s)
}

var (
	x86FeatureNames   = []string{"aes", "pclmulqdq", "avx2", "avx512f", "vaes", "vpclmulqdq", "sha_ni"}
	arm64FeatureNames = []string{"aes", "pmull", "sha2", "asimd", "sve"}
)

// FeatureNames returns the CPU feature keys reported for an arch: the ones
// that decide TLS record crypto and vectorised packet work.
func FeatureNames(arch string) []string {
	switch arch {
	case "x86_64":
		return x86FeatureNames
	case "arm64":
		return arm64FeatureNames
	}
	return nil
}

func (p *prober) probeCPU(r *Report) {
	c := CPU{Arch: Unknown, Vendor: Unknown, Model: Unknown, Sockets: -1, Cores: -1, Threads: -1,
		Features: map[string]bool{}, NUMANodes: []NUMANode{}}
	var ci cpuInfo
	if b, err := p.t.readFile("/proc/cpuinfo"); err != nil {
		p.note("/proc/cpuinfo", problem(err))
	} else if ci, err = parseCPUInfo(b); err != nil {
		p.note("/proc/cpuinfo", "malformed: "+err.Error())
	} else if ci.arch == "" {
		p.note("/proc/cpuinfo", "malformed: no flags or Features line")
	}
	if ci.arch != "" {
		c.Arch = ci.arch
	}
	switch c.Arch {
	case "x86_64":
		if ci.vendor != "" {
			c.Vendor = ci.vendor
		}
		if ci.model != "" {
			c.Model = ci.model
		}
	case "arm64":
		if ci.implementer != "" {
			c.Vendor = armImplementer(ci.implementer)
			c.Model = armPart(ci.implementer, ci.part)
		}
		if ci.model != "" { // some arm64 kernels print one
			c.Model = ci.model
		}
	}
	for _, f := range FeatureNames(c.Arch) {
		c.Features[f] = ci.flags[f]
	}
	r.cpuFlags = ci.flags

	// Topology from sysfs works on both arches (arm64 cpuinfo has no
	// physical id); cpuinfo is the fallback for x86 without it.
	online := p.str("/sys/devices/system/cpu/online", false)
	cpus, err := parseCPUList(online)
	if online != "" && err != nil {
		p.note("/sys/devices/system/cpu/online", "malformed: "+quoteShort(online))
	}
	if len(cpus) > 0 {
		c.Threads = len(cpus)
	} else if ci.processors > 0 {
		c.Threads = ci.processors
	}
	packages, cores := map[int64]bool{}, map[[2]int64]bool{}
	topoOK := len(cpus) > 0
	for _, n := range cpus {
		dir := fmt.Sprintf("/sys/devices/system/cpu/cpu%d/topology/", n)
		pkg := p.num(dir+"physical_package_id", false)
		core := p.num(dir+"core_id", false)
		if pkg < -1 || core < 0 {
			topoOK = false
			break
		}
		packages[pkg] = true
		cores[[2]int64{pkg, core}] = true
	}
	switch {
	case topoOK:
		c.Sockets, c.Cores = len(packages), len(cores)
	case len(ci.packages) > 0 && len(ci.cores) > 0:
		c.Sockets, c.Cores = len(ci.packages), len(ci.cores)
	}

	nodes := p.list("/sys/devices/system/node", false, isNodeDir)
	for _, name := range nodes {
		id, _ := strconv.Atoi(strings.TrimPrefix(name, "node"))
		file := "/sys/devices/system/node/" + name + "/cpulist"
		n := NUMANode{ID: id, CPUs: Unknown, CPUCount: -1}
		s := p.str(file, false)
		if list, err := parseCPUList(s); err != nil {
			p.note(file, "malformed: "+quoteShort(s))
		} else if s != "" || p.t.exists(file) {
			n.CPUs, n.CPUCount = s, len(list)
		}
		c.NUMANodes = append(c.NUMANodes, n)
	}
	sort.Slice(c.NUMANodes, func(i, j int) bool { return c.NUMANodes[i].ID < c.NUMANodes[j].ID })
	r.CPU = c
}

func isNodeDir(name string) bool {
	s, ok := strings.CutPrefix(name, "node")
	if !ok || s == "" {
		return false
	}
	_, err := strconv.Atoi(s)
	return err == nil
}

func (p *prober) probeMemory(r *Report) {
	m := Memory{MemTotalKB: -1, DefaultHugepageKB: -1, Hugepages: []HugepagePool{}, HugetlbfsMounts: []HugetlbfsMount{}}
	if b, err := p.t.readFile("/proc/meminfo"); err != nil {
		p.note("/proc/meminfo", problem(err))
	} else {
		mi := parseMeminfo(b)
		if v, ok := mi["MemTotal"]; ok {
			m.MemTotalKB = v
		} else {
			p.note("/proc/meminfo", "malformed: no MemTotal")
		}
		if v, ok := mi["Hugepagesize"]; ok {
			m.DefaultHugepageKB = v
		}
	}
	const hp = "/sys/kernel/mm/hugepages"
	for _, dir := range p.list(hp, true, func(n string) bool { _, ok := parseHugepageDir(n); return ok }) {
		size, _ := parseHugepageDir(dir)
		pool := HugepagePool{SizeKB: size, Nodes: []NodeHugepages{},
			Total: p.num(hp+"/"+dir+"/nr_hugepages", false),
			Free:  p.num(hp+"/"+dir+"/free_hugepages", false)}
		for _, n := range r.CPU.NUMANodes {
			nd := fmt.Sprintf("/sys/devices/system/node/node%d/hugepages/%s/", n.ID, dir)
			if !p.t.exists(nd) {
				continue
			}
			pool.Nodes = append(pool.Nodes, NodeHugepages{Node: n.ID,
				Total: p.num(nd+"nr_hugepages", false), Free: p.num(nd+"free_hugepages", false)})
		}
		m.Hugepages = append(m.Hugepages, pool)
	}
	sort.Slice(m.Hugepages, func(i, j int) bool { return m.Hugepages[i].SizeKB < m.Hugepages[j].SizeKB })

	if b, err := p.t.readFile("/proc/mounts"); err != nil {
		p.note("/proc/mounts", problem(err))
	} else {
		mounts, bad := parseMounts(b)
		switch {
		case bad > 0:
			p.note("/proc/mounts", fmt.Sprintf("malformed: %d bad lines", bad))
		case len(mounts) == 0: // "/" is always mounted
			p.note("/proc/mounts", "malformed: no mounts")
		}
		for _, mt := range mounts {
			if mt.fstype != "hugetlbfs" {
				continue
			}
			size, ok := mountOption(mt.options, "pagesize")
			if !ok {
				size = "default"
			}
			m.HugetlbfsMounts = append(m.HugetlbfsMounts, HugetlbfsMount{Path: mt.path, PageSize: size})
		}
	}
	sort.Slice(m.HugetlbfsMounts, func(i, j int) bool { return m.HugetlbfsMounts[i].Path < m.HugetlbfsMounts[j].Path })
	r.Memory = m
}

func (p *prober) probeIOMMU(r *Report) {
	io := IOMMU{Units: []string{}, Cmdline: []string{}}
	// No iommu_groups directory is itself the answer (IOMMU support not
	// built in), so it is optional.
	groups := p.list("/sys/kernel/iommu_groups", true, func(n string) bool { _, err := strconv.Atoi(n); return err == nil })
	io.Groups = len(groups)
	io.Enabled = io.Groups > 0
	io.Units = append(io.Units, p.list("/sys/class/iommu", true, nil)...)
	cmdline := p.str("/proc/cmdline", false)
	for w := range strings.FieldsSeq(cmdline) {
		if strings.Contains(strings.SplitN(w, "=", 2)[0], "iommu") {
			io.Cmdline = append(io.Cmdline, w)
		}
	}
	io.NoIOMMUMode = p.str("/sys/module/vfio/parameters/enable_unsafe_noiommu_mode", true) == "Y"
	r.IOMMU = io
}

// moduleNames are the kernel modules DPDK and QAT depend on.
var moduleNames = []string{
	"vfio", "vfio_pci", "vfio_iommu_type1", "uio", "uio_pci_generic", "igb_uio",
	"intel_qat", "qat_dh895xcc", "qat_dh895xccvf", "qat_c62x", "qat_c62xvf",
	"qat_c3xxx", "qat_c3xxxvf", "qat_4xxx", "qat_420xx", "qat_vfio_pci",
}

func (p *prober) probeModules(r *Report) {
	var loaded map[string]bool
	if b, err := p.t.readFile("/proc/modules"); err != nil {
		// Kernels built without module support have no /proc/modules;
		// /sys/module still tells loaded from built-in below.
		p.note("/proc/modules", problem(err))
	} else {
		var bad int
		loaded, bad = parseModules(b)
		if bad > 0 {
			p.note("/proc/modules", fmt.Sprintf("malformed: %d bad lines", bad))
		}
	}
	sysModule := p.t.exists("/sys/module")
	r.Modules = make([]Module, 0, len(moduleNames))
	for _, name := range moduleNames {
		state := Unknown
		switch {
		case loaded[name]:
			state = ModLoaded
		case sysModule && p.t.exists("/sys/module/"+name):
			// Loadable modules have an initstate; built-in ones that show
			// up here (because they have parameters) do not.
			state = ModBuiltin
			if p.t.exists("/sys/module/" + name + "/initstate") {
				state = ModLoaded
			}
		case loaded != nil || sysModule:
			state = ModAbsent
		}
		r.Modules = append(r.Modules, Module{Name: name, State: state})
	}
}

// pciDev is what the PCI scan keeps about one function.
type pciDev struct {
	addr, vendor, device, class string
}

func (d pciDev) isNetwork() bool { return strings.HasPrefix(d.class, "0x02") }

func (p *prober) probeDevices(r *Report) {
	const bus = "/sys/bus/pci/devices/"
	devs := map[string]pciDev{}
	for _, addr := range p.list(bus, false, isPCIAddr) {
		d := pciDev{addr: addr}
		var ok bool
		v := p.str(bus+addr+"/vendor", false)
		if d.vendor, ok = parseHexID(v); !ok && v != "" {
			p.note(bus+addr+"/vendor", "malformed: "+quoteShort(v))
		}
		v = p.str(bus+addr+"/device", false)
		if d.device, ok = parseHexID(v); !ok && v != "" {
			p.note(bus+addr+"/device", "malformed: "+quoteShort(v))
		}
		v = p.str(bus+addr+"/class", false)
		if d.class, ok = parseHexID(v); !ok && v != "" {
			p.note(bus+addr+"/class", "malformed: "+quoteShort(v))
		}
		devs[addr] = d
	}
	r.NICs = p.nics(devs)
	r.QAT = p.qat(devs)
}

func (p *prober) numaNode(file string) int {
	v := p.num(file, true)
	if v < -1 || v > 1<<16 {
		p.note(file, "malformed: "+strconv.FormatInt(v, 10))
		return -1
	}
	return int(v)
}

func (p *prober) nics(devs map[string]pciDev) []NIC {
	nics := []NIC{}
	seen := map[string]bool{}
	for _, name := range p.list("/sys/class/net", false, nil) {
		dir := "/sys/class/net/" + name + "/"
		phys, err := p.t.resolve(dir + "device")
		if errors.Is(err, fs.ErrNotExist) {
			continue // virtual: lo, bridges, veth, tunnels
		}
		if err != nil {
			p.note(dir+"device", problem(err))
			continue
		}
		n := NIC{Name: name, Vendor: Unknown, Device: Unknown, NUMANode: -1, SpeedMbps: -1, RxQueues: -1, TxQueues: -1}
		n.PCI = pciAncestor(phys)
		n.NetdevDriver = p.link(dir + "device/driver")
		n.OperState = p.str(dir+"operstate", true)
		if n.OperState == "" {
			n.OperState = Unknown
		}
		// Reading speed fails with EINVAL while the link is down; that is a
		// state, not a broken file.
		if b, err := p.t.readFile(dir + "speed"); err == nil {
			s := strings.TrimSpace(string(b))
			if v, err := strconv.Atoi(s); err != nil {
				p.note(dir+"speed", "malformed: "+quoteShort(s))
			} else if v > 0 {
				n.SpeedMbps = v
			}
		} else if !errors.Is(err, syscall.EINVAL) && !errors.Is(err, fs.ErrNotExist) {
			p.note(dir+"speed", problem(err))
		}
		if qs := p.list(dir+"queues", false, nil); qs != nil {
			n.RxQueues, n.TxQueues = 0, 0
			for _, q := range qs {
				switch {
				case strings.HasPrefix(q, "rx-"):
					n.RxQueues++
				case strings.HasPrefix(q, "tx-"):
					n.TxQueues++
				}
			}
		}
		if d, ok := devs[n.PCI]; ok && n.PCI != "" {
			p.fillPCI(&n, d)
			seen[n.PCI] = true
		} else {
			n.Driver = n.NetdevDriver
			n.NUMANode = p.numaNode(dir + "device/numa_node")
			n.DPDK = dpdkState(n.Driver)
		}
		nics = append(nics, n)
	}
	// Functions bound to vfio-pci or uio, or to no driver, have no
	// interface: only the PCI scan sees them.
	for addr, d := range devs {
		if seen[addr] || !d.isNetwork() {
			continue
		}
		n := NIC{PCI: addr, SpeedMbps: -1, RxQueues: -1, TxQueues: -1}
		p.fillPCI(&n, d)
		nics = append(nics, n)
	}
	sort.Slice(nics, func(i, j int) bool {
		if nics[i].PCI != nics[j].PCI {
			return nics[i].PCI < nics[j].PCI
		}
		return nics[i].Name < nics[j].Name
	})
	return nics
}

func (p *prober) fillPCI(n *NIC, d pciDev) {
	dir := "/sys/bus/pci/devices/" + d.addr + "/"
	n.Vendor, n.Device = orUnknown(d.vendor), orUnknown(d.device)
	n.Driver = p.link(dir + "driver")
	n.NUMANode = p.numaNode(dir + "numa_node")
	n.IOMMUGroup = p.link(dir + "iommu_group")
	n.DPDK = dpdkState(n.Driver)
	if n.DPDK == DPDKUnsupported && n.Driver == "" && d.isNetwork() {
		// An Ethernet function with no driver at all can be bound.
		n.DPDK = DPDKBindable
	}
}

func orUnknown(s string) string {
	if s == "" {
		return Unknown
	}
	return s
}

// pciAncestor returns the deepest PCI function address on a physical sysfs
// path: the device itself for most NICs, the parent of virtio2 for
// virtio-net.
func pciAncestor(phys string) string {
	best := ""
	for _, comp := range strings.Split(phys, "/") {
		if isPCIAddr(comp) {
			best = comp
		}
	}
	return best
}

// DPDK-relevant kernel drivers. Bound: DPDK owns the function now.
// Bifurcated: DPDK's mlx drivers share the function with the kernel.
// Bindable: DPDK has a poll-mode driver for hardware that this kernel
// driver runs; the function must be moved to vfio-pci first.
var (
	dpdkBoundDrivers      = map[string]bool{"vfio-pci": true, "uio_pci_generic": true, "igb_uio": true}
	dpdkBifurcatedDrivers = map[string]bool{"mlx5_core": true, "mlx4_core": true}
	dpdkBindableDrivers   = map[string]bool{
		"e1000": true, "e1000e": true, "igb": true, "igbvf": true, "igc": true,
		"ixgbe": true, "ixgbevf": true, "i40e": true, "iavf": true, "ice": true,
		"virtio-pci": true, "virtio_net": true, "vmxnet3": true, "ena": true, "gve": true,
		"bnxt_en": true, "qede": true, "enic": true, "hns3": true, "atlantic": true,
		"nfp": true, "cxgb4": true, "sfc": true, "txgbe": true, "ngbe": true,
	}
)

func dpdkState(driver string) string {
	switch {
	case dpdkBoundDrivers[driver]:
		return DPDKBound
	case dpdkBifurcatedDrivers[driver]:
		return DPDKBifurcated
	case dpdkBindableDrivers[driver]:
		return DPDKBindable
	}
	return DPDKUnsupported
}

// qatID describes one QuickAssist PCI device id (vendor 0x8086), as the
// Linux qat driver headers define them.
type qatID struct {
	generation string
	vf         bool
	module     string // kernel module that drives it
}

var qatIDs = map[string]qatID{
	"0x0435": {"dh895xcc", false, "qat_dh895xcc"},
	"0x0443": {"dh895xcc", true, "qat_dh895xccvf"},
	"0x37c8": {"c62x", false, "qat_c62x"},
	"0x37c9": {"c62x", true, "qat_c62xvf"},
	"0x19e2": {"c3xxx", false, "qat_c3xxx"},
	"0x19e3": {"c3xxx", true, "qat_c3xxxvf"},
	"0x4940": {"4xxx", false, "qat_4xxx"},
	"0x4941": {"4xxx", true, "vfio-pci"},
	"0x4942": {"401xx", false, "qat_4xxx"},
	"0x4943": {"401xx", true, "vfio-pci"},
	"0x4944": {"402xx", false, "qat_4xxx"},
	"0x4945": {"402xx", true, "vfio-pci"},
	"0x4946": {"420xx", false, "qat_420xx"},
	"0x4947": {"420xx", true, "vfio-pci"},
}

func (p *prober) qat(devs map[string]pciDev) QAT {
	q := QAT{Devices: []QATDevice{}, DevNodes: []string{}, VFIONodes: []string{}}
	for addr, d := range devs {
		id, ok := qatIDs[d.device]
		if d.vendor != "0x8086" || !ok {
			continue
		}
		dir := "/sys/bus/pci/devices/" + addr + "/"
		qd := QATDevice{PCI: addr, DeviceID: d.device, Generation: id.generation, Function: "PF",
			NumVFs: -1, TotalVFs: -1}
		if id.vf {
			qd.Function = "VF"
			qd.PhysFn = p.link(dir + "physfn")
		} else {
			qd.NumVFs = int(p.num(dir+"sriov_numvfs", true))
			qd.TotalVFs = int(p.num(dir+"sriov_totalvfs", true))
		}
		qd.Driver = p.link(dir + "driver")
		qd.NUMANode = p.numaNode(dir + "numa_node")
		// Newer kernels expose qat/state (up/down) on PFs; elsewhere the
		// binding is the best state there is.
		qd.State = p.str(dir+"qat/state", true)
		if qd.State == "" {
			switch qd.Driver {
			case "":
				qd.State = "unbound"
			case "vfio-pci", "qat_vfio_pci":
				qd.State = "vfio"
			default:
				qd.State = "bound"
			}
		}
		q.Devices = append(q.Devices, qd)
	}
	sort.Slice(q.Devices, func(i, j int) bool { return q.Devices[i].PCI < q.Devices[j].PCI })
	for _, n := range p.list("/dev", false, func(n string) bool { return strings.HasPrefix(n, "qat_") || n == "usdm_drv" }) {
		q.DevNodes = append(q.DevNodes, path.Join("/dev", n))
	}
	for _, n := range p.list("/dev/vfio", true, nil) {
		q.VFIONodes = append(q.VFIONodes, path.Join("/dev/vfio", n))
	}
	return q
}

// armImplementer names the arm64 "CPU implementer" codes seen on servers.
func armImplementer(code string) string {
	switch strings.ToLower(code) {
	case "0x41":
		return "ARM"
	case "0x42":
		return "Broadcom"
	case "0x43":
		return "Cavium"
	case "0x46":
		return "Fujitsu"
	case "0x48":
		return "HiSilicon"
	case "0x4e":
		return "NVIDIA"
	case "0x50":
		return "APM"
	case "0x51":
		return "Qualcomm"
	case "0x61":
		return "Apple"
	case "0x6d":
		return "Microsoft"
	case "0xc0":
		return "Ampere"
	}
	return code
}

// armPart names the server cores an operator is likely to meet; others are
// shown by their codes.
func armPart(impl, part string) string {
	names := map[string]string{
		"0x41/0xd08": "Cortex-A72", "0x41/0xd0b": "Cortex-A76", "0x41/0xd0c": "Neoverse-N1",
		"0x41/0xd40": "Neoverse-V1", "0x41/0xd49": "Neoverse-N2", "0x41/0xd4f": "Neoverse-V2",
		"0x41/0xd8e": "Neoverse-N3", "0x48/0xd01": "Kunpeng-920", "0xc0/0xac3": "Ampere-1",
		"0xc0/0xac4": "Ampere-1a", "0x43/0x0af": "ThunderX2",
	}
	key := strings.ToLower(impl + "/" + part)
	if n, ok := names[key]; ok {
		return n
	}
	if part == "" {
		return Unknown
	}
	return "part " + part
}
