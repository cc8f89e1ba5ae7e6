package memory

/*
#include <malloc.h>
*/
import "C"

// ReduceFragmentation fixes glibc's mmap threshold at 4 MiB. Left alone, glibc raises the threshold each time a
// large mmapped block is freed, so the frame-sized buffers that OpenCV, ONNX Runtime and libavcodec allocate and
// free drift from mmap into the heap as a run goes on, and a long job's heap fragments (a 10-minute 1080p job
// peaked +12% over a 10-second one). Setting the threshold at all turns that adjustment off; its value sets the
// price, measured on machine A with the codecs in this process (docs/BENCHMARKS.md):
//   - 128 KiB (the value until then): the kernel's page clearing took 3.6-3.9% of a no-op 1080p job's CPU (perf:
//     clear_page_erms; 0.2% in a plain ffmpeg), and a mesh-swap job ran at 26.6 frames/s;
//   - 4 MiB: clearing 0.3%, the mesh job at 28.7 frames/s, the 10-minute peak +4.6% over the 10-second one (0.45
//     against 0.43 GB, flat from the first minute to the last);
//   - 32 MiB (what the ffmpeg children get): as fast, but the 10-minute peak +12.6%.
func ReduceFragmentation() {
	C.mallopt(C.M_MMAP_THRESHOLD, 4<<20)
}

// ReleaseFreed hands the pages of memory freed so far back to the system: glibc's malloc_trim(0), which also frees
// whole free pages inside every arena, not only at their tops. Call it when a segment's decoder and encoder have
// closed. They run in this process on their own threads, whose malloc arenas keep the pages of their freed
// allocations: measured on 1080p segments decoded and encoded one after another in one process, RSS after each
// rose 50.7 -> 69.3 MiB over 10 segments without it and stayed at 53-54 MiB with it (a 10-minute job's peak had
// grown to +5.3% over a 10-second one's).
func ReleaseFreed() {
	C.malloc_trim(0)
}
