# ailab.stack — entry points. Every target runs as root on Debian 12; `demo` and `test`
# install what they need first (scripts/bootstrap is idempotent and takes seconds when ready).
SHELL := /bin/bash
SCENARIO ?=
INVENTORY ?= inventories/sandbox

.PHONY: demo test bootstrap lint sanity unit integration molecule sandbox-down screenshot bench docs-check
demo: bootstrap          ## Set everything up, then run playbooks/site.yml against the sandbox
	scripts/demo $(INVENTORY)
test: bootstrap          ## Set everything up, then run every test (lint, sanity, unit, integration, molecule)
	scripts/test
bootstrap:               ## Install the pinned toolchain, podman settings and test images
	scripts/bootstrap
lint:                    ## yamllint + shellcheck + ansible-lint (production profile) + argument_specs vs defaults
	scripts/test lint
sanity:                  ## ansible-test sanity
	scripts/test sanity
unit:                    ## pytest unit tests
	scripts/test unit
integration:             ## pytest integration tests against real local services
	scripts/test integration
molecule:                ## every molecule scenario, or one: make molecule SCENARIO=preflight
	scripts/test molecule $(SCENARIO)
sandbox-down:            ## Remove the sandbox containers (their data goes with them)
	scripts/demo --down
screenshot:              ## Sign in to the running sandbox in a real browser, chat, save docs/images/chat.png
	scripts/screenshot
bench:                   ## Run every benchmark in bench/
	scripts/bench
