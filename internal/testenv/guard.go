package testenv

import (
	"os"
	"syscall"
	"testing"
)

// GuardedBytes returns a slice of n bytes, capacity c (>= n), whose capacity ends exactly where an inaccessible
// page begins: code that reads or writes a byte past it — C code that no sanitizer instruments, such as FFmpeg's
// SIMD converters — crashes the test at once instead of corrupting the heap silently. The memory is unmapped
// when the test ends.
func GuardedBytes(tb testing.TB, n, c int) []byte {
	tb.Helper()
	if c < n {
		tb.Fatalf("GuardedBytes: capacity %d below length %d", c, n)
	}
	page := os.Getpagesize()
	data := (c + page - 1) / page * page
	mem, err := syscall.Mmap(-1, 0, data+page, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		tb.Fatalf("GuardedBytes: mmap: %v", err)
	}
	if err := syscall.Mprotect(mem[data:], syscall.PROT_NONE); err != nil {
		tb.Fatalf("GuardedBytes: mprotect: %v", err)
	}
	tb.Cleanup(func() { _ = syscall.Munmap(mem) })
	start := data - c
	return mem[start : start+n : data]
}
