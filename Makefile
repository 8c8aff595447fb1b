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

# What the real xCAT needs to run in the lab's nodes (its debian/control files' Depends).
APT_XCAT    := libio-socket-ssl-perl libxml-simple-perl libdbd-sqlite3-perl libexpect-perl \
               libnet-dns-perl libsoap-lite-perl libxml-libxml-perl libsnmp-perl libdigest-sha-perl \
               libcrypt-rijndael-perl libcrypt-cbc-perl libjson-perl libnet-https-nb-perl \
               libhttp-async-perl libxml-parser-perl libnet-telnet-perl libsort-versions-perl \
               libdbi-perl libdbd-pg-perl libdbd-mysql-perl make ucf openssl openssh-client net-tools
# What the agents need at run time, and what the lab and the tests need on top.
APT_RUNTIME := pacemaker corosync pcs pacemaker-cli-utils resource-agents fence-agents \
               libxml2-utils iputils-arping rsync python3-venv
APT_LAB     := systemd-container ipmitool postgresql mariadb-server mariadb-client bind9 \
               bind9-dnsutils isc-dhcp-server isc-dhcp-client conserver-server \
               conserver-client sqlite3 iproute2 iputils-ping util-linux procps \
               apache2 tftpd-hpa tftp-hpa curl kea-dhcp4-server kea-ctrl-agent \
               kea-dhcp-ddns-server $(APT_XCAT)
# xCAT's own source (a tarball of xcat-core or a directory); the lab installs it in its
# nodes.  Default: ../shared/xcat-core/xcat-core-*.tar.gz beside the repository; without
# one the lab falls back to the test-only stand-in and says so.
XCAT_SRC    ?=
export XCAT_SRC
TEST_PIP    := pytest hypothesis pyghmi ruff vermin

.PHONY: all deps install uninstall venv lint unit test demo lab-down lab-shell bench faults clean

all: install

# Debian packages.  Package scripts must not start daemons on the host (the lab
# nodes boot from the host's root): a temporary policy-rc.d refuses them.
deps:
	@if dpkg-query -W -f='$${Status}\n' $(APT_RUNTIME) $(APT_LAB) 2>/dev/null \
	    | grep -qv '^install ok installed$$' || \
	    [ $$(dpkg-query -W -f='$${Status}\n' $(APT_RUNTIME) $(APT_LAB) 2>/dev/null | wc -l) \
	      -ne $(words $(APT_RUNTIME) $(APT_LAB)) ]; then \
	  policy=/usr/sbin/policy-rc.d; added=; \
	  if [ ! -e $$policy ]; then printf '#!/bin/sh\nexit 101\n' >$$policy; chmod 755 $$policy; added=1; fi; \
	  export DEBIAN_FRONTEND=noninteractive; \
	  apt-get update -qq && apt-get install -y -q --no-install-recommends $(APT_RUNTIME) $(APT_LAB); rc=$$?; \
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
	install -D -m 0644 systemd/xcatha-boot-cleanup.service $(UNITDIR)/xcatha-boot-cleanup.service

uninstall:
	rm -rf $(OCF_ROOT)/resource.d/$(PROVIDER) $(PREFIX)
	rm -f $(SBINDIR)/xcatha $(SBINDIR)/activate-xcatmn $(SBINDIR)/deactivate-xcatmn
	rm -f $(UNITDIR)/xcatha-boot-cleanup.service

# The developer/test environment: the package (editable) plus the test tools.
venv: $(VENV)/.done
$(VENV)/.done: setup.cfg pyproject.toml Makefile
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install -q --upgrade pip
	$(VENV)/bin/python -m pip install -q -e . $(TEST_PIP)
	touch $@

lint: venv
	$(VENV)/bin/ruff check lib tests $(wildcard bench) agents/* tests/sample_agent
	$(VENV)/bin/vermin -q --no-tips --violations --eval-annotations -t=3.9- lib agents/*

unit: venv
	$(VENV)/bin/pytest -q tests/unit $(PYTEST_ARGS)

test: deps install venv lint
	$(VENV)/bin/pytest -q $(PYTEST_ARGS)

demo: deps install venv
	PYTHONPATH=$(CURDIR)/tests $(TESTPY) -m lab.demo

# The lab's own code needs only the standard library: tear down even without .venv.
lab-down:
	PYTHONPATH=$(CURDIR)/tests $(if $(wildcard $(VENV)/bin/python),$(TESTPY),$(PYTHON)) -m lab down

NODE ?= host1
lab-shell:
	@if [ "$(NODE)" = client ]; then ip netns exec xha-client bash; \
	else PYTHONPATH=$(CURDIR)/tests $(TESTPY) -m lab shell $(NODE); fi

bench: deps install venv
	$(VENV)/bin/python -m pip install -q matplotlib
	PYTHONPATH=$(CURDIR)/tests:$(CURDIR) $(TESTPY) -m bench --trials $(TRIALS)

faults: deps install venv
	PYTHONPATH=$(CURDIR)/tests $(TESTPY) -m faults --count $(COUNT) $(if $(SEED),--seed $(SEED))

clean:
	rm -rf $(VENV) build lib/*.egg-info .pytest_cache .ruff_cache
