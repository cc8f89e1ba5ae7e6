// In-process decode and encode. Each function mirrors what pkg/media asks of the ffmpeg command (see
// process_decoder.go and process_encoder.go for the command lines), so both give the same frames and files:
// - the decoder is "-noautorotate -i F -map 0:V:0 -fps_mode passthrough -vf scale=W:H -pix_fmt P -f rawvideo":
//   every decoded frame of the first video stream that is not a cover picture, converted by libswscale with
//   bicubic scaling and the frame's own matrix and range, as ffmpeg's scale filter does;
// - the encoder is "-f rawvideo ... -i pipe: [-vf pad,scale=out_color_matrix=bt709:out_range=tv] -c:v C ...":
//   frame i stamped i/rate, options given to the codec by name. Frames stamped with their own times
//   (ffenc_stamp: a variable rate) have no command line here: a raw pipe carries no timestamps.
// FFmpeg's log goes through one callback that files each message under the decoder or encoder whose context
// logged it (nothing reaches our stderr), so errors carry what ffmpeg would have printed.
#include "libav.h"

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/intreadwrite.h>
#include <libavutil/opt.h>
#include <libavutil/pixdesc.h>
#include <libswscale/swscale.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// URL_TIMEOUT_US bounds each network read of an input opened by URL (a stored target read in place): a server
// that stops answering fails the read instead of hanging the job.
#define URL_TIMEOUT_US "30000000"

// ---- log ----

#define LOG_CAP 8192

typedef struct fflog {
	pthread_mutex_t mu;
	char buf[LOG_CAP];
	size_t len;
} fflog;

static void log_init(fflog *l) {
	pthread_mutex_init(&l->mu, NULL);
	l->len = 0;
	l->buf[0] = 0;
}

// log_append keeps the newest bytes: a damaged file can log one error per frame for hours.
static void log_append(fflog *l, const char *s) {
	size_t n = strlen(s);
	if (n >= LOG_CAP / 2) {
		s += n - (LOG_CAP / 2 - 1);
		n = LOG_CAP / 2 - 1;
	}
	pthread_mutex_lock(&l->mu);
	if (l->len + n >= LOG_CAP) {
		size_t drop = l->len + n - (LOG_CAP - 1);
		memmove(l->buf, l->buf + drop, l->len - drop);
		l->len -= drop;
	}
	memcpy(l->buf + l->len, s, n);
	l->len += n;
	l->buf[l->len] = 0;
	pthread_mutex_unlock(&l->mu);
}

static void log_copy(fflog *l, char *buf, size_t n) {
	if (n == 0) {
		return;
	}
	pthread_mutex_lock(&l->mu);
	size_t k = l->len < n - 1 ? l->len : n - 1;
	memcpy(buf, l->buf + (l->len - k), k);
	buf[k] = 0;
	pthread_mutex_unlock(&l->mu);
}

// owner_log finds the fflog of the decoder or encoder that owns the context logging. Format and codec contexts
// carry it in opaque (frame threads' context copies too); messages from other contexts are dropped.
static fflog *owner_log(void *avcl) {
	if (avcl == NULL) {
		return NULL;
	}
	const AVClass *cls = *(const AVClass **)avcl;
	if (cls == avformat_get_class()) {
		return ((AVFormatContext *)avcl)->opaque;
	}
	if (cls == avcodec_get_class()) {
		return ((AVCodecContext *)avcl)->opaque;
	}
	return NULL;
}

static void log_callback(void *avcl, int level, const char *fmt, va_list vl) {
	if (level > AV_LOG_ERROR) {
		return;
	}
	fflog *l = owner_log(avcl);
	if (l == NULL) {
		return;
	}
	char line[1024];
	int prefix = 1;
	av_log_format_line2(avcl, level, fmt, vl, line, sizeof line, &prefix);
	log_append(l, line);
}

static pthread_once_t log_once = PTHREAD_ONCE_INIT;

static void log_setup(void) { av_log_set_callback(log_callback); }

static void logf_(fflog *l, const char *what, int err) {
	char msg[AV_ERROR_MAX_STRING_SIZE], line[512];
	av_strerror(err, msg, sizeof msg);
	snprintf(line, sizeof line, "%s: %s\n", what, msg);
	log_append(l, line);
}

// video_stream is ffprobe's "V:0": the first video stream that is not a cover picture, or -1.
static int video_stream(AVFormatContext *fmt) {
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		AVStream *st = fmt->streams[i];
		if (st->codecpar->codec_type == AVMEDIA_TYPE_VIDEO && !(st->disposition & AV_DISPOSITION_ATTACHED_PIC)) {
			return (int)i;
		}
	}
	return -1;
}

// keep_only makes the demuxer skip the packets of every stream but index.
static void keep_only(AVFormatContext *fmt, int index) {
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		if ((int)i != index) {
			fmt->streams[i]->discard = AVDISCARD_ALL;
		}
	}
}

// open_input opens path and reads its streams' parameters, as ffmpeg and ffprobe do before anything else; failures
// are logged under l. With list, path is a concat script of absolute paths ("-f concat -safe 0"). interrupt, when
// not NULL, can stop its reads (the concat demuxer hands it to every piece it opens). On failure *fmt is NULL or
// still needs avformat_close_input.
static int open_input(AVFormatContext **fmt, const char *path, int list, const AVIOInterruptCB *interrupt, fflog *l) {
	if ((*fmt = avformat_alloc_context()) == NULL) {
		return AVERROR(ENOMEM);
	}
	(*fmt)->opaque = l;
	if (interrupt != NULL) {
		(*fmt)->interrupt_callback = *interrupt;
	}
	AVDictionary *opts = NULL;
	if (list) {
		av_dict_set(&opts, "safe", "0", 0);
	} else if (strstr(path, "://") != NULL) {
		av_dict_set(&opts, "rw_timeout", URL_TIMEOUT_US, 0);
	}
	int r = avformat_open_input(fmt, path, list ? av_find_input_format("concat") : NULL, &opts); // frees *fmt on failure
	av_dict_free(&opts);
	if (r >= 0) {
		r = avformat_find_stream_info(*fmt, NULL);
	}
	if (r < 0) {
		logf_(l, path, r);
	}
	return r;
}

// open_header opens path for what its header says: an MP4's or MOV's streams, durations and sample counts are all
// in its moov, so avformat_find_stream_info (which decodes a few frames: ~6 ms for a 1080p piece) is skipped for
// them, and for any container when own (a piece this program's split wrote: its header names the stream, and every
// packet is one frame); any other container is opened as open_input does.
static int open_header(AVFormatContext **fmt, const char *path, int own, fflog *l) {
	if ((*fmt = avformat_alloc_context()) == NULL) {
		return AVERROR(ENOMEM);
	}
	(*fmt)->opaque = l;
	int r = avformat_open_input(fmt, path, NULL, NULL); // frees *fmt on failure
	if (r >= 0 && !own && strncmp((*fmt)->iformat->name, "mov,", 4) != 0) {
		r = avformat_find_stream_info(*fmt, NULL);
	}
	if (r < 0) {
		logf_(l, path, r);
	}
	return r;
}

// ---- decoder ----

// toconv is a libswscale context for one direction of frames, with the frames it was set up for.
typedef struct toconv {
	struct SwsContext *sws;
	int w, h, fmt, space, range;
} toconv;

struct ffdec {
	fflog log;
	AVFormatContext *fmt;
	AVCodecContext *cc;
	int stream;
	AVPacket *pkt;
	AVFrame *frame;
	toconv conv;
	int width, height;
	enum AVPixelFormat out;
	int pending; // pkt holds a packet the decoder did not take yet
	int flushed; // the end of the input was sent to the decoder
	int damaged; // packets or frames that failed to decode, or a read error
	uint8_t *scratch; // a frame with aligned rows and FF_FRAME_PADDING, converted into first (av_malloc'd, lazily)
	int64_t pts; // the last frame's presentation time (best effort, as -fps_mode passthrough), stream time base
};

ffdec *ffdec_new(void) {
	pthread_once(&log_once, log_setup);
	ffdec *d = calloc(1, sizeof *d);
	if (d != NULL) {
		log_init(&d->log);
		d->stream = -1;
		d->conv.fmt = AV_PIX_FMT_NONE;
	}
	return d;
}

int ffdec_open(ffdec *d, const char *path, int threads, int width, int height, int pixfmt) {
	d->width = width;
	d->height = height;
	d->out = pixfmt == FF_YUV420P ? AV_PIX_FMT_YUV420P : AV_PIX_FMT_BGR24;
	d->pkt = av_packet_alloc();
	d->frame = av_frame_alloc();
	if (d->pkt == NULL || d->frame == NULL) {
		return AVERROR(ENOMEM);
	}
	int r = open_input(&d->fmt, path, 0, NULL, &d->log);
	if (r < 0) {
		return r;
	}
	d->stream = video_stream(d->fmt);
	keep_only(d->fmt, d->stream);
	if (d->stream < 0) {
		return FF_ERR_NO_VIDEO;
	}
	AVStream *st = d->fmt->streams[d->stream];
	const AVCodec *codec = avcodec_find_decoder(st->codecpar->codec_id);
	if (codec == NULL) {
		return FF_ERR_NO_CODEC;
	}
	if ((d->cc = avcodec_alloc_context3(codec)) == NULL) {
		return AVERROR(ENOMEM);
	}
	d->cc->opaque = &d->log;
	if ((r = avcodec_parameters_to_context(d->cc, st->codecpar)) < 0) {
		return r;
	}
	d->cc->pkt_timebase = st->time_base;
	d->cc->thread_count = threads; // 0: libavcodec picks, as ffmpeg's "-threads auto"
	if ((r = avcodec_open2(d->cc, codec, NULL)) < 0) {
		logf_(&d->log, "Error while opening decoder", r);
		return r;
	}
	return 0;
}

// layout is f with yuvj420p read as yuv420p: the same planes, its full range told by the frame's color_range
// (which libavcodec sets for it), and so kept by the tags the encoder copies from the target.
static enum AVPixelFormat layout(int f) { return f == AV_PIX_FMT_YUVJ420P ? AV_PIX_FMT_YUV420P : f; }

// passes reports whether f is already in the configured size and format.
static int passes(const ffdec *d, const AVFrame *f) {
	return layout(f->format) == d->out && f->width == d->width && f->height == d->height;
}

// convert_to converts f into the planes data/linesize as w x h of format out, as ffmpeg's scale filter does with
// its defaults: bicubic, the frame's own matrix for both sides, its range if it says one. The decoder and the
// patcher (ffpatch) both convert through it, so the two give the same pictures of the same frame.
static int convert_to(toconv *c, const AVFrame *f, uint8_t *data[4], int linesize[4], int w, int h,
                      enum AVPixelFormat out) {
	struct SwsContext *s =
	    sws_getCachedContext(c->sws, f->width, f->height, f->format, w, h, out, SWS_BICUBIC, NULL, NULL, NULL);
	if (s == NULL) {
		return AVERROR(EINVAL);
	}
	if (s != c->sws || f->width != c->w || f->height != c->h || f->format != c->fmt || f->colorspace != c->space ||
	    f->color_range != c->range) {
		int *inv, *table, src_full, dst_full, brightness, contrast, saturation;
		sws_getColorspaceDetails(s, &inv, &src_full, &table, &dst_full, &brightness, &contrast, &saturation);
		const int *coefs = sws_getCoefficients(f->colorspace);
		if (f->color_range != AVCOL_RANGE_UNSPECIFIED) {
			src_full = f->color_range == AVCOL_RANGE_JPEG;
		}
		sws_setColorspaceDetails(s, coefs, src_full, coefs, dst_full, brightness, contrast, saturation);
		c->w = f->width;
		c->h = f->height;
		c->fmt = f->format;
		c->space = f->colorspace;
		c->range = f->color_range;
	}
	c->sws = s;
	int r = sws_scale(s, (const uint8_t *const *)f->data, f->linesize, 0, f->height, data, linesize);
	return r < 0 ? r : 0;
}

// convert writes frame f into the planes data/linesize as the configured size and format.
static int convert(ffdec *d, const AVFrame *f, uint8_t *data[4], int linesize[4]) {
	if (passes(d, f)) {
		// What scale does when there is nothing to do: the decoded picture as it is.
		av_image_copy(data, linesize, (const uint8_t **)f->data, f->linesize, d->out, d->width, d->height);
		return 0;
	}
	return convert_to(&d->conv, f, data, linesize, d->width, d->height, d->out);
}

// next decodes the next frame into d->frame: 0, AVERROR_EOF after the last frame, or another error.
static int next(ffdec *d) {
	for (;;) {
		int r = avcodec_receive_frame(d->cc, d->frame);
		if (r == 0) {
			d->pts = d->frame->best_effort_timestamp;
			return 0;
		}
		if (r == AVERROR_EOF) {
			return AVERROR_EOF;
		}
		if (r != AVERROR(EAGAIN)) {
			d->damaged++;
			logf_(&d->log, "Error while decoding stream", r);
			if (d->flushed) {
				continue; // frame threads report their errors one by one while draining
			}
		}
		if (d->flushed) {
			return AVERROR_EOF;
		}
		if (!d->pending) {
			r = av_read_frame(d->fmt, d->pkt);
			if (r < 0) {
				if (r != AVERROR_EOF) {
					d->damaged++;
					logf_(&d->log, d->fmt->url, r);
				}
				avcodec_send_packet(d->cc, NULL);
				d->flushed = 1;
				continue;
			}
			if (d->pkt->stream_index != d->stream) {
				av_packet_unref(d->pkt);
				continue;
			}
			d->pending = 1;
		}
		r = avcodec_send_packet(d->cc, d->pkt);
		if (r == AVERROR(EAGAIN)) {
			continue; // take frames out first, then send it again
		}
		av_packet_unref(d->pkt);
		d->pending = 0;
		if (r < 0) {
			d->damaged++;
			logf_(&d->log, "Error while decoding stream", r);
		}
	}
}

// SCRATCH_ALIGN is the row alignment of the pictures swscale converts into. With rows packed tight (a w x h frame
// of w*3 bytes a row), FFmpeg 5.1's x86 yuv-to-RGB converters leave the last pixels of every row unwritten at some
// widths (306, 1366: TestFrameBufferBounds); the ffmpeg command never sees this, its frames' rows are aligned.
#define SCRATCH_ALIGN 64

// aligned reports whether the rows of every plane of a picture in format f, w pixels wide, packed tight, are
// multiples of SCRATCH_ALIGN bytes (1920 and 1280 wide bgr24 are; 1080 is not).
static int aligned(enum AVPixelFormat f, int w) {
	int packed[4];
	if (av_image_fill_linesizes(packed, f, w) < 0) {
		return 0;
	}
	for (int i = 0; i < 4; i++) {
		if (packed[i] % SCRATCH_ALIGN != 0) {
			return 0;
		}
	}
	return 1;
}

int ffdec_read(ffdec *d, uint8_t *dst, size_t cap) { return ffdec_read_keep(d, dst, cap, NULL); }

int ffdec_read_keep(ffdec *d, uint8_t *dst, size_t cap, AVFrame *keep) {
	if (keep != NULL) {
		av_frame_unref(keep);
	}
	int size = av_image_get_buffer_size(d->out, d->width, d->height, 1);
	if (size < 0) {
		return size;
	}
	if (cap < (size_t)size) {
		return AVERROR(EINVAL);
	}
	int r = next(d);
	if (r < 0) {
		return r;
	}
	uint8_t *data[4];
	int linesize[4];
	if ((r = av_image_fill_arrays(data, linesize, dst, d->out, d->width, d->height, 1)) < 0) {
		av_frame_unref(d->frame);
		return r;
	}
	if (passes(d, d->frame) || (aligned(d->out, d->width) && cap - (size_t)size >= FF_FRAME_PADDING)) {
		r = convert(d, d->frame, data, linesize);
	} else {
		// Converted with aligned rows and room after them (SCRATCH_ALIGN, FF_FRAME_PADDING), then copied to dst.
		if (d->scratch == NULL) {
			int n = av_image_get_buffer_size(d->out, d->width, d->height, SCRATCH_ALIGN);
			if (n < 0 || (d->scratch = av_malloc((size_t)n + FF_FRAME_PADDING)) == NULL) {
				av_frame_unref(d->frame);
				return n < 0 ? n : AVERROR(ENOMEM);
			}
		}
		uint8_t *sdata[4];
		int slinesize[4];
		if ((r = av_image_fill_arrays(sdata, slinesize, d->scratch, d->out, d->width, d->height, SCRATCH_ALIGN)) >= 0 &&
		    (r = convert(d, d->frame, sdata, slinesize)) >= 0) {
			av_image_copy(data, linesize, (const uint8_t **)sdata, slinesize, d->out, d->width, d->height);
		}
	}
	if (r >= 0 && keep != NULL && layout(d->frame->format) == AV_PIX_FMT_YUV420P && d->frame->width == d->width &&
	    d->frame->height == d->height) {
		r = av_frame_ref(keep, d->frame); // the decoder's own picture, as ffdec_read_ref lends it
	}
	av_frame_unref(d->frame);
	return r < 0 ? r : 0;
}

int ffdec_read_ref(ffdec *d, AVFrame *dst) {
	av_frame_unref(dst);
	int r = next(d);
	if (r < 0) {
		return r;
	}
	if (passes(d, d->frame)) {
		av_frame_move_ref(dst, d->frame); // the decoder's own buffer: no copy
		return 0;
	}
	dst->format = d->out;
	dst->width = d->width;
	dst->height = d->height;
	if ((r = av_frame_get_buffer(dst, 0)) >= 0) {
		r = convert(d, d->frame, dst->data, dst->linesize);
	}
	av_frame_unref(d->frame);
	if (r < 0) {
		av_frame_unref(dst);
		return r;
	}
	return 0;
}

int ffdec_damaged(ffdec *d) { return d->damaged; }

int64_t ffdec_pts(ffdec *d, int *tb_num, int *tb_den) {
	AVRational tb = d->fmt->streams[d->stream]->time_base;
	*tb_num = tb.num;
	*tb_den = tb.den;
	return d->pts;
}

void ffdec_log(ffdec *d, char *buf, size_t n) { log_copy(&d->log, buf, n); }

void ffdec_free(ffdec *d) {
	if (d == NULL) {
		return;
	}
	sws_freeContext(d->conv.sws);
	avcodec_free_context(&d->cc);
	avformat_close_input(&d->fmt);
	av_packet_free(&d->pkt);
	av_frame_free(&d->frame);
	av_free(d->scratch);
	pthread_mutex_destroy(&d->log.mu);
	free(d);
}

static int color(int (*parse)(const char *), const char *name, int unspecified) {
	if (name == NULL || name[0] == 0) {
		return unspecified;
	}
	int v = parse(name);
	return v < 0 ? unspecified : v;
}

// ---- rect: part of a yuv420p picture converted to bgr24 ----

// RECT_STEP is what a rectangle's width and height are rounded up to before it is converted, so that one cached
// swscale context serves a face's crops from frame to frame while the face moves and changes size a little.
#define RECT_STEP 32

struct ffconv {
	toconv conv;
	uint8_t *scratch; // one converted band (SCRATCH_ALIGN rows, FF_FRAME_PADDING after them), av_malloc'd
	size_t cap;
};

ffconv *ffconv_new(void) {
	ffconv *c = calloc(1, sizeof(ffconv));
	if (c != NULL) {
		c->conv.fmt = AV_PIX_FMT_NONE;
	}
	return c;
}

void ffconv_free(ffconv *c) {
	if (c == NULL) {
		return;
	}
	sws_freeContext(c->conv.sws);
	av_free(c->scratch);
	free(c);
}

// grow widens [*a, *b) within [0, n) (n even) to even edges and a length that is a multiple of RECT_STEP (or n).
static void grow(int *a, int *b, int n) {
	int lo = *a < 0 ? 0 : *a & ~1, hi = *b > n ? n : (*b + 1) & ~1;
	int len = (hi - lo + RECT_STEP - 1) / RECT_STEP * RECT_STEP;
	if (len > n) {
		len = n;
	}
	if (lo + len > n) {
		lo = n - len;
	}
	*a = lo;
	*b = lo + len;
}

int ffconv_rect(ffconv *c, const AVFrame *f, uint8_t *dst, size_t cap, int rect[4]) {
	int w = f->width, h = f->height;
	if (layout(f->format) != AV_PIX_FMT_YUV420P || w % 2 != 0 || h % 2 != 0 || cap < (size_t)w * h * 3) {
		return AVERROR(EINVAL);
	}
	int x0 = rect[0], y0 = rect[1], x1 = rect[2], y1 = rect[3];
	if (x1 <= 0 || y1 <= 0 || x0 >= w || y0 >= h || x0 >= x1 || y0 >= y1) {
		rect[0] = rect[1] = rect[2] = rect[3] = 0;
		return 0;
	}
	grow(&x0, &x1, w);
	grow(&y0, &y1, h);
	int cw = x1 - x0, ch = y1 - y0;
	// Converted in bands of RECT_STEP rows (the last one moved up to end at y1: ch is a multiple of RECT_STEP or the
	// picture's height), so the scratch is a band, not a frame, and the swscale context's height never changes.
	int bh = ch < RECT_STEP ? ch : RECT_STEP;
	// Into aligned scratch rows with room after them: swscale's SIMD converters write whole blocks of pixels past
	// a row's end (see SCRATCH_ALIGN).
	int stride = FFALIGN(3 * FFALIGN(cw, 16), SCRATCH_ALIGN);
	size_t need = (size_t)stride * bh + FF_FRAME_PADDING;
	if (need > c->cap) {
		av_freep(&c->scratch);
		c->cap = 0;
		if ((c->scratch = av_malloc(need)) == NULL) {
			return AVERROR(ENOMEM);
		}
		c->cap = need;
	}
	for (int by = y0; by < y1; by += bh) {
		int top = by + bh > y1 ? y1 - bh : by; // even: y1 and bh are
		// A view of the band: the same planes from (x0, top), chroma from (x0/2, top/2).
		AVFrame v = *f;
		v.width = cw;
		v.height = bh;
		v.data[0] = f->data[0] + (size_t)top * f->linesize[0] + x0;
		for (int i = 1; i < 3; i++) {
			v.data[i] = f->data[i] + (size_t)(top / 2) * f->linesize[i] + x0 / 2;
		}
		uint8_t *data[4] = {c->scratch, NULL, NULL, NULL};
		int linesize[4] = {stride, 0, 0, 0};
		int r = convert_to(&c->conv, &v, data, linesize, cw, bh, AV_PIX_FMT_BGR24);
		if (r < 0) {
			return r;
		}
		for (int y = 0; y < bh; y++) {
			memcpy(dst + ((size_t)(top + y) * w + x0) * 3, c->scratch + (size_t)y * stride, (size_t)cw * 3);
		}
	}
	rect[0] = x0, rect[1] = y0, rect[2] = x1, rect[3] = y1;
	return 0;
}

// ---- patch: a processed bgr24 frame written back into the yuv420p picture it was decoded from ----

struct ffpatch {
	ffconv *conv;  // the picture to bgr24, exactly as the decoder or ffconv_rect converted it
	uint8_t *orig; // the converted rectangles of the picture, at their places in a w x h frame, av_malloc'd lazily
	int w, h;
	int space, range; // the target's tags: the matrix of a frame that comes without its picture
	// copies holds the buffers of the pictures' writable copies (own_copy), reused once the encoder lets a copy
	// go: a new buffer for every frame faulted its pages in (zeroed by the kernel) before the copy wrote them.
	AVBufferPool *copies;
	int copies_size;
};

ffpatch *ffpatch_new(void) {
	ffpatch *p = calloc(1, sizeof(ffpatch));
	if (p != NULL && (p->conv = ffconv_new()) == NULL) {
		free(p);
		return NULL;
	}
	return p;
}

// copy_align is the rows' alignment in a picture's writable copy (av_frame_get_buffer's for AVX-512).
#define copy_align 64

// own_copy makes keep writable as av_frame_make_writable does (a copy of its pixels and properties, the
// decoder's picture released), with the copy's buffer from p's pool.
static int own_copy(ffpatch *p, AVFrame *keep) {
	if (av_frame_is_writable(keep)) {
		return 0;
	}
	int size = av_image_get_buffer_size(keep->format, keep->width, keep->height, copy_align);
	if (size < 0) {
		return size;
	}
	size += AV_INPUT_BUFFER_PADDING_SIZE; // SIMD readers go past the last row
	if (p->copies == NULL || p->copies_size != size) {
		av_buffer_pool_uninit(&p->copies); // freed when the encoder lets its last buffer go
		if ((p->copies = av_buffer_pool_init(size, NULL)) == NULL) {
			return AVERROR(ENOMEM);
		}
		p->copies_size = size;
	}
	AVFrame *tmp = av_frame_alloc();
	if (tmp == NULL) {
		return AVERROR(ENOMEM);
	}
	int r;
	tmp->format = keep->format;
	tmp->width = keep->width;
	tmp->height = keep->height;
	if ((tmp->buf[0] = av_buffer_pool_get(p->copies)) == NULL) {
		r = AVERROR(ENOMEM);
		goto fail;
	}
	if ((r = av_image_fill_arrays(tmp->data, tmp->linesize, tmp->buf[0]->data, keep->format, keep->width,
	                              keep->height, copy_align)) < 0) {
		goto fail;
	}
	if ((r = av_frame_copy(tmp, keep)) < 0 || (r = av_frame_copy_props(tmp, keep)) < 0) {
		goto fail;
	}
	av_frame_unref(keep);
	av_frame_move_ref(keep, tmp);
	av_frame_free(&tmp);
	return 0;
fail:
	av_frame_free(&tmp);
	return r;
}

void ffpatch_color(ffpatch *p, const char *colorspace, const char *range) {
	p->space = color(av_color_space_from_name, colorspace, AVCOL_SPC_UNSPECIFIED);
	p->range = color(av_color_range_from_name, range, AVCOL_RANGE_UNSPECIFIED);
}

// matrix is the inverse of what libswscale decoded a picture with: its luma weights and range.
typedef struct {
	double kr, kb;
	int full;
} matrix;

// matrix_of mirrors sws_getCoefficients (its table is indexed by the colour space; unknown ones are BT.601) and
// convert_to's range: the frame's own if it says one, else full for yuvj420p only.
static matrix matrix_of(int space, int range, int format) {
	matrix m = {0.299, 0.114, 0};
	switch (space) {
	case AVCOL_SPC_RGB:
	case AVCOL_SPC_BT709:
		m.kr = 0.2126, m.kb = 0.0722;
		break;
	case AVCOL_SPC_FCC:
		m.kr = 0.30, m.kb = 0.11;
		break;
	case AVCOL_SPC_SMPTE240M:
		m.kr = 0.212, m.kb = 0.087;
		break;
	case AVCOL_SPC_BT2020_NCL:
	case AVCOL_SPC_BT2020_CL:
		m.kr = 0.2627, m.kb = 0.0593;
		break;
	}
	m.full = range != AVCOL_RANGE_UNSPECIFIED ? range == AVCOL_RANGE_JPEG : format == AV_PIX_FMT_YUVJ420P;
	return m;
}

static uint8_t clip8(double v) { return v <= 0 ? 0 : v >= 255 ? 255 : (uint8_t)(v + 0.5); }

static double luma(const matrix *m, const uint8_t *bgr) {
	return m->kr * bgr[2] + (1 - m->kr - m->kb) * bgr[1] + m->kb * bgr[0];
}

// put_block codes the 2x2 block of bgr24 pixels at rows r[0], r[1] (x already applied) into the picture at
// (x, y): luma for the pixels marked in changed[4] (row-major), chroma from the four pixels' mean.
static void put_block(AVFrame *k, const matrix *m, const uint8_t *r[2], const int changed[4], int x, int y) {
	double ys = m->full ? 255.0 / 255 : 219.0 / 255, yo = m->full ? 0 : 16, cs = m->full ? 255.0 / 255 : 224.0 / 255;
	double sb = 0, sg = 0, sr = 0;
	for (int j = 0; j < 2; j++) {
		for (int i = 0; i < 2; i++) {
			const uint8_t *px = r[j] + 3 * i;
			sb += px[0], sg += px[1], sr += px[2];
			if (changed[2 * j + i]) {
				k->data[0][(size_t)(y + j) * k->linesize[0] + x + i] = clip8(yo + ys * luma(m, px));
			}
		}
	}
	double b = sb / 4, g = sg / 4, rr = sr / 4;
	double yl = m->kr * rr + (1 - m->kr - m->kb) * g + m->kb * b;
	k->data[1][(size_t)(y / 2) * k->linesize[1] + x / 2] = clip8(128 + cs * (b - yl) / (2 * (1 - m->kb)));
	k->data[2][(size_t)(y / 2) * k->linesize[2] + x / 2] = clip8(128 + cs * (rr - yl) / (2 * (1 - m->kr)));
}

int ffconv_thumb(const AVFrame *f, uint8_t *dst, int tw, int th) {
	int w = f->width, h = f->height;
	if (layout(f->format) != AV_PIX_FMT_YUV420P || tw <= 0 || th <= 0 || w <= 0 || h <= 0) {
		return AVERROR(EINVAL);
	}
	matrix m = matrix_of(f->colorspace, f->color_range, f->format);
	double ys = m.full ? 1 : 219.0 / 255, yo = m.full ? 0 : 16, cs = m.full ? 1 : 224.0 / 255;
	for (int j = 0; j < th; j++) {
		int y = (int)((2 * (int64_t)j + 1) * h / (2 * th));
		for (int i = 0; i < tw; i++) {
			int x = (int)((2 * (int64_t)i + 1) * w / (2 * tw));
			double l = (f->data[0][(size_t)y * f->linesize[0] + x] - yo) / ys;
			double cb = (f->data[1][(size_t)(y / 2) * f->linesize[1] + x / 2] - 128) / cs;
			double cr = (f->data[2][(size_t)(y / 2) * f->linesize[2] + x / 2] - 128) / cs;
			double b = l + cb * 2 * (1 - m.kb), r = l + cr * 2 * (1 - m.kr);
			double g = (l - m.kr * r - m.kb * b) / (1 - m.kr - m.kb);
			uint8_t *px = dst + ((size_t)j * tw + i) * 3;
			px[0] = clip8(b), px[1] = clip8(g), px[2] = clip8(r);
		}
	}
	return 0;
}

// patch_rows codes again the 2x2 blocks of rows [y0, y1) x columns [x0, x1) (even edges) of bgr that differ from
// orig (NULL: all of them) into keep, copying keep before its first change (*writable).
static int patch_rows(ffpatch *p, AVFrame *keep, const matrix *m, const uint8_t *bgr, const uint8_t *orig, int w,
                      int x0, int y0, int x1, int y1, int *writable, int *changed) {
	size_t stride = (size_t)w * 3, span = (size_t)(x1 - x0) * 3;
	for (int y = y0; y < y1; y += 2) {
		const uint8_t *row[2] = {bgr + (size_t)y * stride, bgr + (size_t)(y + 1) * stride};
		const uint8_t *orow[2] = {NULL, NULL};
		if (orig != NULL) {
			orow[0] = orig + (size_t)y * stride;
			orow[1] = orow[0] + stride;
			if (memcmp(row[0] + 3 * x0, orow[0] + 3 * x0, span) == 0 &&
			    memcmp(row[1] + 3 * x0, orow[1] + 3 * x0, span) == 0) {
				continue;
			}
		}
		for (int x = x0; x < x1; x += 2) {
			int ch[4] = {1, 1, 1, 1};
			if (orig != NULL) {
				for (int j = 0; j < 2; j++) {
					for (int i = 0; i < 2; i++) {
						ch[2 * j + i] = memcmp(row[j] + 3 * (x + i), orow[j] + 3 * (x + i), 3) != 0;
					}
				}
				if (!(ch[0] | ch[1] | ch[2] | ch[3])) {
					continue;
				}
			}
			if (!*writable) {
				// The decoder may still read the picture as a reference: the first change copies it.
				int r = own_copy(p, keep);
				if (r < 0) {
					return r;
				}
				*writable = 1;
			}
			const uint8_t *blk[2] = {row[0] + 3 * x, row[1] + 3 * x};
			put_block(keep, m, blk, ch, x, y);
			(*changed)++;
		}
	}
	return 0;
}

int ffpatch_apply(ffpatch *p, AVFrame *keep, const uint8_t *bgr, size_t cap, int w, int h, const int *rects, int n,
                  int *changed) {
	*changed = 0;
	if (w % 2 != 0 || h % 2 != 0 || cap < (size_t)w * h * 3 || n < 0) {
		return AVERROR(EINVAL);
	}
	int r, writable = 0;
	if (keep->buf[0] == NULL) {
		// No picture kept (the stream changed size or format midway): every pixel is coded from bgr, with the
		// target's matrix.
		keep->format = AV_PIX_FMT_YUV420P;
		keep->width = w;
		keep->height = h;
		if ((r = av_frame_get_buffer(keep, 0)) < 0) {
			return r;
		}
		matrix m = matrix_of(p->space, p->range, AV_PIX_FMT_YUV420P);
		writable = 1;
		return patch_rows(p, keep, &m, bgr, NULL, w, 0, 0, w, h, &writable, changed);
	}
	if (layout(keep->format) != AV_PIX_FMT_YUV420P || keep->width != w || keep->height != h) {
		return AVERROR(EINVAL);
	}
	if (p->orig == NULL || p->w != w || p->h != h) {
		av_freep(&p->orig);
		if ((p->orig = av_malloc((size_t)w * h * 3)) == NULL) {
			return AVERROR(ENOMEM);
		}
		p->w = w;
		p->h = h;
	}
	// Every rectangle's original first: a block written for one must not be read back as another's original.
	int *done = av_malloc_array(n > 0 ? n : 1, 4 * sizeof(int));
	if (done == NULL) {
		return AVERROR(ENOMEM);
	}
	for (int i = 0; i < n; i++) {
		memcpy(done + 4 * i, rects + 4 * i, 4 * sizeof(int));
		if ((r = ffconv_rect(p->conv, keep, p->orig, (size_t)w * h * 3, done + 4 * i)) < 0) {
			av_free(done);
			return r;
		}
	}
	matrix m = matrix_of(keep->colorspace, keep->color_range, keep->format);
	r = 0;
	for (int i = 0; i < n && r >= 0; i++) {
		// Only the asked rectangle, on even edges (the converted one may be larger).
		int x0 = rects[4 * i] < 0 ? 0 : rects[4 * i] & ~1, y0 = rects[4 * i + 1] < 0 ? 0 : rects[4 * i + 1] & ~1;
		int x1 = rects[4 * i + 2] > w ? w : (rects[4 * i + 2] + 1) & ~1;
		int y1 = rects[4 * i + 3] > h ? h : (rects[4 * i + 3] + 1) & ~1;
		if (done[4 * i + 2] > done[4 * i] && x0 < x1 && y0 < y1) {
			r = patch_rows(p, keep, &m, bgr, p->orig, w, x0, y0, x1, y1, &writable, changed);
		}
	}
	av_free(done);
	return r;
}

void ffpatch_free(ffpatch *p) {
	if (p == NULL) {
		return;
	}
	ffconv_free(p->conv);
	av_free(p->orig);
	av_buffer_pool_uninit(&p->copies);
	free(p);
}

// ---- encoder ----

struct ffenc {
	fflog log;
	AVFormatContext *fmt;
	AVCodecContext *cc;
	AVStream *st;
	AVPacket *pkt;
	AVFrame *frame; // the converted picture, when the input needs converting
	AVFrame *lent;  // the caller's picture, when it does not
	struct SwsContext *sws;
	uint8_t *padded; // bgr24 frame padded to an even size (odd sizes) or with FF_FRAME_PADDING after it
	int in_w, in_h;
	enum AVPixelFormat in_fmt;
	int64_t pts;      // the next frame's time when none is given: frame i at i
	int64_t stamp; // the next frame's time given by ffenc_stamp, when stamped
	int stamped;
	// Stamped frames the encoder holds: time and duration (-1 until the next frame's time says it), so that each
	// packet gets its frame's duration, and a track ends where its last frame does.
	struct {
		int64_t pts, dur;
	} * held;
	int nheld, capheld;
	AVPacket *back;    // with stamps: the last packet, written by ffenc_finish
	int64_t first_dts; // the first packet's
	int64_t nwritten;  // packets drained
	AVRational tb;     // ffenc_time_base's, else 1/rate
	int out_w, out_h; // ffenc_size's, else the input's
};

ffenc *ffenc_new(void) {
	pthread_once(&log_once, log_setup);
	ffenc *e = calloc(1, sizeof *e);
	if (e != NULL) {
		log_init(&e->log);
	}
	return e;
}

int ffenc_open(ffenc *e, const char *path, const char *format, const char *codec_name, int width, int height,
               int in_pixfmt, int lossless, int rate_num, int rate_den, int sar_num, int sar_den, int timescale,
               int threads, const char *opts, const char *colorspace, const char *range, const char *primaries,
               const char *transfer, uint32_t codec_tag) {
	e->in_w = width;
	e->in_h = height;
	e->in_fmt = in_pixfmt == FF_YUV420P ? AV_PIX_FMT_YUV420P : AV_PIX_FMT_BGR24;
	int out_w = width, out_h = height;
	enum AVPixelFormat out_fmt = AV_PIX_FMT_BGR0;
	if (!lossless) {
		out_fmt = AV_PIX_FMT_YUV420P;
		if (e->out_w >= width && e->out_h >= height) {
			out_w = e->out_w; // padded at the right and bottom to the size ffenc_size gave (EncoderConfig.OutputSize)
			out_h = e->out_h;
		}
	}
	int r = avformat_alloc_output_context2(&e->fmt, NULL, format, path);
	if (r < 0) {
		logf_(&e->log, path, r);
		return r;
	}
	e->fmt->opaque = &e->log;
	const AVCodec *codec = avcodec_find_encoder_by_name(codec_name);
	if (codec == NULL) {
		return FF_ERR_NO_CODEC;
	}
	if ((e->cc = avcodec_alloc_context3(codec)) == NULL || (e->pkt = av_packet_alloc()) == NULL) {
		return AVERROR(ENOMEM);
	}
	AVCodecContext *cc = e->cc;
	cc->opaque = &e->log;
	cc->width = out_w;
	cc->height = out_h;
	cc->pix_fmt = out_fmt;
	cc->time_base = e->tb.num > 0 ? e->tb : (AVRational){rate_den, rate_num};
	cc->framerate = (AVRational){rate_num, rate_den};
	cc->sample_aspect_ratio = (AVRational){0, 1}; // unknown
	if (sar_num > 0 && sar_den > 0) {
		cc->sample_aspect_ratio = (AVRational){sar_num, sar_den};
	}
	cc->thread_count = threads;
	if (lossless) {
		cc->color_range = AVCOL_RANGE_JPEG; // RGB, tagged as the command tags it
		cc->colorspace = AVCOL_SPC_RGB;
	} else {
		// bgr24 is converted below with the matrix and range the decoder read the target's pictures with, so
		// both kinds of input are tagged as the target is (untagged stays untagged).
		cc->colorspace = color(av_color_space_from_name, colorspace, AVCOL_SPC_UNSPECIFIED);
		cc->color_range = color(av_color_range_from_name, range, AVCOL_RANGE_UNSPECIFIED);
		cc->color_primaries = color(av_color_primaries_from_name, primaries, AVCOL_PRI_UNSPECIFIED);
		cc->color_trc = color(av_color_transfer_from_name, transfer, AVCOL_TRC_UNSPECIFIED);
	}
	if (e->fmt->oformat->flags & AVFMT_GLOBALHEADER) {
		cc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
	}
	AVDictionary *dict = NULL;
	if (opts != NULL && opts[0] != 0 && (r = av_dict_parse_string(&dict, opts, "=", "\n", 0)) < 0) {
		av_dict_free(&dict);
		return r;
	}
	r = avcodec_open2(cc, codec, &dict);
	int unused = av_dict_count(dict);
	if (unused > 0 && r >= 0) {
		const AVDictionaryEntry *t = av_dict_get(dict, "", NULL, AV_DICT_IGNORE_SUFFIX);
		char line[256];
		snprintf(line, sizeof line, "Codec %s has no option %s\n", codec_name, t->key);
		log_append(&e->log, line);
		r = FF_ERR_OPTION;
	}
	av_dict_free(&dict);
	if (r < 0) {
		if (r != FF_ERR_OPTION) {
			logf_(&e->log, "Error while opening encoder", r);
		}
		return r;
	}
	if ((e->st = avformat_new_stream(e->fmt, NULL)) == NULL) {
		return AVERROR(ENOMEM);
	}
	if ((r = avcodec_parameters_from_context(e->st->codecpar, cc)) < 0) {
		return r;
	}
	e->st->time_base = cc->time_base;
	e->st->avg_frame_rate = cc->framerate;
	e->st->sample_aspect_ratio = cc->sample_aspect_ratio;
	if (codec_tag != 0) {
		e->st->codecpar->codec_tag = codec_tag;
	}
	if (!(e->fmt->oformat->flags & AVFMT_NOFILE) && (r = avio_open(&e->fmt->pb, path, AVIO_FLAG_WRITE)) < 0) {
		logf_(&e->log, path, r);
		return r;
	}
	AVDictionary *mux = NULL;
	if (timescale > 0) {
		av_dict_set_int(&mux, "video_track_timescale", timescale, 0);
	}
	r = avformat_write_header(e->fmt, &mux);
	av_dict_free(&mux);
	if (r < 0) {
		logf_(&e->log, "Could not write header for output file", r);
		return r;
	}
	if (e->in_fmt != out_fmt || out_w != width || out_h != height) {
		if ((e->frame = av_frame_alloc()) == NULL) {
			return AVERROR(ENOMEM);
		}
		e->frame->format = out_fmt;
		e->frame->width = out_w;
		e->frame->height = out_h;
		if ((r = av_frame_get_buffer(e->frame, 0)) < 0) {
			return r;
		}
		// scale=out_color_matrix=M:out_range=R with the target's M and R (encoderArgs): the inverse of the
		// decoder's conversion (convert_to), so that a picture no processor changed keeps its colours. The range
		// is an option before the context is set up, as the scale filter sets it: sws_setColorspaceDetails after
		// the set-up leaves a full-range output limited.
		matrix m = matrix_of(cc->colorspace, cc->color_range, AV_PIX_FMT_YUV420P);
		if ((e->sws = sws_alloc_context()) == NULL) {
			return AVERROR(ENOMEM);
		}
		av_opt_set_int(e->sws, "srcw", out_w, 0);
		av_opt_set_int(e->sws, "srch", out_h, 0);
		av_opt_set_int(e->sws, "src_format", e->in_fmt, 0);
		av_opt_set_int(e->sws, "dstw", out_w, 0);
		av_opt_set_int(e->sws, "dsth", out_h, 0);
		av_opt_set_int(e->sws, "dst_format", out_fmt, 0);
		av_opt_set_int(e->sws, "sws_flags", SWS_BICUBIC, 0);
		if (!lossless) {
			av_opt_set_int(e->sws, "dst_range", m.full, 0);
		}
		if ((r = sws_init_context(e->sws, NULL, NULL)) < 0) {
			return r;
		}
		if (!lossless) {
			int *inv, *table, src_full, dst_full, brightness, contrast, saturation;
			sws_getColorspaceDetails(e->sws, &inv, &src_full, &table, &dst_full, &brightness, &contrast, &saturation);
			sws_setColorspaceDetails(e->sws, inv, src_full, sws_getCoefficients(cc->colorspace), m.full, brightness,
			                         contrast, saturation);
		}
	}
	return 0;
}

// write_packet hands pkt, in the encoder's time base, to the muxer (which takes it).
static int write_packet(ffenc *e, AVPacket *pkt) {
	av_packet_rescale_ts(pkt, e->cc->time_base, e->st->time_base);
	pkt->stream_index = e->st->index;
	int r = av_interleaved_write_frame(e->fmt, pkt);
	if (r < 0) {
		logf_(&e->log, "Error writing a packet", r);
	}
	return r;
}

// drain writes every packet the encoder has ready. With stamps, each packet gets its frame's duration, and the
// last one is kept back (e->back) for ffenc_finish.
static int drain(ffenc *e) {
	for (;;) {
		int r = avcodec_receive_packet(e->cc, e->pkt);
		if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) {
			return 0;
		}
		if (r < 0) {
			logf_(&e->log, "Error encoding a frame", r);
			return r;
		}
		if (e->tb.num <= 0) {
			if ((r = write_packet(e, e->pkt)) < 0) {
				return r;
			}
			continue;
		}
		for (int i = 0; i < e->nheld; i++) {
			if (e->held[i].pts == e->pkt->pts) {
				if (e->held[i].dur > 0) {
					e->pkt->duration = e->held[i].dur;
				}
				memmove(&e->held[i], &e->held[i + 1], (size_t)(--e->nheld - i) * sizeof *e->held); // kept in order
				break;
			}
		}
		if (e->back == NULL && (e->back = av_packet_alloc()) == NULL) {
			return AVERROR(ENOMEM);
		}
		if (e->nwritten++ == 0) {
			e->first_dts = e->pkt->dts;
		} else if ((r = write_packet(e, e->back)) < 0) {
			return r;
		}
		av_packet_move_ref(e->back, e->pkt);
	}
}

// send stamps f with the next frame's time and encodes it.
static int send(ffenc *e, AVFrame *f) {
	f->pts = e->pts++;
	if (e->stamped) {
		f->pts = e->stamp;
		e->stamped = 0;
		if (e->nheld > 0 && e->held[e->nheld - 1].dur < 0) {
			e->held[e->nheld - 1].dur = f->pts - e->held[e->nheld - 1].pts; // the frame before lasts until this one
		}
		if (e->nheld == e->capheld) {
			int cap = e->capheld ? 2 * e->capheld : 64;
			void *h = av_realloc_array(e->held, (size_t)cap, sizeof *e->held);
			if (h == NULL) {
				return AVERROR(ENOMEM);
			}
			e->held = h;
			e->capheld = cap;
		}
		e->held[e->nheld].pts = f->pts;
		e->held[e->nheld].dur = -1;
		e->nheld++;
	}
	int r = avcodec_send_frame(e->cc, f);
	if (r < 0) {
		logf_(&e->log, "Error sending a frame to the encoder", r);
		return r;
	}
	return drain(e);
}

static void no_free(void *opaque, uint8_t *data) {
	(void)opaque;
	(void)data;
}

int ffenc_write(ffenc *e, const uint8_t *src, size_t cap) {
	AVFrame *f;
	AVBufferRef *buf = NULL;
	int r;
	int size = av_image_get_buffer_size(e->in_fmt, e->in_w, e->in_h, 1);
	if (size < 0) {
		return size;
	}
	if (cap < (size_t)size) {
		return AVERROR(EINVAL);
	}
	if (e->frame != NULL) {
		f = e->frame;
		if ((r = av_frame_make_writable(f)) < 0) {
			return r;
		}
		const uint8_t *in = src;
		int in_stride = e->in_w * 3;
		int w = f->width;
		if (w != e->in_w || f->height != e->in_h || cap - (size_t)size < FF_FRAME_PADDING) {
			// pad=W:H:0:0:black for odd sizes, in RGB before the conversion as the filter chain does; and swscale
			// reads past the picture's end (FF_FRAME_PADDING): from this padded copy unless src has the room.
			if (e->padded == NULL && (e->padded = av_mallocz((size_t)w * f->height * 3 + FF_FRAME_PADDING)) == NULL) {
				return AVERROR(ENOMEM);
			}
			for (int y = 0; y < e->in_h; y++) {
				memcpy(e->padded + (size_t)y * w * 3, src + (size_t)y * e->in_w * 3, (size_t)e->in_w * 3);
			}
			in = e->padded;
			in_stride = w * 3;
		}
		const uint8_t *planes[4] = {in};
		int strides[4] = {in_stride};
		if ((r = sws_scale(e->sws, planes, strides, 0, f->height, f->data, f->linesize)) < 0) {
			return r;
		}
	} else {
		// The caller's yuv420p frame, lent without a copy: the encoders we use copy the picture in
		// avcodec_send_frame; FF_ERR_HELD reports one that did not, before the caller reuses the buffer.
		if ((buf = av_buffer_create((uint8_t *)src, size, no_free, NULL, AV_BUFFER_FLAG_READONLY)) == NULL) {
			return AVERROR(ENOMEM);
		}
		if (e->lent == NULL && (e->lent = av_frame_alloc()) == NULL) {
			av_buffer_unref(&buf);
			return AVERROR(ENOMEM);
		}
		f = e->lent;
		f->buf[0] = buf;
		f->format = e->in_fmt;
		f->width = e->in_w;
		f->height = e->in_h;
		av_image_fill_arrays(f->data, f->linesize, src, e->in_fmt, e->in_w, e->in_h, 1);
	}
	r = send(e, f);
	if (buf != NULL) {
		int held = av_buffer_get_ref_count(buf) > 1;
		av_frame_unref(e->lent); // drops buf
		if (held && r == 0) {
			r = FF_ERR_HELD;
		}
	}
	return r;
}

int ffenc_write_ref(ffenc *e, const AVFrame *src) {
	if (e->frame != NULL || layout(src->format) != e->in_fmt || src->width != e->in_w || src->height != e->in_h) {
		return AVERROR(EINVAL); // only a picture that is encoded as it is can be passed by reference
	}
	// The picture's buffers only, none of the decoder's properties (picture type, side data), as the ffmpeg
	// command's encoder sees a frame that came through its filters.
	if (e->lent == NULL && (e->lent = av_frame_alloc()) == NULL) {
		return AVERROR(ENOMEM);
	}
	AVFrame *f = e->lent;
	for (int i = 0; i < AV_NUM_DATA_POINTERS && src->buf[i] != NULL; i++) {
		if ((f->buf[i] = av_buffer_ref(src->buf[i])) == NULL) {
			av_frame_unref(f);
			return AVERROR(ENOMEM);
		}
	}
	memcpy(f->data, src->data, sizeof f->data);
	memcpy(f->linesize, src->linesize, sizeof f->linesize);
	f->format = e->in_fmt; // yuvj420p as yuv420p: its range is the stream's tag
	f->width = src->width;
	f->height = src->height;
	int r = send(e, f);
	av_frame_unref(f);
	return r;
}

void ffenc_time_base(ffenc *e, int num, int den) { e->tb = (AVRational){num, den}; }

void ffenc_size(ffenc *e, int width, int height) {
	e->out_w = width;
	e->out_h = height;
}

void ffenc_stamp(ffenc *e, int64_t pts) {
	e->stamp = pts;
	e->stamped = 1;
}

int ffenc_finish(ffenc *e, int64_t end) {
	for (int i = 0; i < e->nheld; i++) {
		if (e->held[i].dur < 0 && end > e->held[i].pts) {
			e->held[i].dur = end - e->held[i].pts; // the last frame: until the end the caller gives
		}
	}
	int r = avcodec_send_frame(e->cc, NULL);
	if (r < 0 && r != AVERROR_EOF) {
		return r;
	}
	if ((r = drain(e)) < 0) {
		return r;
	}
	if (e->back != NULL && e->nwritten > 0) {
		// ffmpeg 5.1's mov muxer ends the track's edit at the last packet's pts plus its duration, and its
		// samples at that packet's dts plus its duration (from the first dts); the demuxer, and so the concat
		// demuxer, reads the piece as lasting the shorter of the two. With B-frames over a variable rate the two
		// differ, so the last packet lasts long enough for both to reach end: the piece then lasts exactly until
		// end, where the next one starts as the target's does.
		int64_t by_pts = end - e->back->pts, by_dts = end - (e->back->dts - e->first_dts);
		int64_t d = by_pts > by_dts ? by_pts : by_dts;
		if (d > 0) {
			e->back->duration = d;
		}
		if ((r = write_packet(e, e->back)) < 0) {
			return r;
		}
	}
	if ((r = av_write_trailer(e->fmt)) < 0) {
		logf_(&e->log, "Error writing trailer", r);
		return r;
	}
	if (e->fmt->pb != NULL && (r = avio_closep(&e->fmt->pb)) < 0) {
		logf_(&e->log, e->fmt->url, r);
		return r;
	}
	return 0;
}

void ffenc_log(ffenc *e, char *buf, size_t n) { log_copy(&e->log, buf, n); }

void ffenc_free(ffenc *e) {
	if (e == NULL) {
		return;
	}
	if (e->fmt != NULL) {
		if (e->fmt->pb != NULL && !(e->fmt->oformat->flags & AVFMT_NOFILE)) {
			avio_closep(&e->fmt->pb); // an unfinished file stays, for the caller to remove
		}
		avformat_free_context(e->fmt);
	}
	avcodec_free_context(&e->cc);
	av_packet_free(&e->pkt);
	av_frame_free(&e->frame);
	av_frame_free(&e->lent);
	av_free(e->held);
	av_packet_free(&e->back);
	sws_freeContext(e->sws);
	av_free(e->padded);
	pthread_mutex_destroy(&e->log.mu);
	free(e);
}

// ---- scan: what ffprobe -select_streams V:0 shows of a file's first video stream, without a process ----

// scan_stream fills res from fmt's first video stream: its header's fields and, with packets, every packet read.
static int scan_stream(AVFormatContext *fmt, int packets, ffscan_result *res) {
	res->format_start = fmt->start_time;
	res->stream = video_stream(fmt);
	if (res->stream < 0) {
		return 0;
	}
	AVStream *st = fmt->streams[res->stream];
	res->duration = st->duration;
	res->nb_frames = st->nb_frames;
	res->start = st->start_time;
	res->tb_num = st->time_base.num;
	res->tb_den = st->time_base.den;
	keep_only(fmt, res->stream);
	AVPacket *pkt = av_packet_alloc();
	if (pkt == NULL) {
		return AVERROR(ENOMEM);
	}
	int cap = 0, r = 0;
	// Like ffprobe, the listing ends at the first read error: a damaged tail gives fewer packets, not a failure.
	while (packets > 0 && av_read_frame(fmt, pkt) >= 0) {
		if (pkt->stream_index == res->stream) {
			if (res->n == cap) {
				cap = cap ? 2 * cap : 1024;
				ffpacket *p = realloc(res->packets, (size_t)cap * sizeof *p);
				if (p == NULL) {
					av_packet_unref(pkt);
					r = AVERROR(ENOMEM);
					break;
				}
				res->packets = p;
			}
			res->packets[res->n++] = (ffpacket){pkt->pts, pkt->dts, pkt->duration, pkt->flags};
		}
		av_packet_unref(pkt);
	}
	av_packet_free(&pkt);
	return r;
}

int ffscan(const char *path, int packets, ffscan_result *res, char *logbuf, size_t loglen) {
	pthread_once(&log_once, log_setup);
	memset(res, 0, sizeof *res);
	res->stream = -1;
	fflog log;
	log_init(&log);
	AVFormatContext *fmt = NULL;
	// A piece this program's split wrote is read from its header too: nothing is decoded for the stream's
	// parameters (avformat_find_stream_info: most of a piece's check).
	int r = packets < 0 || packets == SCAN_OWN_PIECE ? open_header(&fmt, path, packets == SCAN_OWN_PIECE, &log)
	                                                 : open_input(&fmt, path, 0, NULL, &log);
	if (r >= 0) {
		r = scan_stream(fmt, packets > 0, res);
	}
	avformat_close_input(&fmt); // NULL-safe
	log_copy(&log, logbuf, loglen);
	pthread_mutex_destroy(&log.mu);
	return r;
}

// ---- index scan: an MP4's or MOV's packets as its sample tables list them, without reading sample data ----

// MAX_MDAT and MAX_BOXES bound the top-level layout an index scan accepts; anything else (fragments, many boxes)
// is scanned packet by packet.
#define MAX_MDAT 8
#define MAX_BOXES 64

// skipio reads a file through in, except the payloads of its mdat boxes: the demuxer reads every sample there,
// and an index scan only needs the sample tables in the moov, so those reads return without data (the scan runs
// without parsers, nothing looks at a packet's bytes). A long target's scan then reads its moov, not its samples:
// over HTTP, a few requests instead of the whole file.
typedef struct skipio {
	AVIOContext *in;
	int64_t size, pos;
	int64_t mdat[MAX_MDAT][2]; // payload [start, end)
	int nmdat;
} skipio;

static int skip_read(void *opaque, uint8_t *buf, int n) {
	skipio *s = opaque;
	if (s->pos >= s->size) {
		return AVERROR_EOF;
	}
	if (n > s->size - s->pos) {
		n = (int)(s->size - s->pos);
	}
	for (int i = 0; i < s->nmdat; i++) {
		if (s->pos >= s->mdat[i][0] && s->pos < s->mdat[i][1]) {
			if (n > s->mdat[i][1] - s->pos) {
				n = (int)(s->mdat[i][1] - s->pos);
			}
			s->pos += n; // sample data: skipped, buf left as it is
			return n;
		}
		if (s->mdat[i][0] > s->pos && s->mdat[i][0] - s->pos < n) {
			n = (int)(s->mdat[i][0] - s->pos);
		}
	}
	if (avio_seek(s->in, s->pos, SEEK_SET) < 0) {
		return AVERROR(EIO);
	}
	int r = avio_read(s->in, buf, n);
	if (r > 0) {
		s->pos += r;
	}
	return r == 0 ? AVERROR_EOF : r;
}

static int64_t skip_seek(void *opaque, int64_t off, int whence) {
	skipio *s = opaque;
	switch (whence & ~AVSEEK_FORCE) {
	case AVSEEK_SIZE:
		return s->size;
	case SEEK_SET:
		break;
	case SEEK_CUR:
		off += s->pos;
		break;
	case SEEK_END:
		off += s->size;
		break;
	default:
		return AVERROR(EINVAL);
	}
	if (off < 0) {
		return AVERROR(EINVAL);
	}
	return s->pos = off;
}

// box_layout walks s->in's top-level boxes and records its mdat payloads. 1: not a file an index scan can read (not
// ISO BMFF, fragmented, too many boxes or mdats, a box that does not fit), scanned packet by packet instead.
static int box_layout(skipio *s) {
	int64_t off = 0;
	for (int n = 0; off < s->size; n++) {
		uint8_t h[16];
		if (n == MAX_BOXES || avio_seek(s->in, off, SEEK_SET) < 0 || avio_read(s->in, h, 8) != 8) {
			return 1;
		}
		int64_t size = AV_RB32(h), hdr = 8;
		if (size == 1) {
			if (avio_read(s->in, h + 8, 8) != 8) {
				return 1;
			}
			size = (int64_t)AV_RB64(h + 8);
			hdr = 16;
		} else if (size == 0) {
			size = s->size - off; // to the end of the file
		}
		const char *tag = (const char *)h + 4;
		if (size < hdr || size > s->size - off || memcmp(tag, "moof", 4) == 0 ||
		    (n == 0 && memcmp(tag, "ftyp", 4) != 0 && memcmp(tag, "moov", 4) != 0 && memcmp(tag, "mdat", 4) != 0 &&
		     memcmp(tag, "free", 4) != 0 && memcmp(tag, "wide", 4) != 0)) {
			return 1;
		}
		if (memcmp(tag, "mdat", 4) == 0) {
			if (s->nmdat == MAX_MDAT) {
				return 1;
			}
			s->mdat[s->nmdat][0] = off + hdr;
			s->mdat[s->nmdat][1] = off + size;
			s->nmdat++;
		}
		off += size;
	}
	return 0;
}

int ffscan_index(const char *path, ffscan_result *res, char *logbuf, size_t loglen) {
	pthread_once(&log_once, log_setup);
	memset(res, 0, sizeof *res);
	res->stream = -1;
	fflog log;
	log_init(&log);
	skipio s = {0};
	AVIOContext *pb = NULL;
	AVFormatContext *fmt = NULL;
	AVDictionary *opts = NULL;
	if (strstr(path, "://") != NULL) {
		av_dict_set(&opts, "rw_timeout", URL_TIMEOUT_US, 0);
	}
	int r = avio_open2(&s.in, path, AVIO_FLAG_READ, NULL, &opts);
	av_dict_free(&opts);
	if (r < 0) {
		logf_(&log, path, r);
		goto out;
	}
	if ((s.size = avio_size(s.in)) <= 0 || !(s.in->seekable & AVIO_SEEKABLE_NORMAL) || box_layout(&s) != 0) {
		r = 1;
		goto out;
	}
	// A small buffer: reads of samples larger than it go straight to skip_read, which does not copy them.
	enum { BUF = 4096 };
	uint8_t *buf = av_malloc(BUF);
	if (buf == NULL || (pb = avio_alloc_context(buf, BUF, 0, &s, skip_read, NULL, skip_seek)) == NULL) {
		av_free(buf);
		r = AVERROR(ENOMEM);
		goto out;
	}
	if ((fmt = avformat_alloc_context()) == NULL) {
		r = AVERROR(ENOMEM);
		goto out;
	}
	fmt->opaque = &log;
	fmt->pb = pb;
	// No parsers: they would read the skipped bytes. Packets, times and key flags are the sample tables'.
	fmt->flags |= AVFMT_FLAG_CUSTOM_IO | AVFMT_FLAG_NOPARSE;
	if ((r = avformat_open_input(&fmt, path, av_find_input_format("mov"), NULL)) < 0) { // frees fmt on failure
		logf_(&log, path, r);
		goto out;
	}
	int v = video_stream(fmt);
	enum AVCodecID id = v < 0 ? AV_CODEC_ID_NONE : fmt->streams[v]->codecpar->codec_id;
	if (id != AV_CODEC_ID_H264 && id != AV_CODEC_ID_HEVC) {
		r = 1; // codecs whose parser (which the packet scan and the cut run) may set other key flags
		goto out;
	}
	r = scan_stream(fmt, 1, res);
out:
	avformat_close_input(&fmt);
	if (pb != NULL) {
		av_freep(&pb->buffer);
		avio_context_free(&pb);
	}
	avio_closep(&s.in);
	log_copy(&log, logbuf, loglen);
	pthread_mutex_destroy(&log.mu);
	return r;
}

void ffscan_free(ffscan_result *res) {
	free(res->packets);
	res->packets = NULL;
}

// ---- probe: ffprobe -show_format -show_streams, the fields Probe reads ----

static void copy_name(char *dst, size_t n, const char *src) {
	snprintf(dst, n, "%s", src != NULL ? src : "");
}

int ffprobe_file(const char *path, ffprobe_result *res, char *logbuf, size_t loglen) {
	pthread_once(&log_once, log_setup);
	memset(res, 0, sizeof *res);
	fflog log;
	log_init(&log);
	AVFormatContext *fmt = NULL;
	int r = open_input(&fmt, path, 0, NULL, &log);
	if (r < 0) {
		goto out;
	}
	copy_name(res->format, sizeof res->format, fmt->iformat->name);
	res->duration = fmt->duration;
	res->n = (int)fmt->nb_streams;
	if (res->n > 0 && (res->streams = calloc((size_t)res->n, sizeof *res->streams)) == NULL) {
		r = AVERROR(ENOMEM);
		goto out;
	}
	for (int i = 0; i < res->n; i++) {
		AVStream *st = fmt->streams[i];
		AVCodecParameters *par = st->codecpar;
		ffstream_info *s = &res->streams[i];
		copy_name(s->type, sizeof s->type, av_get_media_type_string(par->codec_type));
		const AVCodecDescriptor *desc = avcodec_descriptor_get(par->codec_id);
		copy_name(s->codec, sizeof s->codec, desc != NULL ? desc->name : NULL);
		s->attached_pic = (st->disposition & AV_DISPOSITION_ATTACHED_PIC) != 0;
		s->duration = st->duration;
		s->tb_num = st->time_base.num;
		s->tb_den = st->time_base.den;
		if (par->codec_type != AVMEDIA_TYPE_VIDEO) {
			continue;
		}
		s->width = par->width;
		s->height = par->height;
		copy_name(s->pix_fmt, sizeof s->pix_fmt, av_get_pix_fmt_name(par->format));
		s->r_num = st->r_frame_rate.num;
		s->r_den = st->r_frame_rate.den;
		s->avg_num = st->avg_frame_rate.num;
		s->avg_den = st->avg_frame_rate.den;
		AVRational sar = av_guess_sample_aspect_ratio(fmt, st, NULL);
		s->sar_num = sar.num;
		s->sar_den = sar.den;
		s->bits_per_raw_sample = par->bits_per_raw_sample;
		if (par->color_space != AVCOL_SPC_UNSPECIFIED) {
			copy_name(s->space, sizeof s->space, av_color_space_name(par->color_space));
		}
		if (par->color_range != AVCOL_RANGE_UNSPECIFIED) {
			copy_name(s->range, sizeof s->range, av_color_range_name(par->color_range));
		}
		if (par->color_primaries != AVCOL_PRI_UNSPECIFIED) {
			copy_name(s->primaries, sizeof s->primaries, av_color_primaries_name(par->color_primaries));
		}
		if (par->color_trc != AVCOL_TRC_UNSPECIFIED) {
			copy_name(s->transfer, sizeof s->transfer, av_color_transfer_name(par->color_trc));
		}
		size_t size = 0;
		const uint8_t *matrix = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, &size);
		if (matrix != NULL && size >= 9 * sizeof(int32_t)) {
			s->has_rotation = 1;
			s->rotation = av_display_rotation_get((const int32_t *)matrix);
		}
		const AVDictionaryEntry *tag = av_dict_get(st->metadata, "rotate", NULL, 0);
		copy_name(s->rotate_tag, sizeof s->rotate_tag, tag != NULL ? tag->value : NULL);
	}
	r = 0;
out:
	avformat_close_input(&fmt);
	log_copy(&log, logbuf, loglen);
	pthread_mutex_destroy(&log.mu);
	return r;
}

void ffprobe_free(ffprobe_result *res) {
	free(res->streams);
	res->streams = NULL;
}

// ---- remux (stitch) ----
//
// ffremux is "ffmpeg [-itsoffset D] -f concat -safe 0 -i LIST [-i AUDIO] -map 0:v:0 -c:v copy [-map 1:a:0? -c:a
// copy] -map_metadata -1 -map_chapters -1 [-metadata K=V ...] [-metadata:s:v:0 rotate=R] [-movflags
// +use_metadata_tags] -f FORMAT OUT" with ffmpeg 5.1's stream-copy rules: every input shifted so that it starts at
// 0 (-itsoffset added to the list's), stream parameters, dispositions and side data copied (not tags: -map_metadata
// -1), the input's codec tag kept where the container allows it, audio timestamps carried sample-exact into the
// output's time base (av_rescale_delta), packets handed to the muxer in timestamp order.

typedef struct {
	AVFormatContext *fmt;
	int index;      // the input stream copied
	AVStream *out;  // its output stream
	int64_t offset; // added to every timestamp, in the input stream's time base
	AVPacket *pkt;  // the next packet when have
	int have, done;
	int64_t last;   // av_rescale_delta's state for audio
} remux_input;

static int first_audio(AVFormatContext *fmt) {
	for (unsigned i = 0; i < fmt->nb_streams; i++) {
		if (fmt->streams[i]->codecpar->codec_type == AVMEDIA_TYPE_AUDIO) {
			return (int)i;
		}
	}
	return -1;
}

static int copy_stream(AVFormatContext *out, remux_input *in) {
	AVStream *ist = in->fmt->streams[in->index];
	AVStream *st = avformat_new_stream(out, NULL);
	if (st == NULL) {
		return AVERROR(ENOMEM);
	}
	int r = avcodec_parameters_copy(st->codecpar, ist->codecpar);
	if (r < 0) {
		return r;
	}
	uint32_t tag = ist->codecpar->codec_tag, unused;
	const struct AVCodecTag *const *tags = out->oformat->codec_tag;
	if (tags != NULL && av_codec_get_id(tags, tag) != ist->codecpar->codec_id &&
	    av_codec_get_tag2(tags, ist->codecpar->codec_id, &unused)) {
		tag = 0; // the container has its own tag for this codec
	}
	st->codecpar->codec_tag = tag;
	st->time_base = ist->time_base;
	st->avg_frame_rate = ist->avg_frame_rate;
	st->r_frame_rate = ist->r_frame_rate;
	st->sample_aspect_ratio = ist->sample_aspect_ratio;
	st->disposition = ist->disposition;
	if (ist->duration > 0) {
		st->duration = ist->duration;
	}
	for (int i = 0; i < ist->nb_side_data; i++) {
		const AVPacketSideData *sd = &ist->side_data[i];
		uint8_t *dst = av_stream_new_side_data(st, sd->type, sd->size);
		if (dst == NULL) {
			return AVERROR(ENOMEM);
		}
		memcpy(dst, sd->data, sd->size);
	}
	in->out = st;
	return 0;
}

// remux_next makes sure in holds its next packet of the copied stream, or is done.
static int remux_next(remux_input *in) {
	while (!in->have && !in->done) {
		int r = av_read_frame(in->fmt, in->pkt);
		if (r == AVERROR_EOF) {
			in->done = 1;
			return 0;
		}
		if (r < 0) {
			return r;
		}
		if (in->pkt->stream_index != in->index) {
			av_packet_unref(in->pkt);
			continue;
		}
		if (in->pkt->pts != AV_NOPTS_VALUE) {
			in->pkt->pts += in->offset;
		}
		if (in->pkt->dts != AV_NOPTS_VALUE) {
			in->pkt->dts += in->offset;
		}
		in->have = 1;
	}
	return 0;
}

// remux_times takes in's packet into its output stream's time base as ffmpeg 5.1's stream copy does: audio dts
// through av_rescale_delta at the sample rate (a matroska source's millisecond stamps come out sample-exact), pts =
// dts for audio, plain rescaling for the rest.
static void remux_times(remux_input *in) {
	AVPacket *pkt = in->pkt;
	const AVStream *ist = in->fmt->streams[in->index];
	const AVCodecParameters *par = ist->codecpar;
	AVRational out = in->out->time_base;
	if (par->codec_type != AVMEDIA_TYPE_AUDIO || pkt->dts == AV_NOPTS_VALUE || par->sample_rate <= 0) {
		av_packet_rescale_ts(pkt, ist->time_base, out);
		return;
	}
	int duration = av_get_audio_frame_duration2((AVCodecParameters *)par, pkt->size);
	if (duration == 0) {
		duration = par->frame_size;
	}
	pkt->dts = av_rescale_delta(ist->time_base, pkt->dts, (AVRational){1, par->sample_rate}, duration, &in->last, out);
	pkt->pts = pkt->dts;
	pkt->duration = av_rescale_q(pkt->duration, ist->time_base, out);
}

static int64_t packet_time(const remux_input *in) {
	int64_t t = in->pkt->dts != AV_NOPTS_VALUE ? in->pkt->dts : in->pkt->pts;
	return t == AV_NOPTS_VALUE ? INT64_MIN : t;
}

// stopped is the interrupt callback of the remux's contexts: FFmpeg's blocking reads and writes give up when it
// returns non-zero, and the packet loop checks it between packets.
static int stopped(void *stop) { return __atomic_load_n((const int *)stop, __ATOMIC_RELAXED) != 0; }

int ffremux(const char *list, int64_t list_offset_us, const char *audio, const char *path, const char *format,
            const char *const *tags, int ntags, const char *rotate, int movflags, const int *stop,
            int64_t *video_packets, char *logbuf, size_t loglen) {
	pthread_once(&log_once, log_setup);
	*video_packets = 0;
	fflog l;
	log_init(&l);
	remux_input in[2];
	memset(in, 0, sizeof in);
	in[0].last = in[1].last = AV_NOPTS_VALUE;
	int n = 0;
	AVFormatContext *out = NULL;
	AVDictionary *opts = NULL;
	int opened = 0;
	AVIOInterruptCB interrupt = {stopped, (void *)stop};
	int r = open_input(&in[0].fmt, list, 1, &interrupt, &l);
	if (r < 0) {
		goto end;
	}
	if ((in[0].index = video_stream(in[0].fmt)) < 0) {
		r = FF_ERR_NO_VIDEO;
		goto end;
	}
	n = 1;
	if (audio != NULL && audio[0] != 0) {
		if ((r = open_input(&in[1].fmt, audio, 0, &interrupt, &l)) < 0) {
			goto end;
		}
		if ((in[1].index = first_audio(in[1].fmt)) >= 0) { // "-map 1:a:0?": no audio is no error
			n = 2;
		}
	}
	// ffmpeg's input offset: -start_time of the whole file (every stream), plus -itsoffset for the list.
	for (int i = 0; i < n; i++) {
		int64_t start = in[i].fmt->start_time == AV_NOPTS_VALUE ? 0 : in[i].fmt->start_time;
		int64_t off = (i == 0 ? list_offset_us : 0) - start;
		in[i].offset = av_rescale_q(off, AV_TIME_BASE_Q, in[i].fmt->streams[in[i].index]->time_base);
		if ((in[i].pkt = av_packet_alloc()) == NULL) {
			r = AVERROR(ENOMEM);
			goto end;
		}
	}
	if ((r = avformat_alloc_output_context2(&out, NULL, format, path)) < 0) {
		logf_(&l, path, r);
		goto end;
	}
	out->opaque = &l;
	out->interrupt_callback = interrupt;
	for (int i = 0; i < n; i++) {
		if ((r = copy_stream(out, &in[i])) < 0) {
			logf_(&l, path, r);
			goto end;
		}
	}
	for (int i = 0; i + 1 < 2 * ntags; i += 2) {
		if ((r = av_dict_set(&out->metadata, tags[i], tags[i + 1], 0)) < 0) {
			logf_(&l, path, r);
			goto end;
		}
	}
	if (rotate != NULL && rotate[0] != 0) {
		// -metadata:s:v:0 rotate=R sets the tag and, in ffmpeg 5.1, a display matrix of -R degrees.
		av_dict_set(&in[0].out->metadata, "rotate", rotate, 0);
		uint8_t *sd = av_stream_new_side_data(in[0].out, AV_PKT_DATA_DISPLAYMATRIX, sizeof(int32_t) * 9);
		if (sd == NULL) {
			r = AVERROR(ENOMEM);
			goto end;
		}
		av_display_rotation_set((int32_t *)sd, -strtod(rotate, NULL));
	}
	if (movflags) {
		av_dict_set(&opts, "movflags", "+use_metadata_tags", 0);
	}
	if ((r = avio_open2(&out->pb, path, AVIO_FLAG_WRITE, &interrupt, NULL)) < 0) {
		logf_(&l, path, r);
		goto end;
	}
	opened = 1;
	if ((r = avformat_write_header(out, &opts)) < 0) {
		logf_(&l, path, r);
		goto end;
	}
	for (;;) {
		if (stopped((void *)stop)) {
			r = AVERROR_EXIT;
			goto end;
		}
		int pick = -1;
		for (int i = 0; i < n; i++) {
			if ((r = remux_next(&in[i])) < 0) {
				logf_(&l, i == 0 ? list : audio, r);
				goto end;
			}
			if (in[i].have && (pick < 0 || av_compare_ts(packet_time(&in[i]),
			                                             in[i].fmt->streams[in[i].index]->time_base,
			                                             packet_time(&in[pick]),
			                                             in[pick].fmt->streams[in[pick].index]->time_base) < 0)) {
				pick = i;
			}
		}
		if (pick < 0) {
			break;
		}
		AVPacket *pkt = in[pick].pkt;
		remux_times(&in[pick]);
		pkt->stream_index = in[pick].out->index;
		pkt->pos = -1;
		in[pick].have = 0;
		if ((r = av_interleaved_write_frame(out, pkt)) < 0) { // takes the packet, leaves pkt blank
			logf_(&l, path, r);
			goto end;
		}
		if (pick == 0) {
			(*video_packets)++;
		}
	}
	if ((r = av_write_trailer(out)) < 0) {
		logf_(&l, path, r);
	}
end:
	if (r < 0) {
		log_copy(&l, logbuf, loglen);
	}
	av_dict_free(&opts);
	if (out != NULL) {
		if (opened) {
			avio_closep(&out->pb);
		}
		avformat_free_context(out);
	}
	for (int i = 0; i < 2; i++) {
		av_packet_free(&in[i].pkt);
		if (in[i].fmt != NULL) {
			avformat_close_input(&in[i].fmt);
		}
	}
	pthread_mutex_destroy(&l.mu);
	return r;
}

// ---- copy ----

int ffcopy(const char *in_path, const char *path, const char *format, int64_t *video_packets, char *logbuf,
           size_t loglen) {
	pthread_once(&log_once, log_setup);
	*video_packets = 0;
	fflog l;
	log_init(&l);
	remux_input in;
	memset(&in, 0, sizeof in);
	in.last = AV_NOPTS_VALUE;
	AVFormatContext *out = NULL;
	int opened = 0;
	int r;
	// Opened and probed once. The probe decodes a few frames: a matroska piece stores no decode times, and the MP4's
	// are derived from the B-frame delay that only decoding tells (without it they go backwards and the muxer
	// refuses the first B-frame).
	if ((r = open_input(&in.fmt, in_path, 0, NULL, &l)) < 0) {
		goto end;
	}
	if ((in.index = video_stream(in.fmt)) < 0) {
		r = FF_ERR_NO_VIDEO;
		goto end;
	}
	keep_only(in.fmt, in.index);
	int64_t start = in.fmt->start_time == AV_NOPTS_VALUE ? 0 : in.fmt->start_time;
	in.offset = av_rescale_q(-start, AV_TIME_BASE_Q, in.fmt->streams[in.index]->time_base);
	if ((in.pkt = av_packet_alloc()) == NULL) {
		r = AVERROR(ENOMEM);
		goto end;
	}
	if ((r = avformat_alloc_output_context2(&out, NULL, format, path)) < 0) {
		logf_(&l, path, r);
		goto end;
	}
	out->opaque = &l;
	if ((r = copy_stream(out, &in)) < 0 || (r = avio_open(&out->pb, path, AVIO_FLAG_WRITE)) < 0) {
		logf_(&l, path, r);
		goto end;
	}
	opened = 1;
	if ((r = avformat_write_header(out, NULL)) < 0) {
		logf_(&l, path, r);
		goto end;
	}
	for (;;) {
		if ((r = remux_next(&in)) < 0) {
			logf_(&l, in_path, r);
			goto end;
		}
		if (!in.have) {
			break;
		}
		remux_times(&in);
		in.pkt->stream_index = in.out->index;
		in.pkt->pos = -1;
		in.have = 0;
		if ((r = av_interleaved_write_frame(out, in.pkt)) < 0) {
			logf_(&l, path, r);
			goto end;
		}
		(*video_packets)++;
	}
	if ((r = av_write_trailer(out)) < 0) {
		logf_(&l, path, r);
	}
end:
	if (r < 0) {
		log_copy(&l, logbuf, loglen);
	}
	if (out != NULL) {
		if (opened) {
			avio_closep(&out->pb);
		}
		avformat_free_context(out);
	}
	av_packet_free(&in.pkt);
	if (in.fmt != NULL) {
		avformat_close_input(&in.fmt);
	}
	pthread_mutex_destroy(&l.mu);
	return r;
}

// ---- split ----
//
// ffsplit is "ffmpeg -i SRC -map 0:V:0 -an -sn -dn -c copy -map_metadata -1 -map_chapters -1 -f segment
// -segment_format FORMAT -segment_frames CUTS -reset_timestamps 1 DIR/segment-%05d.EXT" in this process, a piece a
// call, with ffmpeg 5.1's timestamp arithmetic step for step, so that every piece's packets carry the command's
// times, each piece starting at 0 (the command's first piece keeps its outer muxer's shift; TestSplitMatchesCommand):
// the input shifted to start at 0 (its start time, in AV_TIME_BASE, into the stream's time base), rescaled into the
// piece's time base, then the piece's first packet's pts taken off after a trip through AV_TIME_BASE (the segment
// muxer's start_pts); leading packets before the first keyframe are
// dropped as the command's stream copy drops them; a piece ends before the first keyframe at or after its cut (the
// segment muxer counts the packets it was given, in decode order). Only demuxers that give every packet a dts
// (MP4, MOV) are cut here: for the others the command estimates the missing ones its own way (FF_ERR_FORMAT).

struct ffsplit {
	fflog log;
	remux_input in;   // in.pkt is the next packet when in.have
	AVIOInterruptCB interrupt;
	int64_t given;    // packets handed to pieces so far: the segment muxer's frame count
};

int ffsplit_open(ffsplit **sp, const char *src, const int *stop, char *logbuf, size_t loglen) {
	pthread_once(&log_once, log_setup);
	ffsplit *s = calloc(1, sizeof *s);
	*sp = s;
	if (s == NULL) {
		return AVERROR(ENOMEM);
	}
	log_init(&s->log);
	s->in.last = AV_NOPTS_VALUE;
	s->interrupt = (AVIOInterruptCB){stopped, (void *)stop};
	int r = open_input(&s->in.fmt, src, 0, &s->interrupt, &s->log);
	if (r < 0) {
		goto end;
	}
	if (strncmp(s->in.fmt->iformat->name, "mov,", 4) != 0) {
		r = FF_ERR_FORMAT;
		goto end;
	}
	if ((s->in.index = video_stream(s->in.fmt)) < 0) {
		r = FF_ERR_NO_VIDEO;
		goto end;
	}
	keep_only(s->in.fmt, s->in.index);
	int64_t start = s->in.fmt->start_time == AV_NOPTS_VALUE ? 0 : s->in.fmt->start_time;
	s->in.offset = av_rescale_q(-start, AV_TIME_BASE_Q, s->in.fmt->streams[s->in.index]->time_base);
	if ((s->in.pkt = av_packet_alloc()) == NULL) {
		r = AVERROR(ENOMEM);
	}
end:
	if (r < 0 && r != FF_ERR_FORMAT) {
		log_copy(&s->log, logbuf, loglen);
	}
	return r;
}

// split_next makes sure s holds the next packet a piece can take: none before the stream's first keyframe.
static int split_next(ffsplit *s) {
	for (;;) {
		if (stopped(s->interrupt.opaque)) {
			return AVERROR_EXIT;
		}
		int r = remux_next(&s->in);
		if (r < 0 || !s->in.have || s->given > 0 || (s->in.pkt->flags & AV_PKT_FLAG_KEY)) {
			return r;
		}
		av_packet_unref(s->in.pkt);
		s->in.have = 0;
	}
}

int ffsplit_piece(ffsplit *s, const char *path, const char *format, int64_t cut, int64_t *packets, char *logbuf,
                  size_t loglen) {
	*packets = 0;
	AVFormatContext *out = NULL;
	int opened = 0;
	int r = split_next(s);
	if (r < 0) {
		logf_(&s->log, s->in.fmt->url, r);
		goto end;
	}
	if (!s->in.have) {
		goto end; // the stream ended: no piece, as the segment muxer opens none
	}
	if ((r = avformat_alloc_output_context2(&out, NULL, format, path)) < 0) {
		logf_(&s->log, path, r);
		goto end;
	}
	out->opaque = &s->log;
	out->interrupt_callback = s->interrupt;
	if ((r = copy_stream(out, &s->in)) < 0 || (r = avio_open2(&out->pb, path, AVIO_FLAG_WRITE, &s->interrupt, NULL)) < 0) {
		logf_(&s->log, path, r);
		goto end;
	}
	opened = 1;
	if ((r = avformat_write_header(out, NULL)) < 0) {
		logf_(&s->log, path, r);
		goto end;
	}
	AVRational tb = s->in.out->time_base; // the muxer's, once its header is written
	int64_t reset = 0;
	while (s->in.have) {
		AVPacket *pkt = s->in.pkt;
		if (*packets > 0 && s->given >= cut && (pkt->flags & AV_PKT_FLAG_KEY)) {
			break; // the next piece's first packet
		}
		remux_times(&s->in);
		if (*packets == 0) {
			// The segment muxer's start: the first packet's pts (its dts where a damaged file gives none).
			int64_t first = pkt->pts != AV_NOPTS_VALUE ? pkt->pts : pkt->dts;
			if (first != AV_NOPTS_VALUE) {
				reset = av_rescale_q(-av_rescale_q(first, tb, AV_TIME_BASE_Q), AV_TIME_BASE_Q, tb);
			}
		}
		if (pkt->pts != AV_NOPTS_VALUE) {
			pkt->pts += reset;
		}
		if (pkt->dts != AV_NOPTS_VALUE) {
			pkt->dts += reset;
		}
		pkt->stream_index = s->in.out->index;
		pkt->pos = -1;
		s->in.have = 0;
		if ((r = av_interleaved_write_frame(out, pkt)) < 0) {
			logf_(&s->log, path, r);
			goto end;
		}
		(*packets)++;
		s->given++;
		if ((r = split_next(s)) < 0) {
			logf_(&s->log, s->in.fmt->url, r);
			goto end;
		}
	}
	if ((r = av_write_trailer(out)) < 0) {
		logf_(&s->log, path, r);
		goto end;
	}
	opened = 0;
	if ((r = avio_closep(&out->pb)) < 0) {
		logf_(&s->log, path, r);
	}
end:
	if (out != NULL) {
		if (opened) {
			avio_closep(&out->pb);
		}
		avformat_free_context(out);
	}
	if (r < 0) {
		log_copy(&s->log, logbuf, loglen);
	}
	return r;
}

void ffsplit_free(ffsplit *s) {
	if (s == NULL) {
		return;
	}
	av_packet_free(&s->in.pkt);
	if (s->in.fmt != NULL) {
		avformat_close_input(&s->in.fmt);
	}
	pthread_mutex_destroy(&s->log.mu);
	free(s);
}

// ---- appender (progressive stitch) ----
//
// ffappend is ffremux fed one piece at a time: the output is opened with the first piece's video stream and the
// audio file's first audio stream, each piece's packets are appended as it comes, shifted as the concat demuxer
// shifts them (by the durations of the pieces before it, less the piece's own start), and the audio is written up
// to each video packet's time, so the packets reach the muxer in the order ffremux gives them. At close the rest
// of the audio and the trailer are written.

struct ffappend {
	fflog log;
	AVFormatContext *out;
	AVStream *vout;         // the output's video stream
	AVRational tb;          // the first piece's video time base: the list's, in which next is counted
	int64_t next;           // where the next piece starts, in tb (the offset of the list included)
	remux_input audio;      // index < 0: none
	AVIOInterruptCB interrupt;
	int opened, header;
	int64_t audio_packets;
};

// open_piece opens a piece and finds its video stream, with what the concat demuxer reads of it.
static int open_piece(ffappend *a, const char *piece, AVFormatContext **fmt, int *index) {
	int r = open_input(fmt, piece, 0, &a->interrupt, &a->log);
	if (r < 0) {
		return r;
	}
	if ((*index = video_stream(*fmt)) < 0) {
		return FF_ERR_NO_VIDEO;
	}
	keep_only(*fmt, *index);
	return 0;
}

// append_audio writes the audio's packets that ffremux's merge would write before a video packet at time t (in
// tb): those strictly earlier; every remaining one when t is INT64_MAX.
static int append_audio(ffappend *a, int64_t t, AVRational tb) {
	remux_input *in = &a->audio;
	if (in->fmt == NULL) {
		return 0;
	}
	for (;;) {
		int r = remux_next(in);
		if (r < 0) {
			logf_(&a->log, "audio", r);
			return r;
		}
		if (!in->have) {
			return 0;
		}
		if (t != INT64_MAX &&
		    av_compare_ts(packet_time(in), in->fmt->streams[in->index]->time_base, t, tb) >= 0) {
			return 0;
		}
		remux_times(in);
		in->pkt->stream_index = in->out->index;
		in->pkt->pos = -1;
		in->have = 0;
		if ((r = av_interleaved_write_frame(a->out, in->pkt)) < 0) {
			return r;
		}
		a->audio_packets++;
	}
}

int ffappend_open(ffappend **ap, const char *first, int64_t list_offset_us, const char *audio, const char *path,
                  const char *format, const char *const *tags, int ntags, const char *rotate, int movflags,
                  const int *stop, char *logbuf, size_t loglen) {
	pthread_once(&log_once, log_setup);
	ffappend *a = calloc(1, sizeof *a);
	*ap = a;
	if (a == NULL) {
		return AVERROR(ENOMEM);
	}
	log_init(&a->log);
	a->audio.last = AV_NOPTS_VALUE;
	a->interrupt = (AVIOInterruptCB){stopped, (void *)stop};
	AVFormatContext *piece = NULL;
	AVDictionary *opts = NULL;
	int index;
	int r = open_piece(a, first, &piece, &index);
	if (r < 0) {
		goto end;
	}
	AVStream *ist = piece->streams[index];
	a->tb = ist->time_base;
	a->next = av_rescale_q(list_offset_us, AV_TIME_BASE_Q, a->tb);
	if ((r = avformat_alloc_output_context2(&a->out, NULL, format, path)) < 0) {
		logf_(&a->log, path, r);
		goto end;
	}
	a->out->opaque = &a->log;
	a->out->interrupt_callback = a->interrupt;
	remux_input v = {.fmt = piece, .index = index};
	if ((r = copy_stream(a->out, &v)) < 0) {
		logf_(&a->log, path, r);
		goto end;
	}
	a->vout = v.out;
	a->vout->duration = 0; // the list's stream has none: the muxer counts what is written
	if (audio != NULL && audio[0] != 0) {
		if ((r = open_input(&a->audio.fmt, audio, 0, &a->interrupt, &a->log)) < 0) {
			goto end;
		}
		if ((a->audio.index = first_audio(a->audio.fmt)) < 0) { // "-map 1:a:0?": no audio is no error
			avformat_close_input(&a->audio.fmt);
		} else {
			AVStream *ast = a->audio.fmt->streams[a->audio.index];
			int64_t start = a->audio.fmt->start_time == AV_NOPTS_VALUE ? 0 : a->audio.fmt->start_time;
			a->audio.offset = av_rescale_q(-start, AV_TIME_BASE_Q, ast->time_base);
			if ((a->audio.pkt = av_packet_alloc()) == NULL) {
				r = AVERROR(ENOMEM);
				goto end;
			}
			if ((r = copy_stream(a->out, &a->audio)) < 0) {
				logf_(&a->log, path, r);
				goto end;
			}
		}
	}
	for (int i = 0; i + 1 < 2 * ntags; i += 2) {
		if ((r = av_dict_set(&a->out->metadata, tags[i], tags[i + 1], 0)) < 0) {
			logf_(&a->log, path, r);
			goto end;
		}
	}
	if (rotate != NULL && rotate[0] != 0) { // as ffremux
		av_dict_set(&a->vout->metadata, "rotate", rotate, 0);
		uint8_t *sd = av_stream_new_side_data(a->vout, AV_PKT_DATA_DISPLAYMATRIX, sizeof(int32_t) * 9);
		if (sd == NULL) {
			r = AVERROR(ENOMEM);
			goto end;
		}
		av_display_rotation_set((int32_t *)sd, -strtod(rotate, NULL));
	}
	if (movflags) {
		av_dict_set(&opts, "movflags", "+use_metadata_tags", 0);
	}
	if ((r = avio_open2(&a->out->pb, path, AVIO_FLAG_WRITE, &a->interrupt, NULL)) < 0) {
		logf_(&a->log, path, r);
		goto end;
	}
	a->opened = 1;
	if ((r = avformat_write_header(a->out, &opts)) < 0) {
		logf_(&a->log, path, r);
		goto end;
	}
	a->header = 1;
end:
	av_dict_free(&opts);
	if (piece != NULL) {
		avformat_close_input(&piece);
	}
	if (r < 0) {
		log_copy(&a->log, logbuf, loglen);
	}
	return r;
}

int ffappend_piece(ffappend *a, const char *path, int64_t duration, int tb_num, int tb_den, int64_t *packets,
                   char *logbuf, size_t loglen) {
	*packets = 0;
	AVFormatContext *piece = NULL;
	AVPacket *pkt = NULL;
	int index;
	int r = open_piece(a, path, &piece, &index);
	if (r < 0) {
		goto end;
	}
	AVStream *ist = piece->streams[index];
	// The concat demuxer's shift: the piece starts where the ones before it end; its own start time is taken off.
	int64_t start = piece->start_time == AV_NOPTS_VALUE ? 0 : piece->start_time;
	int64_t offset = av_rescale_q(a->next, a->tb, ist->time_base) - av_rescale_q(start, AV_TIME_BASE_Q, ist->time_base);
	if ((pkt = av_packet_alloc()) == NULL) {
		r = AVERROR(ENOMEM);
		goto end;
	}
	for (;;) {
		if (stopped(a->interrupt.opaque)) {
			r = AVERROR_EXIT;
			goto end;
		}
		if ((r = av_read_frame(piece, pkt)) == AVERROR_EOF) {
			r = 0;
			break;
		}
		if (r < 0) {
			logf_(&a->log, path, r);
			goto end;
		}
		if (pkt->stream_index != index) {
			av_packet_unref(pkt);
			continue;
		}
		if (pkt->pts != AV_NOPTS_VALUE) {
			pkt->pts += offset;
		}
		if (pkt->dts != AV_NOPTS_VALUE) {
			pkt->dts += offset;
		}
		int64_t t = pkt->dts != AV_NOPTS_VALUE ? pkt->dts : pkt->pts;
		if ((r = append_audio(a, t == AV_NOPTS_VALUE ? INT64_MIN : t, ist->time_base)) < 0) {
			logf_(&a->log, a->out->url, r);
			goto end;
		}
		av_packet_rescale_ts(pkt, ist->time_base, a->vout->time_base);
		pkt->stream_index = a->vout->index;
		pkt->pos = -1;
		if ((r = av_interleaved_write_frame(a->out, pkt)) < 0) {
			logf_(&a->log, a->out->url, r);
			goto end;
		}
		(*packets)++;
	}
	a->next += av_rescale_q(duration, (AVRational){tb_num, tb_den}, a->tb);
	avio_flush(a->out->pb);
end:
	av_packet_free(&pkt);
	if (piece != NULL) {
		avformat_close_input(&piece);
	}
	if (r < 0) {
		log_copy(&a->log, logbuf, loglen);
	}
	return r;
}

int64_t ffappend_written(ffappend *a) { return a->out != NULL && a->out->pb != NULL ? avio_tell(a->out->pb) : 0; }

int ffappend_close(ffappend *a, char *logbuf, size_t loglen) {
	int r = append_audio(a, INT64_MAX, AV_TIME_BASE_Q);
	if (r < 0) {
		logf_(&a->log, a->out->url, r);
	} else if ((r = av_write_trailer(a->out)) < 0) {
		logf_(&a->log, a->out->url, r);
	}
	if (r >= 0 && (r = avio_closep(&a->out->pb)) < 0) {
		logf_(&a->log, a->out->url, r);
	}
	a->opened = 0;
	if (r < 0) {
		log_copy(&a->log, logbuf, loglen);
	}
	return r;
}

void ffappend_free(ffappend *a) {
	if (a == NULL) {
		return;
	}
	if (a->out != NULL) {
		if (a->opened) {
			avio_closep(&a->out->pb);
		}
		avformat_free_context(a->out);
	}
	av_packet_free(&a->audio.pkt);
	if (a->audio.fmt != NULL) {
		avformat_close_input(&a->audio.fmt);
	}
	pthread_mutex_destroy(&a->log.mu);
	free(a);
}
