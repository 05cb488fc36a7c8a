/** Node's process.arch → Go's GOARCH names, used by latest.json and OCI platforms. */
const GO_ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  riscv64: 'riscv64',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  loong64: 'loong64',
};

export function goArch(nodeArch: string = process.arch): string {
  return GO_ARCH[nodeArch] ?? nodeArch;
}
