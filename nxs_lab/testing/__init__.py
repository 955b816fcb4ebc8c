"""Test helpers for users' own tests and drills: real misbehaving servers on loopback (the fault kit).

Not imported by the runtime core.
"""

from .faults import Fault, FaultServer, FaultSpec, fault_process

__all__ = ["Fault", "FaultServer", "FaultSpec", "fault_process"]
