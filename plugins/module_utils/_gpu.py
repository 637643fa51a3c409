# -*- coding: utf-8 -*-
# Copyright: ailab.stack maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
#
# Note: this module util is PRIVATE to ailab.stack. Its API may change without notice.
"""What a host's GPUs are, read from sysfs and the vendors' tools (ailab.stack.gpu_facts).

Every path is read below `root` ("/" on a real host, a fake tree in tests):
- PCI: /sys/bus/pci/devices/<address>/{class,vendor,device,driver,unique_id,mem_info_vram_total}
  (Documentation/ABI/testing/sysfs-bus-pci; amdgpu's mem_info_* in Documentation/gpu/amdgpu/driver-misc.rst);
  display controllers are PCI base class 0x03.
- names: pci.ids (/usr/share/misc/pci.ids, /usr/share/hwdata/pci.ids), else the ids.
- driver version: /sys/module/<driver>/version (NVIDIA's module and DKMS amdgpu have one; in-tree amdgpu not).
- AMD: the KFD topology /sys/class/kfd/kfd/topology/nodes/*/properties ("name value" lines; CPU
  nodes have gfx_target_version 0), matched to a PCI device by vendor_id, device_id (decimal) and
  unique_id as Ollama does (ollama/ollama discover/amd_linux.go); gfx target "gfx%d%x%x" of
  gfx_target_version (110000: gfx1100, 90010: gfx90a, 110500: gfx1150).
- the kernel: /proc/sys/kernel/osrelease, headers at /lib/modules/<release>/build; Secure Boot from
  efivars (SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c: 4 bytes of attributes, then 1 = on).
The tools (nvidia-smi, rocm-smi, amd-smi, mokutil) run only when root is "/", each with a timeout;
their outputs are parsed by the functions here. Nothing here calls fail_json.
"""
from __future__ import annotations

import csv
import glob
import json
import os
import shutil
import subprocess
import typing as t

VENDORS = {0x10de: "nvidia", 0x1002: "amd", 0x8086: "intel"}
PCI_IDS = ("usr/share/misc/pci.ids", "usr/share/hwdata/pci.ids")
SECURE_BOOT_VAR = "sys/firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
KFD_NODES = "sys/class/kfd/kfd/topology/nodes"
NVIDIA_SMI_FIELDS = ("pci.bus_id", "name", "driver_version", "memory.total", "memory.used")
TOOL_TIMEOUT = 15


def _read(path: str) -> str | None:
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read().strip()
    except OSError:
        return None


def _int(text: str | None, base: int = 0) -> int | None:
    try:
        return int(text, base) if text is not None else None
    except ValueError:
        return None


def gfx_target(version: int) -> str:
    """gfx_target_version of the KFD topology (major*10000 + minor*100 + stepping) as a gfx name."""
    return f"gfx{version // 10000}{(version // 100) % 100:x}{version % 100:x}"


def hsa_version(version: int) -> str:
    """The same version as HSA_OVERRIDE_GFX_VERSION spells it (110000: 11.0.0)."""
    return f"{version // 10000}.{(version // 100) % 100}.{version % 100}"


def pci_names(root: str, ids: set[tuple[int, int]]) -> dict[tuple[int, int], str]:
    """Names of (vendor, device) ids from the first pci.ids found: "<vendor> <device>"."""
    wanted_vendors = {pair[0] for pair in ids}
    for rel in PCI_IDS:
        path = os.path.join(root, rel)
        if not os.path.exists(path):
            continue
        names: dict[tuple[int, int], str] = {}
        vendor, vendor_name = None, ""
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                if not line.strip() or line.startswith("#"):
                    continue
                if line.startswith("C "):  # the device classes follow the vendors
                    break
                if not line.startswith("\t"):
                    vid, vendor_name = line.strip().partition("  ")[::2]
                    vendor = _int(vid, 16)
                elif not line.startswith("\t\t") and vendor in wanted_vendors:
                    did, device_name = line.strip().partition("  ")[::2]
                    key = (vendor, _int(did, 16))
                    if key in ids:
                        names[key] = f"{vendor_name} {device_name}"
        return names
    return {}


def kfd_nodes(root: str) -> list[dict[str, t.Any]]:
    """The GPU nodes of the KFD topology: node number and its properties (ints)."""
    nodes = []
    for path in glob.glob(os.path.join(root, KFD_NODES, "*", "properties")):
        node = os.path.basename(os.path.dirname(path))
        props = {}
        for line in (_read(path) or "").splitlines():
            key, value = line.partition(" ")[::2]
            number = _int(value.strip(), 10)
            if number is not None:
                props[key] = number
        if props.get("gfx_target_version"):  # 0 (or none) on CPU nodes
            nodes.append({"node": int(node) if node.isdigit() else node, **props})
    return sorted(nodes, key=lambda n: str(n["node"]).zfill(8))


def _kfd_node_of(device: dict[str, t.Any], nodes: list[dict[str, t.Any]]) -> dict[str, t.Any] | None:
    for node in nodes:
        if node.get("vendor_id") != device["vendor_id"] or node.get("device_id") != device["device_id"]:
            continue
        if node.get("unique_id") and device["unique_id"] is not None and node["unique_id"] != device["unique_id"]:
            continue
        return node
    return None


def pci_gpus(root: str) -> list[dict[str, t.Any]]:
    """The display controllers (PCI class 0x03xxxx) under root, with their driver and what amdgpu and KFD expose."""
    gpus = []
    nodes = kfd_nodes(root)
    for dev in sorted(glob.glob(os.path.join(root, "sys/bus/pci/devices/*"))):
        pci_class = _int(_read(os.path.join(dev, "class")), 16)
        if pci_class is None or pci_class >> 16 != 0x03:
            continue
        vendor_id = _int(_read(os.path.join(dev, "vendor")), 16) or 0
        device_id = _int(_read(os.path.join(dev, "device")), 16) or 0
        link = os.path.join(dev, "driver")
        driver = os.path.basename(os.readlink(link)) if os.path.islink(link) else None
        gpu: dict[str, t.Any] = {
            "pci_address": os.path.basename(dev),
            "vendor": VENDORS.get(vendor_id, f"{vendor_id:04x}"),
            "vendor_id": vendor_id,
            "device_id": device_id,
            "pci_id": f"{vendor_id:04x}:{device_id:04x}",
            "name": f"{vendor_id:04x}:{device_id:04x}",
            "pci_class": f"{pci_class:06x}",
            "driver": driver,
            "driver_version": _read(os.path.join(root, "sys/module", driver, "version")) if driver else None,
            "vram_bytes": _int(_read(os.path.join(dev, "mem_info_vram_total")), 10),
            "unique_id": _int(_read(os.path.join(dev, "unique_id")), 16),
            "gfx_target": None,
            "gfx_target_version": None,
            "kfd_node": None,
        }
        node = _kfd_node_of(gpu, nodes)
        if node:
            version = node["gfx_target_version"]
            gpu.update(gfx_target=gfx_target(version), gfx_target_version=hsa_version(version), kfd_node=node["node"])
        gpus.append(gpu)
    names = pci_names(root, {(g["vendor_id"], g["device_id"]) for g in gpus})
    for gpu in gpus:
        gpu["name"] = names.get((gpu["vendor_id"], gpu["device_id"]), gpu["name"])
    return gpus


def kernel(root: str) -> dict[str, t.Any]:
    release = _read(os.path.join(root, "proc/sys/kernel/osrelease"))
    build = f"/lib/modules/{release}/build" if release else None
    return {"release": release, "headers_path": build,
            "headers_installed": bool(build) and os.path.isdir(os.path.join(root, build.lstrip("/")))}


def secure_boot_from_efivar(data: bytes | None) -> str | None:
    """enabled/disabled from the SecureBoot EFI variable's bytes (4 bytes of attributes, then the value)."""
    if data is None or len(data) < 5:
        return None
    return "enabled" if data[4] == 1 else "disabled"


def secure_boot_from_mokutil(output: str) -> str | None:
    """enabled/disabled from `mokutil --sb-state` ("SecureBoot enabled")."""
    words = output.lower().split()
    for state in ("enabled", "disabled"):
        if state in words:
            return state
    return None


def secure_boot(root: str, run: t.Callable[[list[str]], str | None]) -> str:
    """enabled, disabled, not_efi (booted without UEFI: no Secure Boot) or unknown."""
    try:
        with open(os.path.join(root, SECURE_BOOT_VAR), "rb") as f:
            state = secure_boot_from_efivar(f.read())
    except OSError:
        state = None
    if state:
        return state
    if not os.path.isdir(os.path.join(root, "sys/firmware/efi")):
        return "not_efi"
    return secure_boot_from_mokutil(run(["mokutil", "--sb-state"]) or "") or "unknown"


def parse_nvidia_smi(output: str) -> list[dict[str, t.Any]]:
    """`nvidia-smi --query-gpu=<NVIDIA_SMI_FIELDS> --format=csv,noheader,nounits` (MiB) as dicts."""
    gpus = []
    for row in csv.reader(line for line in output.splitlines() if line.strip()):
        if len(row) != len(NVIDIA_SMI_FIELDS):
            continue
        bus_id, name, driver, total, used = (cell.strip() for cell in row)
        gpus.append({"pci_address": pci_address(bus_id), "name": name, "driver_version": driver,
                     "memory_total_mib": _int(total, 10), "memory_used_mib": _int(used, 10)})
    return gpus


def pci_address(bus_id: str) -> str:
    """nvidia-smi's 00000000:17:00.0 (8-digit domain) as sysfs spells it: 0000:17:00.0."""
    domain, rest = bus_id.lower().partition(":")[::2]
    return f"{int(domain, 16):04x}:{rest}" if rest else bus_id.lower()


def parse_json(output: str | None) -> t.Any:
    """rocm-smi --json / amd-smi --json output, or None when it is not JSON."""
    try:
        return json.loads(output) if output else None
    except ValueError:
        return None


def run_tool(argv: list[str], timeout: float = TOOL_TIMEOUT) -> str | None:
    """stdout of a tool on the PATH; None when it is missing, fails or exceeds the timeout."""
    if not shutil.which(argv[0]):
        return None
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def _no_tools(argv: list[str]) -> None:
    return None


def gpu_facts(root: str = "/", run: t.Callable[[list[str]], str | None] | None = None) -> dict[str, t.Any]:
    """Everything ailab.stack.gpu_facts returns. The tools run through `run` (default: run_tool when
    root is "/", none under another root)."""
    if run is None:
        run = run_tool if os.path.realpath(root) == "/" else _no_tools
    gpus = pci_gpus(root)
    tools: dict[str, t.Any] = {"nvidia_smi": None, "rocm_smi": None, "amd_smi": None}
    if any(g["vendor"] == "nvidia" for g in gpus):
        output = run(["nvidia-smi", "--query-gpu=" + ",".join(NVIDIA_SMI_FIELDS), "--format=csv,noheader,nounits"])
        if output is not None:
            tools["nvidia_smi"] = parse_nvidia_smi(output)
            by_address = {g["pci_address"]: g for g in tools["nvidia_smi"]}
            for gpu in gpus:
                seen = by_address.get(gpu["pci_address"])
                if seen and seen["memory_total_mib"] is not None:
                    gpu["vram_bytes"] = seen["memory_total_mib"] * 1024 * 1024
    if any(g["vendor"] == "amd" for g in gpus):
        tools["rocm_smi"] = parse_json(run(["rocm-smi", "--showproductname", "--showmeminfo", "vram", "--json"]))
        tools["amd_smi"] = parse_json(run(["amd-smi", "static", "--json"]))
    vendors = sorted({g["vendor"] for g in gpus})
    return {"gpus": gpus, "count": len(gpus), "vendors": vendors, "tools": tools,
            "kernel": kernel(root), "secure_boot": secure_boot(root, run)}
