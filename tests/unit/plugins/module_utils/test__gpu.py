"""GPU facts (plugins/module_utils/_gpu.py) on sysfs trees laid out as the kernel documents them.

Where each file of the trees below is documented:
- /sys/bus/pci/devices/<domain:bus:dev.fn>/{class,vendor,device} (hex, "0x030000"), driver (a symlink
  to /sys/bus/pci/drivers/<name>): Documentation/ABI/testing/sysfs-bus-pci and
  Documentation/PCI/sysfs-pci.rst. PCI base class 0x03 is a display controller: 0x0300 VGA, 0x0302
  3D controller (datacenter NVIDIA cards without display outputs), 0x0380 other.
- amdgpu's mem_info_vram_total (bytes, decimal) and unique_id (hex) in the PCI device directory:
  Documentation/gpu/amdgpu/driver-misc.rst.
- /sys/module/<module>/version: Documentation/ABI/stable/sysfs-module (present when the module
  declares MODULE_VERSION: NVIDIA's driver and DKMS amdgpu do, in-tree amdgpu does not).
- KFD topology /sys/class/kfd/kfd/topology/nodes/<n>/properties, "name value" lines in decimal
  (drivers/gpu/drm/amd/amdkfd/kfd_topology.c, node_show(); ROCm's "Linux KFD topology" docs): CPU
  nodes first with gfx_target_version 0, GPU nodes with vendor_id, device_id, unique_id and
  gfx_target_version major*10000+minor*100+stepping, read and matched to the PCI device by Ollama's
  discover/amd_linux.go (vendor, device, unique_id; "gfx%d%x%x").
- efivarfs: Documentation/filesystems/efivarfs.rst (4 bytes of attributes, then the data);
  SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c is UEFI's global variable (1 byte, 1 = on).
- pci.ids: the format of https://pci-ids.ucw.cz (vendor lines, tab + device lines); the names below
  are its entries for these ids.
"""
from __future__ import annotations

import os

import pytest

from ansible_collections.ailab.stack.plugins.module_utils import _gpu

PCI_IDS = """\
# excerpt of pci.ids (https://pci-ids.ucw.cz)
1002  Advanced Micro Devices, Inc. [AMD/ATI]
\t150e  Strix [Radeon 880M / 890M]
\t744c  Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]
\t\t1002 0e3b  Radeon RX 7900 XTX
10de  NVIDIA Corporation
\t20b5  GA100 [A100 PCIe 80GB]
\t2684  AD102 [GeForce RTX 4090]
\t26b9  AD102GL [L40S]
1af4  Red Hat, Inc.
\t1041  Virtio 1.0 network device
C 03  Display controller
\t00  VGA compatible controller
"""
CPU_NODE = {"cpu_cores_count": 16, "simd_count": 0, "gfx_target_version": 0, "vendor_id": 0, "device_id": 0}


def make_tree(root, devices=(), kfd=(), modules=None, release="6.1.0-28-amd64", headers=True, efi=None,
              pci_ids=True):
    """A fake / with sysfs, proc, lib/modules and pci.ids.
    devices: dicts of address, class, vendor, device, driver, and optional files (name -> text).
    kfd: the properties of each KFD node, in node order. efi: None (no UEFI), b"" (UEFI, variable
    unreadable) or the variable's bytes."""
    def write(rel, text, mode="w"):
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, mode) as f:
            f.write(text)

    os.makedirs(os.path.join(root, "sys/bus/pci/devices"), exist_ok=True)
    for dev in devices:
        base = f"sys/bus/pci/devices/{dev['address']}"
        write(f"{base}/class", f"0x{dev['class']:06x}\n")
        write(f"{base}/vendor", f"0x{dev['vendor']:04x}\n")
        write(f"{base}/device", f"0x{dev['device']:04x}\n")
        for name, text in dev.get("files", {}).items():
            write(f"{base}/{name}", f"{text}\n")
        if dev.get("driver"):
            os.makedirs(os.path.join(root, "sys/bus/pci/drivers", dev["driver"]), exist_ok=True)
            os.symlink(f"../../../bus/pci/drivers/{dev['driver']}", os.path.join(root, base, "driver"))
    for number, props in enumerate(kfd):
        write(f"sys/class/kfd/kfd/topology/nodes/{number}/properties",
              "".join(f"{key} {value}\n" for key, value in props.items()))
    for module, version in (modules or {}).items():
        os.makedirs(os.path.join(root, "sys/module", module), exist_ok=True)
        if version:
            write(f"sys/module/{module}/version", f"{version}\n")
    write("proc/sys/kernel/osrelease", f"{release}\n")
    os.makedirs(os.path.join(root, "lib/modules", release), exist_ok=True)
    if headers:
        os.makedirs(os.path.join(root, "lib/modules", release, "build"))
    if efi is not None:
        os.makedirs(os.path.join(root, "sys/firmware/efi/efivars"), exist_ok=True)
        if efi:
            write(_gpu.SECURE_BOOT_VAR, efi, "wb")
    if pci_ids:
        write("usr/share/misc/pci.ids", PCI_IDS)
    return str(root)


def virtio(address="0000:00:03.0"):
    """A device that is no GPU (network, class 0x020000), as on this machine."""
    return {"address": address, "class": 0x020000, "vendor": 0x1af4, "device": 0x1041, "driver": "virtio-pci"}


def test_server_with_two_datacenter_nvidia_gpus_and_nvidia_smi(tmp_path):
    """2x L40S (3D controllers, class 0x0302), driver nvidia 535.261.03 (Debian 12's nvidia-driver), Secure Boot on."""
    root = make_tree(tmp_path, devices=[
        virtio(),
        {"address": "0000:17:00.0", "class": 0x030200, "vendor": 0x10de, "device": 0x26b9, "driver": "nvidia"},
        {"address": "0000:ca:00.0", "class": 0x030200, "vendor": 0x10de, "device": 0x26b9, "driver": "nvidia"},
    ], modules={"nvidia": "535.261.03"}, efi=b"\x06\x00\x00\x00\x01")
    smi = ("00000000:17:00.0, NVIDIA L40S, 535.261.03, 46068, 1\n"
           "00000000:CA:00.0, NVIDIA L40S, 535.261.03, 46068, 1\n")
    calls = []

    def run(argv):
        calls.append(argv[0])
        return smi if argv[0] == "nvidia-smi" else None

    facts = _gpu.gpu_facts(root, run)
    assert facts["count"] == 2 and facts["vendors"] == ["nvidia"]
    first, second = facts["gpus"]
    assert first["pci_address"] == "0000:17:00.0" and second["pci_address"] == "0000:ca:00.0"
    assert first["name"] == "NVIDIA Corporation AD102GL [L40S]" and first["pci_id"] == "10de:26b9"
    assert first["driver"] == "nvidia" and first["driver_version"] == "535.261.03"
    assert first["vram_bytes"] == second["vram_bytes"] == 46068 * 1024 ** 2  # from nvidia-smi, by PCI address
    assert first["gfx_target"] is None
    assert facts["tools"]["nvidia_smi"][1] == {
        "pci_address": "0000:ca:00.0", "name": "NVIDIA L40S", "driver_version": "535.261.03",
        "memory_total_mib": 46068, "memory_used_mib": 1}
    assert facts["tools"]["rocm_smi"] is None
    assert calls == ["nvidia-smi"]  # no AMD tool on an NVIDIA host; Secure Boot came from efivars
    assert facts["secure_boot"] == "enabled"
    assert facts["kernel"] == {"release": "6.1.0-28-amd64", "headers_path": "/lib/modules/6.1.0-28-amd64/build",
                               "headers_installed": True}


def test_consumer_nvidia_card_before_the_driver_is_installed(tmp_path):
    """RTX 4090 (VGA, class 0x0300) and its HDMI audio function (0x0403, not a GPU), bound to
    nouveau; no nvidia-smi; no headers yet; UEFI with Secure Boot off."""
    root = make_tree(tmp_path, devices=[
        {"address": "0000:01:00.0", "class": 0x030000, "vendor": 0x10de, "device": 0x2684, "driver": "nouveau"},
        {"address": "0000:01:00.1", "class": 0x040300, "vendor": 0x10de, "device": 0x22ba, "driver": "snd_hda_intel"},
    ], modules={"nouveau": None}, headers=False, efi=b"\x06\x00\x00\x00\x00")
    facts = _gpu.gpu_facts(root, lambda argv: None)
    [gpu] = facts["gpus"]
    assert gpu["name"] == "NVIDIA Corporation AD102 [GeForce RTX 4090]"
    assert gpu["driver"] == "nouveau" and gpu["driver_version"] is None and gpu["vram_bytes"] is None
    assert facts["tools"]["nvidia_smi"] is None
    assert facts["kernel"]["headers_installed"] is False
    assert facts["secure_boot"] == "disabled"


def test_amd_discrete_card_gets_its_gfx_target_from_the_kfd_topology(tmp_path):
    """RX 7900 XTX (Navi 31, 1002:744c = vendor_id 4098, device_id 29772): KFD node 0 is the CPU,
    node 1 the GPU with gfx_target_version 110000; 24 GiB in mem_info_vram_total; DKMS amdgpu with a
    version; rocm-smi answers JSON."""
    root = make_tree(tmp_path, devices=[
        {"address": "0000:03:00.0", "class": 0x030000, "vendor": 0x1002, "device": 0x744c, "driver": "amdgpu",
         "files": {"mem_info_vram_total": 25753026560, "unique_id": "7d4e0bd2a2a6b9e1"}},
    ], kfd=[CPU_NODE, {"cpu_cores_count": 0, "simd_count": 192, "gfx_target_version": 110000,
                       "vendor_id": 4098, "device_id": 29772, "unique_id": int("7d4e0bd2a2a6b9e1", 16)}],
        modules={"amdgpu": "6.8.5"})
    rocm = '{"card0": {"Card Series": "Navi 31 [Radeon RX 7900 XT/7900 XTX]", "VRAM Total Memory (B)": "25753026560"}}'
    facts = _gpu.gpu_facts(root, lambda argv: rocm if argv[0] == "rocm-smi" else None)
    [gpu] = facts["gpus"]
    assert gpu["vendor"] == "amd" and gpu["driver"] == "amdgpu" and gpu["driver_version"] == "6.8.5"
    assert gpu["name"] == "Advanced Micro Devices, Inc. [AMD/ATI] Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"
    assert gpu["vram_bytes"] == 25753026560
    assert (gpu["gfx_target"], gpu["gfx_target_version"], gpu["kfd_node"]) == ("gfx1100", "11.0.0", 1)
    assert facts["tools"]["rocm_smi"]["card0"]["VRAM Total Memory (B)"] == "25753026560"
    assert facts["tools"]["amd_smi"] is None and facts["tools"]["nvidia_smi"] is None
    assert facts["secure_boot"] == "not_efi"


def test_ryzen_ai_igpu_radeon_890m(tmp_path):
    """Ryzen AI 9 HX 370: Radeon 890M (Strix, 1002:150e), gfx1150 (110500), a 512 MiB carve-out in
    mem_info_vram_total (Ollama's older discover/amd_linux.go skipped iGPUs under 1 GiB); in-tree
    amdgpu (no version file); Secure Boot state only from mokutil (efivars unreadable)."""
    root = make_tree(tmp_path, devices=[
        {"address": "0000:c4:00.0", "class": 0x030000, "vendor": 0x1002, "device": 0x150e, "driver": "amdgpu",
         "files": {"mem_info_vram_total": 536870912}},
    ], kfd=[CPU_NODE, {"cpu_cores_count": 0, "simd_count": 32, "gfx_target_version": 110500,
                       "vendor_id": 4098, "device_id": 5390, "unique_id": 0}],
        modules={"amdgpu": None}, efi=b"")
    facts = _gpu.gpu_facts(root, lambda argv: "SecureBoot disabled\n" if argv[0] == "mokutil" else None)
    [gpu] = facts["gpus"]
    assert gpu["name"] == "Advanced Micro Devices, Inc. [AMD/ATI] Strix [Radeon 880M / 890M]"
    assert (gpu["gfx_target"], gpu["gfx_target_version"]) == ("gfx1150", "11.5.0")
    assert gpu["vram_bytes"] == 512 * 1024 ** 2 and gpu["driver_version"] is None
    assert facts["secure_boot"] == "disabled"


def test_kfd_nodes_match_their_own_card_by_unique_id(tmp_path):
    """Two cards of one model: each gets the node with its unique_id, not the first node of that model."""
    card = {"class": 0x030000, "vendor": 0x1002, "device": 0x744c, "driver": "amdgpu"}
    node = {"gfx_target_version": 110000, "vendor_id": 4098, "device_id": 29772}
    root = make_tree(tmp_path, devices=[
        {**card, "address": "0000:03:00.0", "files": {"unique_id": "b"}},
        {**card, "address": "0000:83:00.0", "files": {"unique_id": "a"}},
    ], kfd=[CPU_NODE, {**node, "unique_id": 10}, {**node, "unique_id": 11}])
    assert [g["kfd_node"] for g in _gpu.gpu_facts(root, lambda argv: None)["gpus"]] == [2, 1]


def test_no_gpu_is_an_empty_list_and_no_tool_runs(tmp_path):
    root = make_tree(tmp_path, devices=[virtio()], pci_ids=False)
    calls = []
    facts = _gpu.gpu_facts(root, lambda argv: calls.append(argv[0]))
    assert (facts["gpus"], facts["count"], facts["vendors"]) == ([], 0, [])
    assert facts["tools"] == {"nvidia_smi": None, "rocm_smi": None, "amd_smi": None}
    assert calls == []


def test_without_pci_ids_the_name_is_the_id(tmp_path):
    root = make_tree(tmp_path, devices=[
        {"address": "0000:01:00.0", "class": 0x030000, "vendor": 0x10de, "device": 0x2684}], pci_ids=False)
    [gpu] = _gpu.gpu_facts(root, lambda argv: None)["gpus"]
    assert gpu["name"] == "10de:2684" and gpu["driver"] is None


def test_hwdata_pci_ids_is_read_when_misc_has_none(tmp_path):
    root = make_tree(tmp_path, devices=[
        {"address": "0000:01:00.0", "class": 0x030000, "vendor": 0x10de, "device": 0x20b5}], pci_ids=False)
    os.makedirs(tmp_path / "usr/share/hwdata")
    (tmp_path / "usr/share/hwdata/pci.ids").write_text(PCI_IDS)
    assert _gpu.gpu_facts(root, lambda argv: None)["gpus"][0]["name"] == "NVIDIA Corporation GA100 [A100 PCIe 80GB]"


@pytest.mark.parametrize("version, gfx, hsa", [
    (90010, "gfx90a", "9.0.10"), (90402, "gfx942", "9.4.2"), (100302, "gfx1032", "10.3.2"),
    (110000, "gfx1100", "11.0.0"), (110501, "gfx1151", "11.5.1"), (120001, "gfx1201", "12.0.1"),
])
def test_gfx_target_names(version, gfx, hsa):
    assert (_gpu.gfx_target(version), _gpu.hsa_version(version)) == (gfx, hsa)


@pytest.mark.parametrize("output, state", [
    ("SecureBoot enabled\n", "enabled"), ("SecureBoot disabled\n", "disabled"),
    ("EFI variables are not supported on this system\n", None),
])
def test_mokutil_answers(output, state):
    assert _gpu.secure_boot_from_mokutil(output) == state


def test_nvidia_smi_rows_of_another_shape_are_skipped():
    assert _gpu.parse_nvidia_smi("No devices were found\n") == []


def test_broken_tool_json_is_none():
    assert _gpu.parse_json("WARNING: AMD GPU device(s) is/are in a low-power state\n") is None


def test_tools_that_are_missing_or_fail_give_none():
    assert _gpu.run_tool(["ailab-no-such-tool"]) is None
    assert _gpu.run_tool(["false"]) is None
    assert _gpu.run_tool(["echo", "ok"]) == "ok\n"


def test_a_tool_that_hangs_is_stopped_by_the_timeout():
    assert _gpu.run_tool(["sleep", "30"], timeout=0.5) is None
