"""The unit step runs on two workers, whole files each (scripts/test: `pytest -n 2 --dist loadfile
--no-loadscope-reorder`): xdist hands the files out in collection order, one to each worker that is
free. The files that render with ansible-playbook cost most of the step, so they go first, longest
first (measured costs in docs/development.md): the two longest run side by side from the start and the
quick files fill in at the end. Alone (`pytest tests/unit/test_x.py`) the order changes nothing."""
from __future__ import annotations

SLOWEST_FIRST = ("test_inventory_renders.py", "test_postgres_render.py", "test_tenants_render.py",
                 "test_secrets_hygiene.py", "test_openwebui_render.py", "test_ingress_render.py",
                 "test_common_k8s_objects.py", "test_ollama_render.py", "test_awx.py",
                 "test_inventory_check_playbook.py")


def pytest_collection_modifyitems(items):
    rank = {name: i for i, name in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))   # stable: the rest keep their order
