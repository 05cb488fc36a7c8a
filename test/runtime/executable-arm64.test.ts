/**
 * dist/kubesolo-update-linux-arm64 (`npm run package`) under user-mode emulation
 * (qemu-aarch64-static, Debian qemu-user-static) with the arm64 C/C++ runtime of the
 * Debian cross packages: the arm64 executable is run, not only built.
 */
import { executableSuite } from './executable-suite.js';

executableSuite('arm64');
