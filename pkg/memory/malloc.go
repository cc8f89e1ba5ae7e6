package memory

/*
#include <malloc.h>
*/
import "C"

// ReduceFragmentation makes glibc serve allocations of 128 KiB and up with mmap, so the frame-sized buffers that
// OpenCV and ONNX Runtime allocate and free go back to the system instead of fragmenting the heap. Measured on a
// 10-minute 1080p job: peak RSS +12% over a 10-second one with glibc's default (its threshold adapts upward),
// +2.7% with this threshold (set then through MALLOC_MMAP_THRESHOLD_=131072, which also reached the ffmpeg children;
// mallopt here does not reach them, so pkg/media fixes their threshold through that variable). The decoder and
// encoder now run in this process under this threshold: their frame buffers come from libavcodec's pools and are
// allocated once per segment, not per frame.
func ReduceFragmentation() {
	C.mallopt(C.M_MMAP_THRESHOLD, 128<<10)
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
