"""xcatha: Pacemaker OCF resource agents for a highly available xCAT management node."""
__version__ = "0.1.0"
