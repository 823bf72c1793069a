// Package hwprobe owns `mosnctl hwprobe`: it reads /proc, /sys and /dev of a
// Linux host (or a captured copy of them) and reports what the host offers a
// proxy for TLS, DPDK networking and Intel QuickAssist offload, with a
// verdict naming each missing prerequisite and the command that fixes it.
//
// It only reads (never writes the host), needs no root and no cgo, and
// imports no other internal package. A file that is missing, unreadable or
// malformed makes the fields that depend on it "unknown" (or -1) and adds a
// Note; it never fails the probe.
package hwprobe

// SchemaVersion is Report.SchemaVersion. It changes only when a field is
// renamed, removed or changes meaning; added fields keep it.
const SchemaVersion = 1

// Unknown is the value of a string field whose source could not be read or
// parsed; integer fields use -1 for the same.
const Unknown = "unknown"

// Report is everything hwprobe found. Its JSON form (`mosnctl hwprobe -o
// json`) is a stable interface; field names never change within a
// SchemaVersion. Conventions: a string is "unknown" and an integer is -1 when
// its source was missing or malformed (a Note says which file and why);
// lists are sorted and never null; sizes are in kB as the kernel prints them.
//
//	{
//	  "schema_version": 1,
//	  "root": "/",                       // tree read (--root), "/" for the live host
//	  "kernel": "6.8.0-45-generic",      // /proc/sys/kernel/osrelease
//	  "cpu": {
//	    "arch": "x86_64" | "arm64" | "unknown",   // from /proc/cpuinfo's shape
//	    "vendor": "GenuineIntel",        // vendor_id, or "CPU implementer" on arm64
//	    "model": "Intel(R) Xeon(R) ...", // model name, or the arm64 part name
//	    "sockets": 2, "cores": 32, "threads": 64, // packages, physical cores, logical CPUs
//	    "features": {"aes": true, ...},  // fixed key set per arch (see FeatureNames)
//	    "numa_nodes": [{"id": 0, "cpus": "0-15,32-47", "cpu_count": 32}]
//	  },
//	  "memory": {
//	    "mem_total_kb": 263921196,       // /proc/meminfo MemTotal
//	    "default_hugepage_kb": 2048,     // /proc/meminfo Hugepagesize
//	    "hugepages": [{"size_kb": 1048576, "total": 8, "free": 8,
//	                   "nodes": [{"node": 0, "total": 4, "free": 4}]}],
//	    "hugetlbfs_mounts": [{"path": "/dev/hugepages", "pagesize": "1G"}]
//	  },
//	  "iommu": {
//	    "enabled": true,                 // /sys/kernel/iommu_groups has groups
//	    "groups": 87,
//	    "units": ["dmar0"],              // /sys/class/iommu
//	    "cmdline": ["intel_iommu=on", "iommu=pt"], // IOMMU words of /proc/cmdline
//	    "noiommu_mode": false            // vfio enable_unsafe_noiommu_mode
//	  },
//	  "modules": [{"name": "vfio_pci", "state": "loaded" | "builtin" | "absent" | "unknown"}],
//	  "nics": [{
//	    "name": "eth0",                  // "" when no kernel interface (bound to vfio-pci/uio)
//	    "pci": "0000:00:03.0",           // "" when not a PCI device
//	    "vendor": "0x8086", "device": "0x1572",
//	    "driver": "i40e",                // kernel driver of the PCI function, "" if none
//	    "netdev_driver": "i40e",         // driver of the interface's device (virtio_net under virtio-pci); "" without interface
//	    "numa_node": 0,                  // -1: no NUMA affinity or unknown
//	    "speed_mbps": 10000,             // -1: link down or unknown
//	    "operstate": "up",               // "" without interface
//	    "rx_queues": 8, "tx_queues": 8,  // -1 unknown
//	    "iommu_group": "21",             // "" when not in a group
//	    "dpdk": "bound" | "bifurcated" | "bindable" | "unsupported"
//	  }],
//	  "qat": {
//	    "devices": [{
//	      "pci": "0000:3d:00.0", "device_id": "0x37c8",
//	      "generation": "c62x",          // dh895xcc, c62x, c3xxx, 4xxx, 401xx, 402xx, 420xx
//	      "function": "PF" | "VF",
//	      "driver": "c6xx",              // "" if none
//	      "state": "up" | "down" | "bound" | "vfio" | "unbound",
//	      "numa_node": 0,
//	      "num_vfs": 16, "total_vfs": 16, // PFs; -1 unknown or VF
//	      "physfn": "0000:3d:00.0"       // VFs: their PF; "" for PFs
//	    }],
//	    "dev_nodes": ["/dev/qat_adf_ctl"], // /dev/qat_* and /dev/usdm_drv
//	    "vfio_nodes": ["/dev/vfio/vfio"]
//	  },
//	  "verdicts": [{
//	    "area": "tls" | "qat" | "dpdk",
//	    "status": "ok" | "slow" | "ready" | "not ready" | "none" | "unknown",
//	    "summary": "AES-NI + PCLMULQDQ present: Go's AES-GCM uses them",
//	    "details": ["..."],
//	    "fixes": [{"problem": "no hugepages reserved",
//	               "command": "echo 1024 > /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"}]
//	  }],
//	  "notes": [{"path": "/proc/modules", "problem": "missing"}]
//	}
type Report struct {
	SchemaVersion int       `json:"schema_version"`
	Root          string    `json:"root"`
	Kernel        string    `json:"kernel"`
	CPU           CPU       `json:"cpu"`
	Memory        Memory    `json:"memory"`
	IOMMU         IOMMU     `json:"iommu"`
	Modules       []Module  `json:"modules"`
	NICs          []NIC     `json:"nics"`
	QAT           QAT       `json:"qat"`
	Verdicts      []Verdict `json:"verdicts"`
	Notes         []Note    `json:"notes"`

	// cpuFlags is the whole flag set of the first CPU: the verdict needs
	// flags (sse4_1, ssse3, hypervisor) that the report does not list.
	cpuFlags map[string]bool
}

// CPU describes the processors.
type CPU struct {
	Arch      string          `json:"arch"`
	Vendor    string          `json:"vendor"`
	Model     string          `json:"model"`
	Sockets   int             `json:"sockets"`
	Cores     int             `json:"cores"`
	Threads   int             `json:"threads"`
	Features  map[string]bool `json:"features"`
	NUMANodes []NUMANode      `json:"numa_nodes"`
}

// NUMANode is one memory node and the CPUs local to it.
type NUMANode struct {
	ID       int    `json:"id"`
	CPUs     string `json:"cpus"`
	CPUCount int    `json:"cpu_count"`
}

// Memory is what DPDK needs from memory: hugepages and a hugetlbfs mount.
type Memory struct {
	MemTotalKB        int64            `json:"mem_total_kb"`
	DefaultHugepageKB int64            `json:"default_hugepage_kb"`
	Hugepages         []HugepagePool   `json:"hugepages"`
	HugetlbfsMounts   []HugetlbfsMount `json:"hugetlbfs_mounts"`
}

// HugepagePool is one hugepage size, host-wide and per NUMA node.
type HugepagePool struct {
	SizeKB int64           `json:"size_kb"`
	Total  int64           `json:"total"`
	Free   int64           `json:"free"`
	Nodes  []NodeHugepages `json:"nodes"`
}

// NodeHugepages is one NUMA node's share of a HugepagePool.
type NodeHugepages struct {
	Node  int   `json:"node"`
	Total int64 `json:"total"`
	Free  int64 `json:"free"`
}

// HugetlbfsMount is a mounted hugetlbfs.
type HugetlbfsMount struct {
	Path     string `json:"path"`
	PageSize string `json:"pagesize"` // the pagesize= option, "default" when absent
}

// IOMMU says whether devices can be handed to user space safely (vfio).
type IOMMU struct {
	Enabled     bool     `json:"enabled"`
	Groups      int      `json:"groups"`
	Units       []string `json:"units"`
	Cmdline     []string `json:"cmdline"`
	NoIOMMUMode bool     `json:"noiommu_mode"`
}

// Module states.
const (
	ModLoaded  = "loaded"
	ModBuiltin = "builtin"
	ModAbsent  = "absent"
)

// Module is a kernel module that DPDK or QAT depends on.
type Module struct {
	Name  string `json:"name"`
	State string `json:"state"`
}

// DPDK states of a NIC.
const (
	DPDKBound       = "bound"       // on vfio-pci, uio_pci_generic or igb_uio now
	DPDKBifurcated  = "bifurcated"  // kernel driver that DPDK shares (mlx5)
	DPDKBindable    = "bindable"    // DPDK has a driver; bind it to vfio-pci first
	DPDKUnsupported = "unsupported" // no DPDK driver known for this kernel driver
)

// NIC is a network interface or a network-class PCI function.
type NIC struct {
	Name         string `json:"name"`
	PCI          string `json:"pci"`
	Vendor       string `json:"vendor"`
	Device       string `json:"device"`
	Driver       string `json:"driver"`
	NetdevDriver string `json:"netdev_driver"`
	NUMANode     int    `json:"numa_node"`
	SpeedMbps    int    `json:"speed_mbps"`
	OperState    string `json:"operstate"`
	RxQueues     int    `json:"rx_queues"`
	TxQueues     int    `json:"tx_queues"`
	IOMMUGroup   string `json:"iommu_group"`
	DPDK         string `json:"dpdk"`
}

// QAT lists Intel QuickAssist functions and the device nodes user space uses.
type QAT struct {
	Devices   []QATDevice `json:"devices"`
	DevNodes  []string    `json:"dev_nodes"`
	VFIONodes []string    `json:"vfio_nodes"`
}

// QATDevice is one QuickAssist PCI function.
type QATDevice struct {
	PCI        string `json:"pci"`
	DeviceID   string `json:"device_id"`
	Generation string `json:"generation"`
	Function   string `json:"function"`
	Driver     string `json:"driver"`
	State      string `json:"state"`
	NUMANode   int    `json:"numa_node"`
	NumVFs     int    `json:"num_vfs"`
	TotalVFs   int    `json:"total_vfs"`
	PhysFn     string `json:"physfn"`
}

// Verdict areas and statuses.
const (
	AreaTLS  = "tls"
	AreaQAT  = "qat"
	AreaDPDK = "dpdk"

	StatusOK       = "ok"
	StatusSlow     = "slow"
	StatusReady    = "ready"
	StatusNotReady = "not ready"
	StatusNone     = "none"
	StatusUnknown  = "unknown"
)

// Verdict is the conclusion for one area.
type Verdict struct {
	Area    string   `json:"area"`
	Status  string   `json:"status"`
	Summary string   `json:"summary"`
	Details []string `json:"details"`
	Fixes   []Fix    `json:"fixes"`
}

// Fix names a missing prerequisite and the command that supplies it.
type Fix struct {
	Problem string `json:"problem"`
	Command string `json:"command"`
}

// Note records a file that could not be used and why.
type Note struct {
	Path    string `json:"path"`
	Problem string `json:"problem"`
}
