"""The record of translated pages (emu.icount.CodePages): every block a CPU
translates sets the bit of each page its bytes lie in, from the CPU's first
block on (docs/unicorn.md "Code coherence between CPUs"); dropping all
code clears it; another CPU's record is its own."""

from unicorn.unicorn_py3.unicorn import uclib

from emu.machine import Machine


def run(cpu, pa):
    cpu.on_interrupt = lambda intno: cpu.stop()
    assert uclib.uc_emu_start(cpu.uch, pa, 0, 0, 0) == 0


def test_translated_pages_are_recorded_until_a_flush():
    m = Machine(8 << 20)
    m.write(0x10000, b"\xcd\x80")               # int 0x80: first block
    m.write(0x21ffe, b"\x90\x90\xcd\x80")       # a block across two pages
    cpu, other = m.cpus[0], Machine(4 << 20).cpus[0]
    run(cpu, 0x10000)
    run(cpu, 0x21ffe)
    assert list(cpu.code_pages.in_range(0, 1 << 32)) == [
        0x10000, 0x21000, 0x22000]
    assert cpu.may_hold_code(0x10abc) and not cpu.may_hold_code(0x11000)
    assert list(cpu.code_pages.in_range(0x22000, 0x23000)) == [0x22000]
    assert not other.may_hold_code(0x10000)
    cpu.flush_code()
    assert list(cpu.code_pages.in_range(0, 1 << 32)) == []
