# xcatha — build, install and test.  Run as root on Debian 12 for install/test/demo.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c

# The interpreter the installed agents run with: the distro's, never the caller's PATH.
PYTHON      ?= /usr/bin/python3
PREFIX      ?= /opt/xcatha
OCF_ROOT    ?= /usr/lib/ocf
PROVIDER    := xcat
SBINDIR     ?= /usr/sbin
UNITDIR     ?= /etc/systemd/system
AGENTS      := $(notdir $(wildcard agents/*))
VENV        := .venv
TESTPY      := $(CURDIR)/$(VENV)/bin/python
PYTEST_ARGS ?=
TRIALS      ?= 5
SEED        ?=
COUNT       ?= 30
ENGINE      ?=
PART        ?=

# What the real xCAT needs to run in the lab's nodes (its debian/control files' Depends).
APT_XCAT    := libio-socket-ssl-perl libxml-simple-perl libdbd-sqlite3-perl libexpect-perl \
               libnet-dns-perl libsoap-lite-perl libxml-libxml-perl libsnmp-perl libdigest-sha-perl \
               libcrypt-rijndael-perl libcrypt-cbc-perl libjson-perl libnet-https-nb-perl \
               libhttp-async-perl libxml-parser-perl libnet-telnet-perl libsort-versions-perl \
               libdbi-perl libdbd-pg-perl libdbd-mysql-perl make ucf openssl openssh-client net-tools
# What the agents need at run time (the .deb's Depends and the cluster tools), what
# `make deb` and `make rpm` need, and what the lab and the tests need on top.
APT_RUNTIME := pacemaker corosync corosync-qdevice pcs pacemaker-cli-utils resource-agents fence-agents \
               libxml2-utils iputils-arping rsync python3-click python3-psutil iproute2
APT_BUILD   := git debhelper dh-python pybuild-plugin-pyproject python3-all python3-setuptools \
               python3-wheel python3-venv lintian rpm rpmlint
APT_LAB     := systemd-container ipmitool postgresql mariadb-server mariadb-client bind9 \
               bind9-dnsutils isc-dhcp-server isc-dhcp-client conserver-server \
               conserver-client sqlite3 iproute2 iputils-ping util-linux procps \
               apache2 tftpd-hpa tftp-hpa curl kea-dhcp4-server kea-ctrl-agent \
               kea-dhcp-ddns-server corosync-qnetd bindfs $(APT_XCAT)
# xCAT's own source (a tarball of xcat-core or a directory); the lab installs it in its
# nodes.  Default: ../shared/xcat-core/xcat-core-*.tar.gz beside the repository; without
# one the lab falls back to the test-only stand-in and says so.
XCAT_SRC    ?=
export XCAT_SRC
TEST_PIP    := pytest hypothesis pyghmi ruff vermin
# the unit tier's under every Python (pyghmi: the lab's vBMC, unit-tested)
UNIT_PIP    := pytest hypothesis pyghmi
# Every Python the package supports: EL8/SLES 15 via a 3.9+ stream, Debian 12 3.11, EL10 3.12, newer 3.13.
PYTHONS     ?= 3.9 3.11 3.12 3.13
PYENV_ROOT  ?= $(HOME)/.pyenv

.PHONY: all deps install install-deb uninstall venv lint unit unit-pythons test demo lab-down lab-shell bench faults clean deb rpm

all: install

# Debian packages.  Package scripts must not start daemons on the host (the lab
# nodes boot from the host's root): a temporary policy-rc.d refuses them.
deps:
	@if dpkg-query -W -f='$${Status}\n' $(APT_RUNTIME) $(APT_BUILD) $(APT_LAB) 2>/dev/null \
	    | grep -qv '^install ok installed$$' || \
	    [ $$(dpkg-query -W -f='$${Status}\n' $(APT_RUNTIME) $(APT_BUILD) $(APT_LAB) 2>/dev/null | wc -l) \
	      -ne $(words $(APT_RUNTIME) $(APT_BUILD) $(APT_LAB)) ]; then \
	  policy=/usr/sbin/policy-rc.d; added=; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' >$$policy; chmod 755 $$policy; added=1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -q --no-install-recommends $(APT_RUNTIME) $(APT_BUILD) $(APT_LAB); rc=$$?; \
	  if [ -n "$$added" ]; then rm -f $$policy; fi; exit $$rc; \
	fi

# The package goes into its own virtual environment built from $(PYTHON); the
# agents are installed with that environment's interpreter in their #! line.
install:
	$(PYTHON) -m venv $(PREFIX)
	$(PREFIX)/bin/python -m pip install -q --upgrade pip
	$(PREFIX)/bin/python -m pip install -q --force-reinstall --no-deps .
	$(PREFIX)/bin/python -m pip install -q .
	install -d $(OCF_ROOT)/resource.d/$(PROVIDER)
	for agent in $(AGENTS); do \
	  sed '1s|^#!.*|#!$(PREFIX)/bin/python3 -I|' agents/$$agent >$(OCF_ROOT)/resource.d/$(PROVIDER)/$$agent.new; \
	  chmod 755 $(OCF_ROOT)/resource.d/$(PROVIDER)/$$agent.new; \
	  mv -f $(OCF_ROOT)/resource.d/$(PROVIDER)/$$agent.new $(OCF_ROOT)/resource.d/$(PROVIDER)/$$agent; \
	done
	for cmd in xcatha activate-xcatmn deactivate-xcatmn; do \
	  ln -sfn $(PREFIX)/bin/$$cmd $(SBINDIR)/$$cmd; \
	done
	for unit in xcatha-boot-cleanup.service xcatha-backup.service xcatha-backup.timer xcatha-sync.path xcatha-sync.service; do \
	  install -D -m 0644 systemd/$$unit $(UNITDIR)/$$unit; \
	done
	install -d /usr/share/xcatha
	sed '1s|^#!.*|#!$(PREFIX)/bin/python3 -I|' share/alert >/usr/share/xcatha/alert
	chmod 755 /usr/share/xcatha/alert

uninstall:
	rm -rf $(OCF_ROOT)/resource.d/$(PROVIDER) $(PREFIX)
	rm -f $(SBINDIR)/xcatha $(SBINDIR)/activate-xcatmn $(SBINDIR)/deactivate-xcatmn
	rm -f $(UNITDIR)/xcatha-boot-cleanup.service $(UNITDIR)/xcatha-backup.service $(UNITDIR)/xcatha-backup.timer \
	  $(UNITDIR)/xcatha-sync.path $(UNITDIR)/xcatha-sync.service
	rm -rf /usr/share/xcatha

# Packages, built from a copy of the checkout (tracked and new files, not what
# .gitignore leaves out) so that a build never writes into the source tree.
# The distro's python3 builds the packages, not a pyenv or venv one first on the caller's PATH.
DISTRO_PATH := /usr/sbin:/usr/bin:/sbin:/bin
VERSION     := $(shell sed -n 's/^version = //p' setup.cfg)
DEBDIR      ?= build/deb
RPMDIR      ?= build/rpm
COPY_TREE   = git ls-files -z -c -o --exclude-standard \
	  | tar --null -T - --ignore-failed-read -cf - 2>/dev/null | tar -xf - -C
deb:
	rm -rf $(DEBDIR) && mkdir -p $(DEBDIR)/xcatha-$(VERSION)
	$(COPY_TREE) $(DEBDIR)/xcatha-$(VERSION)
	cd $(DEBDIR)/xcatha-$(VERSION) && env PATH=$(DISTRO_PATH) dpkg-buildpackage -us -uc -b
	lintian --fail-on error $(DEBDIR)/xcatha_$(VERSION)_all.deb
	@echo "built $(DEBDIR)/xcatha_$(VERSION)_all.deb"

# The source tarball carries the man pages and the completion already generated
# (the RPM distros' Pythons may lack click at build time); rpmbuild here is
# Debian's, with the spec's fallbacks for the EL/SUSE macros it does not have.
rpm:
	rm -rf $(RPMDIR) && mkdir -p $(RPMDIR)/SOURCES/xcatha-$(VERSION)
	$(COPY_TREE) $(RPMDIR)/SOURCES/xcatha-$(VERSION)
	cd $(RPMDIR)/SOURCES/xcatha-$(VERSION) && env PATH=$(DISTRO_PATH) python3 packaging/gen.py man packaging/man \
	  && env PATH=$(DISTRO_PATH) python3 packaging/gen.py completion packaging/xcatha.bash
	tar -C $(RPMDIR)/SOURCES --owner=0 --group=0 -czf $(RPMDIR)/SOURCES/xcatha-$(VERSION).tar.gz xcatha-$(VERSION)
	env PATH=$(DISTRO_PATH) rpmbuild -ba --nodeps --define "_topdir $(abspath $(RPMDIR))" packaging/rpm/xcatha.spec
	rpmlint -r packaging/rpm/rpmlintrc packaging/rpm/xcatha.spec $(RPMDIR)/RPMS/noarch/*.rpm $(RPMDIR)/SRPMS/*.rpm
	@echo "built" $(RPMDIR)/RPMS/noarch/*.rpm $(RPMDIR)/SRPMS/*.rpm

# The package on this host, as a site installs it (apt resolves the Depends from
# Debian): `make test` needs the agents where pcs looks for them.  What a
# development `make install` left is removed first, lest it shadow the package.
install-deb: deb
	rm -rf $(PREFIX) $(UNITDIR)/xcatha-boot-cleanup.service $(UNITDIR)/xcatha-backup.service \
	  $(UNITDIR)/xcatha-backup.timer $(UNITDIR)/xcatha-sync.path $(UNITDIR)/xcatha-sync.service
	for cmd in xcatha activate-xcatmn deactivate-xcatmn; do \
	  if [ -L $(SBINDIR)/$$cmd ]; then rm -f $(SBINDIR)/$$cmd; fi; \
	done
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --reinstall $(abspath $(DEBDIR))/xcatha_$(VERSION)_all.deb

# The developer/test environment: the package (editable) plus the test tools.
venv: $(VENV)/.done
$(VENV)/.done: setup.cfg pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e . $(TEST_PIP)
	touch $@

lint: venv
	$(VENV)/bin/ruff check lib tests packaging $(wildcard bench) agents/* share/alert tests/sample_agent
	$(VENV)/bin/vermin -q --no-tips --violations --eval-annotations -t=3.9- lib agents/* share/alert packaging

unit: venv
	$(VENV)/bin/pytest -q tests/unit $(PYTEST_ARGS)

# The unit tier under every supported Python, each in its own .venv-<version>: a
# pyenv build (installed with pyenv if pyenv is there), else python<version> on
# PATH; one that cannot be found is skipped with the reason, and a summary says so.
# A failure under any of them fails the target.  UNIT_IN_PYTEST: a version whose
# unit tier runs elsewhere (make test's pytest runs it under .venv's Python).
unit-pythons:
	@skipped=; failed=; for v in $(PYTHONS); do \
	  if [ "$$v" = "$(UNIT_IN_PYTEST)" ]; then \
	    echo "== python$$v: the unit tier runs in make test's pytest, under $$($(TESTPY) -V) ($(VENV))"; continue; fi; \
	  py=$$( (ls -d $(PYENV_ROOT)/versions/$$v.*/bin/python$$v 2>/dev/null || true) | sort -V | tail -1); \
	  if [ -z "$$py" ] && command -v pyenv >/dev/null; then \
	    echo "python$$v: not built yet, pyenv install $$v"; \
	    pyenv install -s $$v || echo "pyenv install $$v failed"; \
	    py=$$( (ls -d $(PYENV_ROOT)/versions/$$v.*/bin/python$$v 2>/dev/null || true) | sort -V | tail -1); fi; \
	  [ -n "$$py" ] || py=$$(command -v python$$v || true); \
	  if [ -z "$$py" ]; then \
	    echo "SKIPPED python$$v: no pyenv build in $(PYENV_ROOT)/versions (nor could pyenv make one), no python$$v on PATH"; \
	    skipped="$$skipped $$v"; continue; fi; \
	  env=$(VENV)-$$v; \
	  if [ "$$(cat $$env/.done 2>/dev/null)" != "$(UNIT_PIP)" ] || [ setup.cfg -nt $$env/.done ]; then \
	    rm -rf $$env && $$py -m venv $$env && \
	    $$env/bin/python -m pip install -q --disable-pip-version-check -e . $(UNIT_PIP) && \
	    echo "$(UNIT_PIP)" > $$env/.done; fi; \
	  echo "== unit tier on $$($$env/bin/python -V) ($$py)"; \
	  $$env/bin/pytest -q -p no:randomly tests/unit $(PYTEST_ARGS) || failed="$$failed $$v"; \
	done; \
	if [ -n "$$skipped" ]; then echo "unit tier NOT run on python:$$skipped (see SKIPPED above)"; fi; \
	if [ -n "$$failed" ]; then echo "unit tier FAILED on python:$$failed"; exit 1; fi

# --durations: the slowest tests named in every run (CI's included), against the 60-minute budget
test: UNIT_IN_PYTEST = $(shell $(TESTPY) -c 'import sys; print("%d.%d" % sys.version_info[:2])')
test: deps install-deb rpm venv lint unit-pythons
	$(VENV)/bin/pytest -q --durations=20 $(PYTEST_ARGS)

demo: deps venv
	PYTHONPATH=$(CURDIR)/tests $(TESTPY) -m lab.demo

# The lab's own code needs only the standard library: tear down even without .venv.
lab-down:
	PYTHONPATH=$(CURDIR)/tests $(if $(wildcard $(VENV)/bin/python),$(TESTPY),$(PYTHON)) -m lab down

NODE ?= host1
lab-shell:
	@if [ "$(NODE)" = client ]; then ip netns exec xha-client bash; \
	else PYTHONPATH=$(CURDIR)/tests $(TESTPY) -m lab shell $(NODE); fi

bench: deps venv
	$(VENV)/bin/python -m pip install -q matplotlib
	PYTHONPATH=$(CURDIR)/tests:$(CURDIR) $(TESTPY) -m bench --trials $(TRIALS) $(if $(ARBITER),--arbiter) $(if $(TOKEN),--token $(TOKEN) --out bench/results/token-$(TOKEN))

faults: deps venv
	PYTHONPATH=$(CURDIR)/tests $(TESTPY) -m faults --count $(COUNT) $(if $(SEED),--seed $(SEED)) $(if $(ARBITER),--arbiter) $(if $(ENGINE),--engine $(ENGINE)) $(if $(PART),--part $(PART))

clean:
	rm -rf $(VENV) $(addprefix $(VENV)-,$(PYTHONS)) build lib/*.egg-info .pytest_cache .ruff_cache
