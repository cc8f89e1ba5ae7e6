package memory

// The decoder's and encoder's memory. pkg/media decodes and encodes in this process with FFmpeg's libraries. The
// encoders' model below was measured on the ffmpeg command doing the same work, so each figure also holds that
// process's own base (its binary and shared libraries, ~40-60 MiB), which in process is already counted once in
// ProcessBytes (inProcess takes it off), and the command's queue of raw frames read from its pipe: the estimate errs
// high by that (4K, x264, 3 threads: 853 MiB modelled, 807 MiB measured in process).
//
// The decoder is measured in process (decoderModel below): the ffmpeg command's figures held its output queue and
// scaler frames, which pkg/media's decoder does not have, and were 2.5 to 4 times its real cost (4K, 3 threads: 477
// MiB modelled from the command, 145 MiB measured in process), so that a 10000x10000 plan asked for 5.3 GB of
// decoder where 1.7 GB were used.
//
// The ffmpeg children's peak RSS (the decoder's rows are the old model's, kept for comparison), measured on machine
// A (2 cores AMD EPYC, 24 GiB, no GPU; Debian ffmpeg 5.1.9, libx264 164, x265 3.5, libvpx 1.12) with
// /usr/bin/time's maximum RSS, running exactly the argument lists of pkg/media: the decoder reads an x264 (preset medium, crf 20, 3 refs, 3 b-frames) file made from the webcam sample
// scaled to 854x480, 1920x1080 or 3840x2160 (60 frames) and writes bgr24 to a pipe; the encoder reads bgr24 from a
// pipe and writes crf 18 (VP9: crf 22), preset veryfast (VP9: -deadline good -cpu-used 4 -row-mt 1). Peaks in MiB;
// "max of n" where runs were repeated. The decoder's peak is bimodal from run to run (glibc's dynamic mmap threshold
// keeps freed 6-25 MB frame buffers in the heap or not): 4K, 1 thread, 14 runs: 233 to 375 MiB.
//
//	decoder (h264 in)          480p   1080p     4K
//	  threads 1 (max of 6+)      68     128     375
//	  threads 2 (max of 6)       73     137     406
//	  threads 4 (max of 6)       79     156     448
//	  threads 8 (max of 6)       89     182     541
//	  threads 16                102     228     716
//	  ffmpeg default (2 cores)   74     143     404   (3 threads)
//	x264 veryfast, rc-lookahead 10 (the preset's default), max of 4 runs; then -rc-lookahead 5; then 0
//	  threads 1                  87     221     663   |  79  187  540  |  74  171  489
//	  threads 2                  98     272     837   |  90  237  713  |  84  222  663
//	  threads 4                 105     314     932   |  96  282  811  |  93  263  761
//	  threads 8                 121     389    1149   | 113  354 1028  | 110  341  979
//	  ffmpeg default (2 cores)  101     289     908   |  90  255  786  |  91  244  734
//	x265 veryfast (rc-lookahead 15): -threads sets x265's frame threads; its pool has one thread per core
//	  threads 1                 157     406    1295
//	  threads 2                 160     428    1381
//	  threads 4                 176     486    1578
//	  ffmpeg default (2 cores)  157     403    1298   (1 frame thread)
//	  threads 1, rc-lookahead 5 130     328    1003
//	VP9 (lag-in-frames 25)
//	  threads 1                 130     335    1051
//	  threads 2                 135     342    1055
//	  threads 4                 145     352    1072
//	  threads 1, lag 5          103     245     756
//
// The model per codec and thread count is base + pixels x perPixel: a least-squares line through the three sizes
// (of the largest run at each), its base raised until no measurement lies above it (the largest residual, 0-30
// MiB). Between measured thread counts it interpolates linearly, above the last it extrapolates the last segment.
// Decoders get 3 bytes per pixel more (one bgr24 frame, the step between the heap's modes) for the run-to-run
// variation. A lookahead other
// than the codec's default moves perPixel by lookaheadPerPixel per frame (x264: 15.4 B/px for 10 -> 5 at every
// thread count; x265 35.5 B/px for 15 -> 5; VP9 35.3 B/px for 25 -> 5); it is not modelled below SmallLookahead.
// Fit against the measurements (model - measured): at most +38 MiB at 4K (x264 8 threads), +55 MiB at 480p (x264 8 threads),
// never below.

// threadPoint is the model at one measured thread count.
type threadPoint struct {
	threads  int
	base     uint64  // MiB
	perPixel float64 // bytes
}

type codecModel struct {
	points            []threadPoint // default lookahead, ascending threads
	defaultLookahead  int
	lookaheadPerPixel float64 // bytes per pixel per lookahead frame
	maxAutoThreads    int
	autoPerCore       float64 // the encoder's own default threads per core (x264: 1.5); 0 is 1
	// short, when set, bounds the per-pixel cost of an encoder fed only a few frames: it never holds more pictures
	// (lookahead, frame threads, references) than it was given.
	short *shortClip
}

// shortClip is an encoder's per-pixel cost when it is given only frames frames: fixed + perFrame*frames.
//
// x264 veryfast in process (pkg/media's encoder, VmHWM less the RSS before: internal/codecmem), bytes per pixel by
// frames given:
//
//	3840x2160,   3 threads:  5 frames 41.9, 10 frames 68.0, 30 frames 102.0 (the model: 103)
//	10000x10000, 3 threads:  5 frames 38.0, 16 frames 87.1
//	10000x10000, 1 thread:   5 frames 35.0, 16 frames 67.7
//
// 16 + 5.3 per frame lies above all of them (the steepest is 5.2 a frame; with 5.3 the largest intercept is 15.4).
type shortClip struct{ fixed, perFrame float64 }

// shortPerPixel is the per-pixel cost of frames frames, when the model has one and frames is known (> 0).
func (m codecModel) shortPerPixel(frames int) (float64, bool) {
	if m.short == nil || frames <= 0 {
		return 0, false
	}
	return m.short.fixed + m.short.perFrame*float64(frames), true
}

// autoThreads is the thread count the codec picks by itself on cpus cores.
func (m codecModel) autoThreads(cpus int) int {
	if m.autoPerCore == 0 {
		return max(1, cpus)
	}
	return max(1, int(float64(cpus)*m.autoPerCore))
}

// decoderModel is pkg/media's decoder in process: VmHWM less VmRSS before the decoder opened, in a process that
// decodes the same 60-frame x264 files as the table above into one bgr24 buffer (internal/codecmem; max of 3 runs,
// which agreed within 1 MiB). MiB at 480p, 1080p, 4K, then 10000x10000 (16 frames, x264 veryfast), and the model with its
// margin:
//
//	threads 1   14   31   95  1112   model 15  37 119 1324
//	threads 2   17   40  126  1454   model 18  46 150 1680
//	threads 4   23   56  167  1927   model 27  62 193 2119
//	threads 8   32   81  260         model 34  87 284
//	threads 16  50  133  444         model 51 139 468
var decoderModel = codecModel{points: []threadPoint{
	{1, 10, 10.8},
	{2, 11, 14.5},
	{4, 18, 19.0},
	{8, 21, 30.3},
	{16, 30, 52.4},
}}

var encoderModels = map[string]codecModel{
	"libx264": {defaultLookahead: 10, lookaheadPerPixel: 3.0, maxAutoThreads: maxAutoEncoderThreads, autoPerCore: 1.5,
		short: &shortClip{fixed: 16, perFrame: 5.3}, points: []threadPoint{
			{1, 71, 76.2},   // 87, 221, 663; model 101, 222, 674
			{2, 80, 97.6},   // 98, 272, 837; model 118, 273, 852
			{4, 101, 108.4}, // 105, 314, 932; model 143, 315, 958
			{8, 123, 134.5}, // 121, 389, 1149; model 176, 389, 1187
		}},
	"libx265": {defaultLookahead: 15, lookaheadPerPixel: 3.5, maxAutoThreads: 4, points: []threadPoint{
		{1, 108, 151.0}, // 157, 406, 1295; model 167, 407, 1302
		{2, 108, 162.0}, // 160, 428, 1381; model 171, 428, 1389
		{4, 119, 185.8}, // 176, 486, 1578; model 192, 486, 1589
	}},
	"libvpx-vp9": {defaultLookahead: 25, lookaheadPerPixel: 1.75, maxAutoThreads: 4, points: []threadPoint{
		{1, 95, 122.0},  // 130, 335, 1051; model 143, 336, 1060
		{2, 102, 121.8}, // 135, 342, 1055; model 150, 343, 1065
		{4, 110, 122.7}, // 145, 352, 1072; model 158, 353, 1081
	}},
}

// at interpolates the model at threads (at least 1).
func (m codecModel) at(threads int) (base, perPixel float64) {
	threads = max(threads, 1)
	p := m.points
	i := 1
	for i < len(p)-1 && p[i].threads < threads {
		i++
	}
	a, b := p[i-1], p[i]
	f := float64(threads-a.threads) / float64(b.threads-a.threads) // > 1 past the last point
	base = float64(a.base) + f*float64(int64(b.base)-int64(a.base))
	perPixel = a.perPixel + f*(b.perPixel-a.perPixel)
	return base * mib, perPixel
}

func (m codecModel) rss(width, height, threads int, perPixelExtra float64) uint64 {
	base, perPixel := m.at(threads)
	px := float64(max(width, 0)) * float64(max(height, 0))
	return uint64(base + px*(perPixel+perPixelExtra))
}

// ffmpegProcessBytes is the ffmpeg command's own RSS with nothing to do, its binary and shared libraries: 52.6-53.1
// MiB (3 runs of ffmpeg -f lavfi -i nullsrc=s=16x16:d=0.04 -f null -). Every figure above includes it. The decoder
// and encoder now run in this process, whose libraries ProcessBytes already counts, so the plan leaves it out of
// each (inProcess).
const ffmpegProcessBytes = 52 * mib

// inProcess is a modelled ffmpeg process's RSS less what the process itself costs: the codec's share in ours.
func inProcess(rss uint64) uint64 {
	return rss - min(rss, ffmpegProcessBytes)
}

// decoderMargin is the decoder's allowance for streams that hold more reference pictures than the measured ones
// (the 10000x10000 file needed 0.9 B/px more than the fit at 1 thread): one bgr24 frame.
const decoderMargin = 3

// DecoderRSS is the modelled peak memory of pkg/media's decoder in this process (h264 input, bgr24 out) at width x
// height with threads decoder threads (0 is modelled as 1: callers must pass an explicit count, ffmpeg's default
// grows with the machine).
func DecoderRSS(width, height, threads int) uint64 {
	return decoderModel.rss(width, height, threads, decoderMargin)
}

// EncoderRSS is the modelled peak RSS of pkg/media's encoder for codec (libx264 when unknown or "") at width x height
// with threads encoder threads and lookahead frames (0 is the codec's default).
func EncoderRSS(codec string, width, height, threads, lookahead int) uint64 {
	return EncoderRSSFrames(codec, width, height, threads, lookahead, 0)
}

// EncoderRSSFrames is EncoderRSS for an encoder given at most frames frames (0: unknown, as many as it holds): a
// clip shorter than what the encoder buffers never allocates the rest.
func EncoderRSSFrames(codec string, width, height, threads, lookahead, frames int) uint64 {
	full := encoderRSS(codec, width, height, threads, lookahead)
	m, ok := encoderModels[codec]
	if !ok {
		m = encoderModels["libx264"]
	}
	perPixel, ok := m.shortPerPixel(frames)
	if !ok {
		return full
	}
	base, _ := m.at(threads)
	return min(full, uint64(base+float64(max(width, 0))*float64(max(height, 0))*perPixel))
}

func encoderRSS(codec string, width, height, threads, lookahead int) uint64 {
	m, ok := encoderModels[codec]
	if !ok {
		m = encoderModels["libx264"]
	}
	if lookahead <= 0 {
		lookahead = m.defaultLookahead
	}
	extra := float64(max(lookahead, SmallLookahead)-m.defaultLookahead) * m.lookaheadPerPixel
	return m.rss(width, height, threads, extra)
}

// DefaultLookahead is codec's lookahead when none is set: x264 veryfast's rc-lookahead 10, x265 veryfast's 15, VP9's
// lag-in-frames 25; 0 for an unknown codec.
func DefaultLookahead(codec string) int {
	return encoderModels[codec].defaultLookahead
}
