// Paths shared by tests: the repository root and fixtures, found from the compiled test's location
// (dist/test/...), so tests work from any working directory.
import { fileURLToPath } from "node:url";

export const REPO = fileURLToPath(new URL("../../../", import.meta.url));
export const FIXTURES = `${REPO}test/fixtures/`;
export const BIN = `${REPO}bin/netprobify.js`;
