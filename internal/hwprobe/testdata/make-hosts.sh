#!/usr/bin/env bash
# Builds the fixture host trees in testdata/hosts/ from the real layout of
# /proc, /sys and /dev: the same files, the same symlinks (relative, as sysfs
# makes them), device nodes as empty files (hwprobe only lists /dev).
# Run from internal/hwprobe: bash testdata/make-hosts.sh
# Then regenerate the golden files: go test ./internal/hwprobe -run Golden -update
set -euo pipefail
cd "$(dirname "$0")"
rm -rf hosts
mkdir -p hosts

H="" # current host root

w() { # w PATH CONTENT...  write a file (one line per argument)
	mkdir -p "$H$(dirname "$1")"
	local f="$H$1"
	shift
	printf '%s\n' "$@" >"$f"
}
touchf() { mkdir -p "$H$(dirname "$1")"; : >"$H$1"; }
lnk() { # lnk LINK TARGET  (both absolute in the host); makes a relative link
	mkdir -p "$H$(dirname "$1")" "$H$2"
	ln -sfn "$(realpath -m --relative-to="$H$(dirname "$1")" "$H$2")" "$H$1"
}
lnkfile() { # like lnk for a target that is a file or not a directory
	mkdir -p "$H$(dirname "$1")" "$H$(dirname "$2")"
	ln -sfn "$(realpath -m --relative-to="$H$(dirname "$1")" "$H$2")" "$H$1"
}

# pci PHYSDIR VENDOR DEVICE CLASS NUMA DRIVER GROUP
pci() {
	local dir=$1 addr
	addr=$(basename "$dir")
	w "$dir/vendor" "$2"
	w "$dir/device" "$3"
	w "$dir/class" "$4"
	w "$dir/numa_node" "$5"
	w "$dir/subsystem_vendor" "$2"
	lnk "/sys/bus/pci/devices/$addr" "$dir"
	if [ -n "$6" ]; then
		lnk "$dir/driver" "/sys/bus/pci/drivers/$6"
		lnk "/sys/bus/pci/drivers/$6/$addr" "$dir"
	fi
	if [ -n "$7" ]; then
		lnk "$dir/iommu_group" "/sys/kernel/iommu_groups/$7"
		lnk "/sys/kernel/iommu_groups/$7/devices/$addr" "$dir"
	fi
}

# netdev NAME DEVDIR SPEED OPERSTATE QUEUES [NETDEV_DRIVER_DIR]
# DEVDIR is the device the interface hangs off (a PCI function, or virtioN).
netdev() {
	local name=$1 dev=$2 nd="$2/net/$1"
	lnk "/sys/class/net/$name" "$nd"
	lnk "$nd/device" "$dev"
	w "$nd/speed" "$3"
	w "$nd/operstate" "$4"
	w "$nd/mtu" 1500
	w "$nd/type" 1
	for ((i = 0; i < $5; i++)); do
		mkdir -p "$H$nd/queues/rx-$i" "$H$nd/queues/tx-$i"
		w "$nd/queues/rx-$i/rps_cpus" 0
		w "$nd/queues/tx-$i/xps_cpus" 0
	done
}

virtual_netdev() {
	lnk "/sys/class/net/$1" "/sys/devices/virtual/net/$1"
	w "/sys/devices/virtual/net/$1/operstate" "$2"
	w "/sys/devices/virtual/net/$1/type" 772
}

# cpus N PKG_OF_CPU... : topology for N cpus; args are "pkg:core" per cpu
topology() {
	local n=0
	for pc in "$@"; do
		w "/sys/devices/system/cpu/cpu$n/topology/physical_package_id" "${pc%%:*}"
		w "/sys/devices/system/cpu/cpu$n/topology/core_id" "${pc##*:}"
		n=$((n + 1))
	done
	w /sys/devices/system/cpu/online "0-$((n - 1))"
	w /sys/devices/system/cpu/possible "0-$((n - 1))"
}

hugepages() { # hugepages SIZEKB TOTAL FREE
	w "/sys/kernel/mm/hugepages/hugepages-$1kB/nr_hugepages" "$2"
	w "/sys/kernel/mm/hugepages/hugepages-$1kB/free_hugepages" "$3"
	w "/sys/kernel/mm/hugepages/hugepages-$1kB/resv_hugepages" 0
	w "/sys/kernel/mm/hugepages/hugepages-$1kB/surplus_hugepages" 0
}
node_hugepages() { # node_hugepages NODE SIZEKB TOTAL FREE
	w "/sys/devices/system/node/node$1/hugepages/hugepages-$2kB/nr_hugepages" "$3"
	w "/sys/devices/system/node/node$1/hugepages/hugepages-$2kB/free_hugepages" "$4"
	w "/sys/devices/system/node/node$1/hugepages/hugepages-$2kB/surplus_hugepages" 0
}

meminfo() { # meminfo TOTALKB HP_TOTAL HP_FREE HPSIZEKB
	w /proc/meminfo \
		"MemTotal:       $1 kB" \
		"MemFree:        $(($1 / 2)) kB" \
		"MemAvailable:   $(($1 * 3 / 4)) kB" \
		"Buffers:          102400 kB" \
		"Cached:          2048000 kB" \
		"SwapTotal:             0 kB" \
		"SwapFree:              0 kB" \
		"AnonHugePages:         0 kB" \
		"HugePages_Total:    $2" \
		"HugePages_Free:     $3" \
		"HugePages_Rsvd:        0" \
		"HugePages_Surp:        0" \
		"Hugepagesize:       $4 kB" \
		"Hugetlb:        $(($2 * $4)) kB" \
		"DirectMap4k:      398304 kB"
}

modules() { # modules NAME... -> /proc/modules and /sys/module/NAME/initstate
	local m
	: >"$H/proc/modules.tmp"
	for m in "$@"; do
		printf '%s 16384 0 - Live 0x0000000000000000\n' "$m" >>"$H/proc/modules.tmp"
		w "/sys/module/$m/initstate" live
	done
	mv "$H/proc/modules.tmp" "$H/proc/modules"
}

x86_cpuinfo() { # x86_cpuinfo MODEL FAMILY MODELNO FLAGS "pkg:core"...
	local model=$1 fam=$2 mno=$3 flags=$4 n=0 f="$H/proc/cpuinfo"
	shift 4
	local cores_per_pkg
	cores_per_pkg=$(printf '%s\n' "$@" | sort -u | wc -l)
	mkdir -p "$H/proc"
	: >"$f"
	for pc in "$@"; do
		cat >>"$f" <<-EOF
			processor	: $n
			vendor_id	: GenuineIntel
			cpu family	: $fam
			model		: $mno
			model name	: $model
			stepping	: 6
			microcode	: 0xd0003a5
			cpu MHz		: 2000.000
			cache size	: 49152 KB
			physical id	: ${pc%%:*}
			siblings	: $#
			core id		: ${pc##*:}
			cpu cores	: $cores_per_pkg
			apicid		: $n
			initial apicid	: $n
			fpu		: yes
			fpu_exception	: yes
			cpuid level	: 27
			wp		: yes
			flags		: $flags
			bugs		: spectre_v1 spectre_v2 spec_store_bypass swapgs
			bogomips	: 4000.00
			clflush size	: 64
			cache_alignment	: 64
			address sizes	: 46 bits physical, 57 bits virtual
			power management:

		EOF
		n=$((n + 1))
	done
}

base_proc() { # base_proc OSRELEASE CMDLINE
	w /proc/sys/kernel/osrelease "$1"
	w /proc/cmdline "$2"
	w /sys/module/kernel/parameters/panic 0
	for d in null zero random urandom tty tty0 console; do touchf "/dev/$d"; done
}

MOUNTS_BASE='sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
proc /proc proc rw,nosuid,nodev,noexec,relatime 0 0
udev /dev devtmpfs rw,nosuid,relatime,size=8123456k,nr_inodes=2030864,mode=755,inode64 0 0
/dev/sda1 / ext4 rw,relatime,discard,errors=remount-ro 0 0
tmpfs /run tmpfs rw,nosuid,nodev,noexec,relatime,size=1630000k,mode=755,inode64 0 0'

#
# bare-vm: a small cloud VM (KVM, Cascade Lake vCPUs, virtio-net, no IOMMU,
# no hugepages, nothing for DPDK or QAT).
#
H=hosts/bare-vm
base_proc "6.8.0-1015-gcp" "BOOT_IMAGE=/boot/vmlinuz-6.8.0-1015-gcp root=PARTUUID=3c1c5f1e-01 ro console=ttyS0,38400n8"
x86_cpuinfo "Intel(R) Xeon(R) CPU @ 2.80GHz" 6 85 \
	"fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush mmx fxsr sse sse2 ss ht syscall nx pdpe1gb rdtscp lm constant_tsc rep_good nopl xtopology nonstop_tsc cpuid tsc_known_freq pni pclmulqdq ssse3 fma cx16 pcid sse4_1 sse4_2 x2apic movbe popcnt aes xsave avx f16c rdrand hypervisor lahf_lm abm 3dnowprefetch invpcid_single ssbd ibrs ibpb stibp ibrs_enhanced fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid rtm mpx avx512f avx512dq rdseed adx smap clflushopt clwb avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves arat avx512_vnni md_clear arch_capabilities" \
	0:0 0:0 0:1 0:1
topology 0:0 0:0 0:1 0:1
w /sys/devices/system/node/online 0
w /sys/devices/system/node/node0/cpulist 0-3
hugepages 2048 0 0
hugepages 1048576 0 0
node_hugepages 0 2048 0 0
node_hugepages 0 1048576 0 0
meminfo 16393492 0 0 2048
w /proc/mounts "$MOUNTS_BASE"
modules virtio_net net_failover failover virtio_pci virtio_scsi nls_iso8859_1 sch_fq_codel
pci /sys/devices/pci0000:00/0000:00:00.0 0x8086 0x1237 0x060000 -1 "" ""
pci /sys/devices/pci0000:00/0000:00:03.0 0x1af4 0x1004 0x010000 -1 virtio-pci ""
pci /sys/devices/pci0000:00/0000:00:04.0 0x1af4 0x1000 0x020000 -1 virtio-pci ""
w /sys/devices/pci0000:00/0000:00:04.0/virtio1/vendor 0x1af4
lnk /sys/devices/pci0000:00/0000:00:04.0/virtio1/driver /sys/bus/virtio/drivers/virtio_net
lnk /sys/bus/virtio/drivers/virtio_net/virtio1 /sys/devices/pci0000:00/0000:00:04.0/virtio1
netdev ens4 /sys/devices/pci0000:00/0000:00:04.0/virtio1 -1 up 2
virtual_netdev lo unknown
virtual_netdev docker0 down

#
# dpdk-host: a two-socket Ice Lake server ready for DPDK: 1 GiB hugepages on
# both nodes, hugetlbfs, IOMMU on, vfio-pci loaded, one i40e port bound to
# vfio-pci (no interface), its sibling still on i40e, and a ConnectX-6 (mlx5,
# bifurcated). /proc/mounts is the usual link to self/mounts.
#
H=hosts/dpdk-host
base_proc "5.15.0-105-generic" "BOOT_IMAGE=/vmlinuz-5.15.0-105-generic root=UUID=0b8e6d4a ro default_hugepagesz=1G hugepagesz=1G hugepages=8 intel_iommu=on iommu=pt isolcpus=2-3,6-7"
ICX="fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l3 invpcid_single ssbd mba ibrs ibpb stibp ibrs_enhanced tpr_shadow vnmi flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 avx2 smep bmi2 erms invpcid cqm rdt_a avx512f avx512dq rdseed adx smap avx512ifma clflushopt clwb intel_pt avx512cd sha_ni avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local split_lock_detect wbnoinvd dtherm ida arat pln pts avx512vbmi umip pku ospke avx512_vbmi2 gfni vaes vpclmulqdq avx512_vnni avx512_bitalg tme avx512_vpopcntdq la57 rdpid fsrm md_clear pconfig flush_l1d arch_capabilities"
x86_cpuinfo "Intel(R) Xeon(R) Gold 6338 CPU @ 2.00GHz" 6 106 "$ICX" 0:0 0:1 1:0 1:1 0:0 0:1 1:0 1:1
topology 0:0 0:1 1:0 1:1 0:0 0:1 1:0 1:1
w /sys/devices/system/node/online 0-1
w /sys/devices/system/node/node0/cpulist 0-1,4-5
w /sys/devices/system/node/node1/cpulist 2-3,6-7
hugepages 2048 0 0
hugepages 1048576 8 6
for n in 0 1; do node_hugepages $n 2048 0 0; done
node_hugepages 0 1048576 4 2
node_hugepages 1 1048576 4 4
meminfo 263921196 8 6 1048576
w /proc/1234/mounts "$MOUNTS_BASE" "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=1024M 0 0"
lnk /proc/self /proc/1234
# The link must read "self/mounts", as the kernel's does, not a resolved path.
ln -sfn self/mounts "$H/proc/mounts"
modules vfio_pci vfio_pci_core vfio_iommu_type1 vfio irqbypass i40e mlx5_ib mlx5_core mlxfw ib_uverbs ib_core
w /sys/module/vfio/parameters/enable_unsafe_noiommu_mode N
for u in dmar0 dmar1; do w "/sys/class/iommu/$u/intel-iommu/version" 1:0; done
for g in 0 1 2 3 30 31 40; do w "/sys/kernel/iommu_groups/$g/type" identity; done
pci /sys/devices/pci0000:00/0000:00:00.0 0x8086 0x09a2 0x088000 0 "" 0
pci /sys/devices/pci0000:17/0000:17:02.0 0x8086 0x347a 0x060400 0 pcieport 1
pci /sys/devices/pci0000:17/0000:17:02.0/0000:18:00.0 0x8086 0x1572 0x020000 0 i40e 30
pci /sys/devices/pci0000:17/0000:17:02.0/0000:18:00.1 0x8086 0x1572 0x020000 0 vfio-pci 31
w /sys/devices/pci0000:17/0000:17:02.0/0000:18:00.0/sriov_totalvfs 64
w /sys/devices/pci0000:17/0000:17:02.0/0000:18:00.0/sriov_numvfs 0
netdev eno1 /sys/devices/pci0000:17/0000:17:02.0/0000:18:00.0 10000 up 8
pci /sys/devices/pci0000:ae/0000:ae:02.0 0x8086 0x347a 0x060400 1 pcieport 2
pci /sys/devices/pci0000:ae/0000:ae:02.0/0000:af:00.0 0x15b3 0x101d 0x020000 1 mlx5_core 40
netdev ens2f0np0 /sys/devices/pci0000:ae/0000:ae:02.0/0000:af:00.0 100000 up 16
virtual_netdev lo unknown
touchf /dev/vfio/vfio
touchf /dev/vfio/31

#
# qat-host: a Cascade Lake server with a C62x chipset QAT PF, 4 of its 16
# VFs enabled (2 on the kernel VF driver, 2 on vfio-pci for user space), the
# qat modules loaded, IOMMU on, but no hugepages (so DPDK is not ready).
#
H=hosts/qat-host
base_proc "6.1.0-18-amd64" "BOOT_IMAGE=/boot/vmlinuz-6.1.0-18-amd64 root=/dev/mapper/vg0-root ro quiet intel_iommu=on"
CLX="fpu vme de pse tsc msr pae mce cx8 apic sep mtrr pge mca cmov pat pse36 clflush dts acpi mmx fxsr sse sse2 ss ht tm pbe syscall nx pdpe1gb rdtscp lm constant_tsc art arch_perfmon pebs bts rep_good nopl xtopology nonstop_tsc cpuid aperfmperf pni pclmulqdq dtes64 monitor ds_cpl vmx smx est tm2 ssse3 sdbg fma cx16 xtpr pdcm pcid dca sse4_1 sse4_2 x2apic movbe popcnt tsc_deadline_timer aes xsave avx f16c rdrand lahf_lm abm 3dnowprefetch cpuid_fault epb cat_l3 cdp_l3 invpcid_single intel_ppin ssbd mba ibrs ibpb stibp ibrs_enhanced tpr_shadow vnmi flexpriority ept vpid ept_ad fsgsbase tsc_adjust bmi1 hle avx2 smep bmi2 erms invpcid cqm mpx rdt_a avx512f avx512dq rdseed adx smap clflushopt clwb intel_pt avx512cd avx512bw avx512vl xsaveopt xsavec xgetbv1 xsaves cqm_llc cqm_occup_llc cqm_mbm_total cqm_mbm_local dtherm ida arat pln pts pku ospke avx512_vnni md_clear flush_l1d arch_capabilities"
x86_cpuinfo "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz" 6 85 "$CLX" 0:0 0:1 0:2 0:3
topology 0:0 0:1 0:2 0:3
w /sys/devices/system/node/online 0
w /sys/devices/system/node/node0/cpulist 0-3
hugepages 2048 0 0
hugepages 1048576 0 0
node_hugepages 0 2048 0 0
node_hugepages 0 1048576 0 0
meminfo 197912340 0 0 2048
w /proc/mounts "$MOUNTS_BASE"
modules qat_4xxx qat_c62xvf qat_c62x intel_qat dh_generic uio vfio_pci vfio_pci_core vfio_iommu_type1 vfio ixgbe mdio
for u in dmar0 dmar1 dmar2; do w "/sys/class/iommu/$u/intel-iommu/version" 1:0; done
for g in 0 1 14 15 60 61 62 63 70 71 80; do w "/sys/kernel/iommu_groups/$g/type" DMA; done
pci /sys/devices/pci0000:00/0000:00:00.0 0x8086 0x2020 0x060000 0 "" 0
pci /sys/devices/pci0000:3a/0000:3a:00.0 0x8086 0x2030 0x060400 0 pcieport 1
QATPF=/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/0000:3c:03.0/0000:3d:00.0
pci "$QATPF" 0x8086 0x37c8 0x0b4000 0 c6xx 14
w "$QATPF/sriov_totalvfs" 16
w "$QATPF/sriov_numvfs" 4
for i in 0 1 2 3; do
	vf="/sys/devices/pci0000:3a/0000:3a:00.0/0000:3b:00.0/0000:3c:03.0/0000:3d:01.$i"
	if [ $i -lt 2 ]; then drv=c6xxvf; else drv=vfio-pci; fi
	pci "$vf" 0x8086 0x37c9 0x0b4000 0 "$drv" $((60 + i))
	lnk "$vf/physfn" "$QATPF"
	lnk "$QATPF/virtfn$i" "$vf"
done
pci /sys/devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0 0x8086 0x10fb 0x020000 0 ixgbe 70
netdev eth0 /sys/devices/pci0000:5d/0000:5d:00.0/0000:5e:00.0 10000 up 4
# The second port has no driver at all (unbound): only the PCI scan sees it.
pci /sys/devices/pci0000:5d/0000:5d:00.0/0000:5e:00.1 0x8086 0x10fb 0x020000 0 "" 71
# A 4xxx (QAT gen 4) PF whose device is down and has no VFs yet; gen 4
# kernels expose qat/state.
QAT4=/sys/devices/pci0000:6a/0000:6a:00.0/0000:6b:00.0
pci "$QAT4" 0x8086 0x4940 0x0b4000 0 4xxx 80
w "$QAT4/qat/state" down
w "$QAT4/qat/cfg_services" sym
w "$QAT4/sriov_totalvfs" 16
w "$QAT4/sriov_numvfs" 0
virtual_netdev lo unknown
touchf /dev/qat_adf_ctl
touchf /dev/qat_dev_processes
touchf /dev/vfio/vfio
touchf /dev/vfio/62
touchf /dev/vfio/63

#
# arm64: an Ampere Altra (Neoverse-N1) host with a ConnectX-6 Dx on mlx5
# (bifurcated: DPDK needs no vfio), 2 MiB hugepages reserved and mounted.
#
H=hosts/arm64
base_proc "6.5.0-1020-aws" "BOOT_IMAGE=/boot/vmlinuz-6.5.0-1020-aws root=LABEL=cloudimg-rootfs ro iommu.passthrough=1 hugepages=1024"
mkdir -p "$H/proc"
: >"$H/proc/cpuinfo"
for n in 0 1 2 3; do
	cat >>"$H/proc/cpuinfo" <<-EOF
		processor	: $n
		BogoMIPS	: 50.00
		Features	: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm lrcpc dcpop asimddp ssbs
		CPU implementer	: 0x41
		CPU architecture: 8
		CPU variant	: 0x3
		CPU part	: 0xd0c
		CPU revision	: 1

	EOF
done
topology 0:0 0:1 0:2 0:3
w /sys/devices/system/node/online 0
w /sys/devices/system/node/node0/cpulist 0-3
hugepages 64 0 0
hugepages 2048 1024 1000
hugepages 32768 0 0
hugepages 1048576 0 0
node_hugepages 0 64 0 0
node_hugepages 0 2048 1024 1000
node_hugepages 0 32768 0 0
node_hugepages 0 1048576 0 0
meminfo 131596236 1024 1000 2048
w /proc/mounts "$MOUNTS_BASE" "hugetlbfs /dev/hugepages hugetlbfs rw,relatime,pagesize=2M 0 0"
modules mlx5_ib mlx5_core mlxfw ib_uverbs ib_core psample tls
w /sys/class/iommu/smmu3.0x0000100000000000/uevent "DEVNAME=smmu3.0x0000100000000000"
for g in 0 1 2; do w "/sys/kernel/iommu_groups/$g/type" identity; done
pci /sys/devices/pci0000:00/0000:00:00.0 0x1def 0xe100 0x060000 0 "" 0
pci /sys/devices/pci0000:00/0000:00:01.0 0x1def 0xe101 0x060400 0 pcieport 1
pci /sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0 0x15b3 0x101d 0x020000 0 mlx5_core 2
netdev enP1p1s0f0np0 /sys/devices/pci0000:00/0000:00:01.0/0000:01:00.0 25000 up 4
virtual_netdev lo unknown

#
# damaged-vm: bare-vm with broken files, to show how they are reported:
# a cpuinfo cut off before its flags, no meminfo, garbage in a hugepage
# count and a NUMA node, a speed that is not a number, a driver link loop.
#
cp -a hosts/bare-vm hosts/damaged-vm
H=hosts/damaged-vm
head -c 120 hosts/bare-vm/proc/cpuinfo >"$H/proc/cpuinfo"
rm "$H/proc/meminfo"
w /sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages "lots"
w /sys/devices/pci0000:00/0000:00:04.0/numa_node "zero"
w /sys/devices/pci0000:00/0000:00:04.0/virtio1/net/ens4/speed "fast"
ln -sfn driver "$H/sys/devices/pci0000:00/0000:00:04.0/driver"
w /sys/devices/system/node/node0/cpulist "0-3,x"

# git keeps no empty directories, so a fixture must not depend on one.
if [ -n "$(find hosts -type d -empty)" ]; then
	echo "empty directories would be lost in git:" >&2
	find hosts -type d -empty >&2
	exit 1
fi
echo "fixtures written under $(pwd)/hosts"
