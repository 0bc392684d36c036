"""The toolchain for user programs: assembler, C compiler driver, program lookup, generated headers."""
