// In-process decoding and encoding with FFmpeg's libraries (libavformat, libavcodec, libswscale): the same work
// the ffmpeg command does for the Decoder and Encoder, without a second process and without every frame crossing a
// pipe twice. See libav.c.
#ifndef FACEFLEET_LIBAV_H
#define FACEFLEET_LIBAV_H

#include <stddef.h>
#include <stdint.h>

// Errors of our own, beside FFmpeg's AVERROR codes (which are small negative numbers).
#define FF_ERR_NO_VIDEO (-0x46460001) // the file has no video stream
#define FF_ERR_NO_CODEC (-0x46460002) // no decoder or encoder for the stream or name
#define FF_ERR_HELD (-0x46460003)     // the encoder kept a reference to a frame it was lent
#define FF_ERR_OPTION (-0x46460004)   // an encoder option was not used (misspelt or not for this codec)
#define FF_ERR_FORMAT (-0x46460005)   // a container this code does not handle (the caller has another way)

// FF_FRAME_PADDING is the room a frame buffer needs after its last byte for libswscale to convert into and out of
// it in place. Its SIMD converters work in blocks of pixels: a yuv420p picture converted to bgr24 gets up to 45
// bytes written past its last row, and bgr24 read into yuv420p up to 25 bytes read past it (FFmpeg 5.1, x86-64;
// TestFrameBufferBounds tries every shape against a guard page). Twice the most measured, as a margin for other
// CPUs' code paths. A buffer without this room is still safe: it is converted through a padded copy.
#define FF_FRAME_PADDING 128

// Pixel formats of the frames the Go side reads and writes.
enum { FF_BGR24 = 0, FF_YUV420P = 1 };

typedef struct ffdec ffdec;
typedef struct AVFrame AVFrame;
typedef struct ffenc ffenc;

ffdec *ffdec_new(void);
int ffdec_open(ffdec *d, const char *path, int threads, int width, int height, int pixfmt);
// ffdec_read fills dst (FrameBytes of the configured size and format, cap bytes writable) with the next frame: 0,
// AVERROR_EOF after the last frame, or another error. Frames that fail to decode are skipped and counted
// (ffdec_damaged). A frame that must be converted goes straight into dst only when dst's rows are 64-byte
// multiples and cap leaves FF_FRAME_PADDING; otherwise through a scratch picture, copied: nothing is ever written
// past dst + FrameBytes.
int ffdec_read(ffdec *d, uint8_t *dst, size_t cap);
// ffdec_read_ref is ffdec_read without the copy: dst (unreferenced first) takes the decoded picture itself when
// it already has the configured size and format, a converted one otherwise. The decoder may still read the
// picture as a reference for later frames: it must not be written.
int ffdec_read_ref(ffdec *d, AVFrame *dst);
// ffdec_read_keep is ffdec_read (bgr24) that also hands keep (unreferenced first) the decoded picture itself, when
// it is yuv420p (or yuvj420p) of the configured size; keep stays empty otherwise. As with ffdec_read_ref, the
// picture must not be written while the decoder may read it: ffpatch_apply copies it before its first change.
int ffdec_read_keep(ffdec *d, uint8_t *dst, size_t cap, AVFrame *keep);
int ffdec_damaged(ffdec *d);
// ffdec_pts is the last frame's presentation time in the stream's time base (tb_num/tb_den), AV_NOPTS_VALUE if it
// has none.
int64_t ffdec_pts(ffdec *d, int *tb_num, int *tb_den);
void ffdec_free(ffdec *d);

ffenc *ffenc_new(void);
// ffenc_open opens the encoder and writes the container header. sar_num/sar_den is the sample aspect ratio (unset
// unless both are positive). opts are the codec's options as "key=value" lines separated by '\n'; every one must be
// used. Colour names may be "" (unspecified).
int ffenc_open(ffenc *e, const char *path, const char *format, const char *codec, int width, int height,
               int in_pixfmt, int lossless, int rate_num, int rate_den, int sar_num, int sar_den, int timescale,
               int threads, const char *opts, const char *colorspace, const char *range, const char *primaries,
               const char *transfer, uint32_t codec_tag);
// Before ffenc_open: ffenc_time_base sets the encoder's time base (default 1/rate, frame i at i); ffenc_size the
// coded size of a yuv420p output (default the input's), which the input is padded to at the right and bottom.
void ffenc_time_base(ffenc *e, int num, int den);
void ffenc_size(ffenc *e, int width, int height);
// ffenc_write encodes the frame at src (cap bytes readable, at least FrameBytes of the input's size and format);
// with cap below FrameBytes + FF_FRAME_PADDING a frame that must be converted is copied into a padded buffer
// first: nothing is ever read past src + FrameBytes.
int ffenc_write(ffenc *e, const uint8_t *src, size_t cap);
// ffenc_write_ref encodes a picture held by reference (from ffdec_read_ref), which must have the input's size and
// format and need no conversion; the encoder takes its own references, src keeps its own.
int ffenc_write_ref(ffenc *e, const AVFrame *src);
// ffenc_stamp gives the next frame written its time, in the encoder's time base; unstamped frames are numbered 0,
// 1, 2 ... (constant rate).
void ffenc_stamp(ffenc *e, int64_t pts);
// ffenc_finish drains the encoder and writes the trailer; the file is complete when it returns 0. With stamps,
// end > 0 is where the last frame ends (time base units), and the track ends there.
int ffenc_finish(ffenc *e, int64_t end);
void ffenc_free(ffenc *e);

// ffconv converts rectangles of yuv420p (or yuvj420p) pictures to bgr24 as the decoder converts whole frames
// (libswscale, the picture's own matrix and range): ffconv_rect writes the part rect {x0, y0, x1, y1} of f into
// dst, a bgr24 frame of f's size with rows packed (cap bytes), at the same place, and sets rect to what it
// converted: rect clamped to the picture and widened to even edges and to a size it can convert again without a
// new swscale context (nothing when empty). Pixels outside rect are not written. Not safe for concurrent use.
typedef struct ffconv ffconv;
ffconv *ffconv_new(void);
int ffconv_rect(ffconv *c, const AVFrame *f, uint8_t *dst, size_t cap, int rect[4]);
// ffconv_thumb samples f's picture at tw x th points, the centres of a tw x th grid over it, into dst (bgr24,
// tw*th*3 bytes), each converted with the picture's matrix and range: a thumbnail that reads tw*th pixels.
int ffconv_thumb(const AVFrame *f, uint8_t *dst, int tw, int th);
void ffconv_free(ffconv *c);

// ffpatch writes a processed bgr24 frame back into the yuv420p picture it was decoded from (ffdec_read_keep,
// ffdec_read_ref): inside the n rectangles rects (x0, y0, x1, y1 each: where the frame may have been changed),
// only the 2x2 blocks holding a pixel that differs from the picture's own conversion to bgr24 (ffconv_rect's, the
// same as the decoder's) are coded again, with the inverse of the matrix and range it was decoded with; every
// other sample stays as decoded. ffpatch_color gives the target's tags, the matrix of a frame whose picture was
// not kept (keep empty: every pixel is coded, whatever rects say). *changed is the number of blocks coded. w and
// h must be even; cap is bgr's size in bytes.
typedef struct ffpatch ffpatch;
ffpatch *ffpatch_new(void);
void ffpatch_color(ffpatch *p, const char *colorspace, const char *range);
int ffpatch_apply(ffpatch *p, AVFrame *keep, const uint8_t *bgr, size_t cap, int w, int h, const int *rects, int n,
                  int *changed);
void ffpatch_free(ffpatch *p);

// The last error-level messages FFmpeg logged about this decoder's or encoder's contexts ("" if none), as the
// ffmpeg command prints them at -v error; n bytes at most, NUL-terminated.
void ffdec_log(ffdec *d, char *buf, size_t n);
void ffenc_log(ffenc *e, char *buf, size_t n);

// ffscan reads what ffprobe -select_streams V:0 would show of path's first video stream (stream -1 if none):
// its time base, start and duration, the container's start (AV_TIME_BASE units), and with packets > 0 every
// packet's timestamps, duration and flags, in file order. packets < 0 reads only what the header says (libav.c
// open_header: for MP4 the starts may differ from ffprobe's). Times are AV_NOPTS_VALUE where unknown. packets is
// malloc'd: ffscan_free releases it.
typedef struct {
	int64_t pts, dts, duration;
	int flags;
} ffpacket;

typedef struct {
	int stream;
	int tb_num, tb_den;
	int64_t start, duration, format_start;
	int64_t nb_frames; // the container header's frame count (an MP4's sample table); 0 if it gives none
	ffpacket *packets;
	int n;
} ffscan_result;

// SCAN_OWN_PIECE as ffscan's packets: every packet of a piece Split wrote, its stream read from its header alone.
#define SCAN_OWN_PIECE 2

int ffscan(const char *path, int packets, ffscan_result *res, char *log, size_t loglen);
void ffscan_free(ffscan_result *res);

// ffscan_index is ffscan with every packet, read from an MP4's or MOV's sample tables without reading the samples
// (libav.c skipio): 1 where it cannot (not ISO BMFF, fragmented, a video codec other than H.264 or HEVC, an input
// that cannot seek), which the caller scans with ffscan.
int ffscan_index(const char *path, ffscan_result *res, char *log, size_t loglen);

// ffprobe_file reads what Probe takes from ffprobe -show_format -show_streams. Names are "" where ffprobe prints
// "unknown"; durations are in the stream's time base (the container's in AV_TIME_BASE), AV_NOPTS_VALUE if unknown.
typedef struct {
	char type[16], codec[32], pix_fmt[32];
	char space[32], range[16], primaries[32], transfer[32];
	char rotate_tag[32];
	int width, height;
	int r_num, r_den, avg_num, avg_den;
	int sar_num, sar_den; // as ffprobe guesses it: the container's, else the codec's; 0 if unknown
	int bits_per_raw_sample;
	int attached_pic;
	int has_rotation;
	double rotation; // the display matrix's, counter-clockwise degrees
	int64_t duration;
	int tb_num, tb_den;
} ffstream_info;

typedef struct {
	char format[64];
	int64_t duration;
	ffstream_info *streams;
	int n;
} ffprobe_result;

int ffprobe_file(const char *path, ffprobe_result *res, char *log, size_t loglen);
void ffprobe_free(ffprobe_result *res);

// ffremux writes path (container format) from the first video stream of the ffconcat list, shifted by
// list_offset_us, and the first audio stream of audio ("" for none), both copied; tags are ntags key, value pairs
// for the container, rotate the video's rotate tag ("" for none), movflags != 0 adds +use_metadata_tags. It stops
// with AVERROR_EXIT once *stop is non-zero (set by another thread). *video_packets is the number of video packets
// written. Returns 0 or an error with FFmpeg's messages in logbuf. See libav.c for the ffmpeg command it stands for.
int ffremux(const char *list, int64_t list_offset_us, const char *audio, const char *path, const char *format,
            const char *const *tags, int ntags, const char *rotate, int movflags, const int *stop,
            int64_t *video_packets, char *logbuf, size_t loglen);

// ffcopy writes path (container format) from the first video stream of in_path, copied and shifted to start at 0,
// opening in_path once. *video_packets is the number of packets written.
// Returns 0 or an error with FFmpeg's messages in logbuf.
int ffcopy(const char *in_path, const char *path, const char *format, int64_t *video_packets, char *logbuf,
           size_t loglen);
// ffsplit cuts the first video stream of src into pieces, one a call, as ffmpeg's segment muxer does (see libav.c):
// ffsplit_open opens src (a file or URL), or returns FF_ERR_FORMAT for a container other than MP4 or MOV;
// ffsplit_piece writes path (container format) from the packets after the last piece's, up to the first keyframe
// at or after the cut-th packet of the stream (decode order, counted from the first keyframe), with its timestamps
// reset to start at 0, and counts them in *packets; at the stream's end it writes nothing and returns 0 with
// *packets 0. Both stop with AVERROR_EXIT once *stop is non-zero; *stop must outlive the splitter. Errors come with
// FFmpeg's messages in logbuf. ffsplit_free releases it.
typedef struct ffsplit ffsplit;
int ffsplit_open(ffsplit **s, const char *src, const int *stop, char *logbuf, size_t loglen);
int ffsplit_piece(ffsplit *s, const char *path, const char *format, int64_t cut, int64_t *packets, char *logbuf,
                  size_t loglen);
void ffsplit_free(ffsplit *s);

// ffappend is ffremux one piece at a time (the progressive stitch): ffappend_open writes path's header with the
// video stream of first (not yet its packets) and the first audio stream of audio ("" for none), tags, rotate and
// movflags as ffremux's; ffappend_piece appends a piece's video packets, shifted as the concat demuxer shifts
// them, with the audio up to them, counting them in *packets, and flushes what the muxer wrote; ffappend_written
// is how many bytes of path are written (every byte past the container's first ones is final: the MP4 muxer
// patches only its mdat size near the start at the trailer); ffappend_close writes the rest of the audio and the
// trailer. All stop with AVERROR_EXIT once *stop is non-zero; *stop must outlive the appender. Errors come with
// FFmpeg's messages in logbuf. ffappend_free releases it (and closes path if still open).
typedef struct ffappend ffappend;
int ffappend_open(ffappend **a, const char *first, int64_t list_offset_us, const char *audio, const char *path,
                  const char *format, const char *const *tags, int ntags, const char *rotate, int movflags,
                  const int *stop, char *logbuf, size_t loglen);
int ffappend_piece(ffappend *a, const char *path, int64_t duration, int tb_num, int tb_den, int64_t *packets,
                   char *logbuf, size_t loglen);
int64_t ffappend_written(ffappend *a);
int ffappend_close(ffappend *a, char *logbuf, size_t loglen);
void ffappend_free(ffappend *a);

#endif
