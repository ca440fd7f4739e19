"""helpers.envcheck: the CPU's INT8 instruction sets, read from its flags (the checks tools/check_environment.py builds on
this module are tested in test_check_environment.py)."""

import os
import shutil
import subprocess

import pytest

from helpers import envcheck


# Excerpts of /proc/cpuinfo from two real machines (a Sapphire Rapids server, a Graviton 3).
X86_CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Platinum 8488C
flags\t\t: fpu vme sse4_2 avx2 avx512f avx512_vnni amx_bf16 amx_tile amx_int8
vmx flags\t: vnmi preemption_timer invvpid
bugs\t\t: spectre_v1 spectre_v2
"""
ARM_CPUINFO = """processor\t: 0
BogoMIPS\t: 2100.00
Features\t: fp asimd evtstrm aes pmull sha1 sha2 crc32 atomics fphp asimdhp cpuid asimdrdm jscvt fcma lrcpc dcpop sha3 sm3 sm4 asimddp sve
CPU implementer\t: 0x41
"""


def test_int8_instruction_sets_are_read_from_the_cpu_flags():
    found = envcheck.int8_instruction_sets({"sse4_2", "avx2", "avx512_vnni"})
    assert found == {"AVX2": True, "AVX-512 VNNI": True, "AVX-VNNI": False, "AMX-INT8": False, "ARM dot product": False}
    assert envcheck.int8_instruction_sets({"asimd", "asimddp"})["ARM dot product"] is True


def test_cpu_flags_are_read_from_x86_and_arm_cpuinfo():
    x86 = envcheck.cpu_flags(X86_CPUINFO)
    assert x86 == {"fpu", "vme", "sse4_2", "avx2", "avx512f", "avx512_vnni", "amx_bf16", "amx_tile", "amx_int8"}
    assert envcheck.int8_instruction_sets(x86) == {"AVX2": True, "AVX-512 VNNI": True, "AVX-VNNI": False,
                                                   "AMX-INT8": True, "ARM dot product": False}
    arm = envcheck.cpu_flags(ARM_CPUINFO)
    assert {"asimd", "asimddp", "sve"} <= arm and len(arm) == 22
    assert envcheck.int8_instruction_sets(arm) == {"AVX2": False, "AVX-512 VNNI": False, "AVX-VNNI": False,
                                                   "AMX-INT8": False, "ARM dot product": True}
    assert envcheck.cpu_flags("processor\t: 0\n") == set()


def test_this_machines_flags_agree_with_lscpu():
    """The independent truth for this machine: util-linux's lscpu, which reads the CPU flags its own way."""
    if shutil.which("lscpu") is None:
        pytest.skip("lscpu (util-linux) is not installed, so there is no second reader of the CPU flags")
    lines = subprocess.run(["lscpu"], capture_output=True, text=True, env={**os.environ, "LC_ALL": "C"}).stdout.splitlines()
    flags = next((set(line.split(":", 1)[1].split()) for line in lines if line.startswith("Flags:")), None)
    if flags is None:
        pytest.skip("lscpu lists no CPU flags on this machine")
    assert envcheck.cpu_flags() == flags
    assert envcheck.int8_instruction_sets() == {name: flag in flags for flag, name in envcheck.INT8_INSTRUCTION_SETS.items()}
