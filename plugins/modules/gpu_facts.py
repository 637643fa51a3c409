#!/usr/bin/python
# Copyright: ailab.stack contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
module: gpu_facts
short_description: The GPUs of a host, their drivers, and what a GPU driver install needs to know
version_added: 0.1.0
description:
  - Lists the display controllers (PCI base class C(0x03)) from sysfs with vendor, device id and name
    (from C(pci.ids) when present, else the ids), PCI address and the kernel driver bound to them,
    the driver's version (C(/sys/module/<driver>/version)) and the VRAM where it is exposed (amdgpu's
    C(mem_info_vram_total); NVIDIA's from C(nvidia-smi)).
  - For AMD GPUs, the gfx target from the KFD topology (C(/sys/class/kfd/kfd/topology/nodes/*/properties),
    C(gfx_target_version)), matched to the PCI device the way Ollama does.
  - The parsed output of C(nvidia-smi), C(rocm-smi) and C(amd-smi) when they are installed (each with a
    timeout), the Secure Boot state (efivars, else C(mokutil --sb-state)), the running kernel and whether
    its headers are installed (C(/lib/modules/<release>/build)), which DKMS drivers need.
  - A host without a GPU gets an empty list, not an error. Read-only; never reports a change.
author: ailab.stack maintainers (@ailab-stack)
options:
  root:
    description:
      - Directory that stands for C(/) when reading C(/sys), C(/proc), C(/lib/modules) and C(pci.ids).
        The tools run only when it is C(/).
    type: path
    default: /
extends_documentation_fragment:
  - ailab.stack.attributes
  - ailab.stack.attributes.info_module
notes:
  - The gfx target is what C(HSA_OVERRIDE_GFX_VERSION) overrides for Ollama on ROCm;
    RV(ansible_facts.ailab_gpu.gpus[].gfx_target_version) spells it the way that variable takes it.
"""

EXAMPLES = r"""
- name: Read the GPUs
  ailab.stack.gpu_facts:

- name: A GPU node needs a GPU
  ansible.builtin.assert:
    that: ansible_facts.ailab_gpu.count > 0
    fail_msg: "{{ inventory_hostname }} is in gpu_nodes but has no GPU"
  when: "'gpu_nodes' in group_names"

- name: A DKMS driver needs the headers of the running kernel
  ansible.builtin.debug:
    msg: "install linux-headers-{{ ansible_facts.ailab_gpu.kernel.release }}"
  when: not ansible_facts.ailab_gpu.kernel.headers_installed
"""

RETURN = r"""
ansible_facts:
  description: The facts, under C(ailab_gpu).
  returned: always
  type: dict
  contains:
    ailab_gpu:
      description: GPUs, tools, kernel and Secure Boot.
      returned: always
      type: dict
      contains:
        gpus:
          description: One item per display controller, in PCI address order; empty without a GPU.
          returned: always
          type: list
          elements: dict
          contains:
            pci_address:
              description: PCI address as sysfs names it (domain, bus, device and function).
              returned: always
              type: str
            vendor:
              description: "C(nvidia), C(amd), C(intel), or the PCI vendor id in hex."
              returned: always
              type: str
            vendor_id:
              description: PCI vendor id.
              returned: always
              type: int
            device_id:
              description: PCI device id.
              returned: always
              type: int
            pci_id:
              description: "C(<vendor>:<device>) in hex, as C(lspci -n) shows it."
              returned: always
              type: str
            name:
              description: Vendor and device name from C(pci.ids), else RV(ansible_facts.ailab_gpu.gpus[].pci_id).
              returned: always
              type: str
            pci_class:
              description: PCI class in hex (C(030000) VGA, C(030200) 3D controller, C(038000) display).
              returned: always
              type: str
            driver:
              description: Kernel driver bound to the device (C(nvidia), C(nouveau), C(amdgpu)); null when none is.
              returned: always
              type: str
            driver_version:
              description: "C(/sys/module/<driver>/version); null where the driver has none (in-tree amdgpu, nouveau)."
              returned: always
              type: str
            vram_bytes:
              description: VRAM in bytes (amdgpu's C(mem_info_vram_total), NVIDIA's from C(nvidia-smi)); null where not exposed.
              returned: always
              type: int
            unique_id:
              description: amdgpu's C(unique_id) (hex in sysfs) as a number; null where not exposed.
              returned: always
              type: int
            gfx_target:
              description: AMD gfx target from the KFD topology (C(gfx1100)); null for other GPUs.
              returned: always
              type: str
            gfx_target_version:
              description: The same as C(HSA_OVERRIDE_GFX_VERSION) spells it (C(11.0.0)).
              returned: always
              type: str
            kfd_node:
              description: KFD topology node of the GPU.
              returned: always
              type: int
          sample:
            - pci_address: "0000:c3:00.0"
              vendor: amd
              vendor_id: 4098
              device_id: 29772
              pci_id: "1002:744c"
              name: "Advanced Micro Devices, Inc. [AMD/ATI] Navi 31 [Radeon RX 7900 XT/7900 XTX/7900 GRE/7900M]"
              pci_class: "030000"
              driver: amdgpu
              driver_version: null
              vram_bytes: 25753026560
              unique_id: null
              gfx_target: gfx1100
              gfx_target_version: "11.0.0"
              kfd_node: 1
        count:
          description: Number of GPUs.
          returned: always
          type: int
          sample: 2
        vendors:
          description: The vendors of the GPUs (nvidia, amd, intel, or the PCI vendor id), sorted.
          returned: always
          type: list
          elements: str
          sample: [nvidia]
        tools:
          description:
            - Parsed tool output; null where the tool is missing, fails, times out, or the vendor has no GPU here.
            - C(nvidia_smi) is a list of C(pci_address), C(name), C(driver_version), C(memory_total_mib),
              C(memory_used_mib); C(rocm_smi) and C(amd_smi) are their JSON output as is.
          returned: always
          type: dict
          sample: {nvidia_smi: null, rocm_smi: null, amd_smi: null}
        kernel:
          description: The running kernel (C(release)), where its headers belong (C(headers_path)) and C(headers_installed).
          returned: always
          type: dict
          sample: {release: 6.1.0-28-amd64, headers_path: /lib/modules/6.1.0-28-amd64/build, headers_installed: true}
        secure_boot:
          description: C(enabled), C(disabled), C(not_efi) (booted without UEFI) or C(unknown).
          returned: always
          type: str
          sample: disabled
"""

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.ailab.stack.plugins.module_utils._gpu import gpu_facts


def main() -> None:
    module = AnsibleModule(argument_spec={"root": {"type": "path", "default": "/"}}, supports_check_mode=True)
    try:
        facts = gpu_facts(module.params["root"])
    except OSError as e:
        module.fail_json(msg=f"Could not read the GPUs under {module.params['root']}: {e}")
    module.exit_json(changed=False, ansible_facts={"ailab_gpu": facts})


if __name__ == "__main__":
    main()
