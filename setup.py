# The metadata is in setup.cfg.  This shim lets the RPM distros' %py3_build /
# %python3_build build it with their own, older setuptools (EL9 ships 53).
from setuptools import setup

setup()
