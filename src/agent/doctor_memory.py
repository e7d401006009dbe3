# The allocation `sandbox-mcp doctor` runs inside a jailed box to see the memory limit hold: argv[1] chunks of 16 MiB.
import sys


def main(argv):
    chunks = []
    for _ in range(int(argv[1])):
        chunks.append(b'\x01' * (16 << 20))
    print('survived', len(chunks) * 16, 'MiB')


if __name__ == '__main__':
    main(sys.argv)
