# -*- coding: utf-8 -*-

# Copyright: ailab.stack contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

# Modelled on community.general plugins/doc_fragments/attributes.py.
# Use ailab.stack.attributes (DEFAULT) in every module, plus .info_module for read-only modules
# (*_info, health_gate, disk_space, gpu_facts).

from __future__ import annotations


class ModuleDocFragment(object):

    # Standard attributes: every module sets check_mode and diff_mode support itself.
    DOCUMENTATION = r"""
options: {}
attributes:
  check_mode:
    description: Can run in C(check_mode) and return changed status prediction without modifying target.
  diff_mode:
    description: Returns details on what has changed (or possibly needs changing in C(check_mode)), when in diff mode.
"""

    # Use together with the standard fragment.
    INFO_MODULE = r"""
options: {}
attributes:
  check_mode:
    support: full
    details:
      - This action does not modify state.
  diff_mode:
    support: N/A
    details:
      - This action does not modify state.
"""
