#include "cvref.h"

#include <cstdio> // before jpeglib.h, which uses FILE
#include <cstdlib>
#include <cstring>
#include <vector>

extern "C" {
#include <jpeglib.h>
}

#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>

static unsigned char *copy_out(const cv::Mat &m) {
	cv::Mat c = m.isContinuous() ? m : m.clone();
	size_t n = c.total() * c.elemSize();
	unsigned char *out = (unsigned char *)malloc(n ? n : 1);
	if (out != NULL) memcpy(out, c.data, n);
	return out;
}

unsigned char *cvref_read(const char *path, int *rows, int *cols) {
	cv::Mat m = cv::imread(path, cv::IMREAD_COLOR);
	if (m.empty()) return NULL;
	*rows = m.rows;
	*cols = m.cols;
	return copy_out(m);
}

unsigned char *cvref_decode(const unsigned char *buf, size_t n, int *rows, int *cols, int *channels) {
	cv::Mat in(1, (int)n, CV_8UC1, (void *)buf);
	cv::Mat m = cv::imdecode(in, cv::IMREAD_UNCHANGED);
	if (m.empty() || m.depth() != CV_8U) return NULL;
	*rows = m.rows;
	*cols = m.cols;
	*channels = m.channels();
	return copy_out(m);
}

unsigned char *cvref_encode(const char *ext, const unsigned char *pix, int rows, int cols, int channels,
                            const int *params, int nparams, size_t *n) {
	cv::Mat m(rows, cols, CV_8UC(channels), (void *)pix);
	std::vector<uchar> out;
	std::vector<int> p(params, params + nparams);
	if (!cv::imencode(ext, m, out, p)) return NULL;
	unsigned char *buf = (unsigned char *)malloc(out.size() ? out.size() : 1);
	if (buf != NULL) memcpy(buf, out.data(), out.size());
	*n = out.size();
	return buf;
}

unsigned char *cvref_encode_cmyk(const unsigned char *cmyk, int width, int height, int ycck, int quality, size_t *n) {
	struct jpeg_compress_struct cinfo;
	struct jpeg_error_mgr err;
	cinfo.err = jpeg_std_error(&err); // exits the test binary on an error: the inputs are the tests' own
	jpeg_create_compress(&cinfo);
	unsigned char *out = NULL;
	unsigned long len = 0;
	jpeg_mem_dest(&cinfo, &out, &len);
	cinfo.image_width = (JDIMENSION)width;
	cinfo.image_height = (JDIMENSION)height;
	cinfo.input_components = 4;
	cinfo.in_color_space = JCS_CMYK;
	jpeg_set_defaults(&cinfo); // writes the Adobe marker, as Photoshop's CMYK JPEGs carry
	jpeg_set_colorspace(&cinfo, ycck ? JCS_YCCK : JCS_CMYK);
	jpeg_set_quality(&cinfo, quality, TRUE);
	jpeg_start_compress(&cinfo, TRUE);
	while (cinfo.next_scanline < cinfo.image_height) {
		JSAMPROW row = (JSAMPROW)(cmyk + (size_t)cinfo.next_scanline * (size_t)width * 4);
		jpeg_write_scanlines(&cinfo, &row, 1);
	}
	jpeg_finish_compress(&cinfo);
	jpeg_destroy_compress(&cinfo);
	*n = len;
	return out;
}
