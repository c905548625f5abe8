// The interpreter of the tests that run the original's Python dynamic inventories. Debian's
// /usr/bin/python3, which has PyYAML from the python3-yaml package (.ci/run installs both): the
// python3 first in PATH may be another one without it (a pyenv shim on the development machine).
// NETPROBIFY_TEST_PYTHON names another one.
export const PYTHON = process.env.NETPROBIFY_TEST_PYTHON ?? "/usr/bin/python3";
