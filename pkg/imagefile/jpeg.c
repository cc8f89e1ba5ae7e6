#include "jpeg.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>

#include <jpeglib.h>

// libjpeg reports errors by calling error_exit, which must not return: jump back to the caller instead of the
// default exit(), and keep the message for the Go error.
typedef struct {
	struct jpeg_error_mgr pub;
	jmp_buf jump;
	char *msg;
} imgjpeg_error;

static void imgjpeg_error_exit(j_common_ptr cinfo) {
	imgjpeg_error *e = (imgjpeg_error *)cinfo->err;
	char buf[JMSG_LENGTH_MAX];
	(*cinfo->err->format_message)(cinfo, buf);
	snprintf(e->msg, IMGJPEG_MSG, "%s", buf);
	longjmp(e->jump, 1);
}

// Warnings (such as a corrupt-data notice) go nowhere: stderr belongs to the product's one-line errors.
static void imgjpeg_silent(j_common_ptr cinfo, int level) { (void)cinfo; (void)level; }

static struct jpeg_error_mgr *imgjpeg_errors(imgjpeg_error *e, char *msg) {
	jpeg_std_error(&e->pub);
	e->pub.error_exit = imgjpeg_error_exit;
	e->pub.emit_message = imgjpeg_silent;
	e->msg = msg;
	return &e->pub;
}

int imgjpeg_decode_bgr(const unsigned char *data, size_t n, unsigned char *out, size_t out_len, int *width,
                       int *height, char *msg) {
	struct jpeg_decompress_struct cinfo;
	imgjpeg_error err;
	cinfo.err = imgjpeg_errors(&err, msg);
	if (setjmp(err.jump)) {
		jpeg_destroy_decompress(&cinfo);
		return -1;
	}
	jpeg_create_decompress(&cinfo);
	jpeg_mem_src(&cinfo, data, (unsigned long)n);
	jpeg_read_header(&cinfo, TRUE);
	*width = (int)cinfo.image_width;
	*height = (int)cinfo.image_height;
	if (out == NULL || out_len < (size_t)*width * (size_t)*height * 3) {
		jpeg_destroy_decompress(&cinfo);
		return 0;
	}
	// OpenCV 4.6 (grfmt_jpeg.cpp) asks for BGR straight from libjpeg-turbo and leaves every other setting
	// (ISLOW DCT, fancy upsampling) at its default; four components (CMYK, or YCCK that libjpeg turns into CMYK)
	// it reads as CMYK and converts row by row.
	int cmyk = cinfo.num_components == 4;
	cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_EXT_BGR;
	cinfo.out_color_components = cmyk ? 4 : 3;
	jpeg_start_decompress(&cinfo);
	JSAMPARRAY buf = NULL;
	if (cmyk) { // libjpeg's own pool: freed by jpeg_destroy_decompress, also after an error
		buf = (*cinfo.mem->alloc_sarray)((j_common_ptr)&cinfo, JPOOL_IMAGE, cinfo.output_width * 4, 1);
	}
	while (cinfo.output_scanline < cinfo.output_height) {
		JSAMPROW row = out + (size_t)cinfo.output_scanline * (size_t)*width * 3;
		if (!cmyk) {
			jpeg_read_scanlines(&cinfo, &row, 1);
			continue;
		}
		jpeg_read_scanlines(&cinfo, buf, 1);
		// icvCvt_CMYK2BGR_8u_C4C3R: Adobe's inverted CMYK, as Photoshop writes it.
		const JSAMPLE *p = buf[0];
		for (int x = 0; x < *width; x++, p += 4, row += 3) {
			int k = p[3];
			row[2] = (JSAMPLE)(k - ((255 - p[0]) * k >> 8));
			row[1] = (JSAMPLE)(k - ((255 - p[1]) * k >> 8));
			row[0] = (JSAMPLE)(k - ((255 - p[2]) * k >> 8));
		}
	}
	jpeg_finish_decompress(&cinfo);
	jpeg_destroy_decompress(&cinfo);
	return 1;
}

int imgjpeg_encode_bgr(const unsigned char *bgr, int width, int height, int stride, int quality, int luma_h,
                       int luma_v, unsigned char **out, unsigned long *out_len, char *msg) {
	struct jpeg_compress_struct cinfo;
	imgjpeg_error err;
	*out = NULL;
	*out_len = 0;
	cinfo.err = imgjpeg_errors(&err, msg);
	if (setjmp(err.jump)) {
		jpeg_destroy_compress(&cinfo);
		free(*out);
		*out = NULL;
		return -1;
	}
	jpeg_create_compress(&cinfo);
	jpeg_mem_dest(&cinfo, out, out_len);
	cinfo.image_width = (JDIMENSION)width;
	cinfo.image_height = (JDIMENSION)height;
	cinfo.input_components = 3;
	cinfo.in_color_space = JCS_EXT_BGR;
	// OpenCV's JpegEncoder::write: defaults, no restart interval, quality limited to baseline tables. Luma
	// sampling 2x2 is libjpeg's default (4:2:0, all OpenCV 4.6 writes); 1x1 makes it 4:4:4.
	jpeg_set_defaults(&cinfo);
	cinfo.restart_interval = 0;
	jpeg_set_quality(&cinfo, quality, TRUE);
	cinfo.comp_info[0].h_samp_factor = luma_h;
	cinfo.comp_info[0].v_samp_factor = luma_v;
	cinfo.comp_info[1].h_samp_factor = 1;
	cinfo.comp_info[1].v_samp_factor = 1;
	cinfo.comp_info[2].h_samp_factor = 1;
	cinfo.comp_info[2].v_samp_factor = 1;
	jpeg_start_compress(&cinfo, TRUE);
	while (cinfo.next_scanline < cinfo.image_height) {
		JSAMPROW row = (JSAMPROW)(bgr + (size_t)cinfo.next_scanline * (size_t)stride);
		jpeg_write_scanlines(&cinfo, &row, 1);
	}
	jpeg_finish_compress(&cinfo);
	jpeg_destroy_compress(&cinfo);
	return 0;
}
